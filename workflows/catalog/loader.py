"""``load_catalog``: reads a folder (or one file) of YAML with the line of every node, and
raises one ``CatalogError`` listing every problem with file, path and line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from workflows.catalog.checks import DEFER_ROUTE_CHECKS, Parts, render_path
from workflows.catalog.cross_checks import cross_check
from workflows.catalog.lookups import Catalog
from workflows.catalog.models import Agency, Procedure, Step, Supervisor
from workflows.catalog.problems import CatalogError, CatalogProblem, Source, Where

#: the sample catalog shipped with the package (a province like Lào Cai)
DEFAULT_CATALOG_DIR: Final = Path(__file__).with_name("data")

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CatalogLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe YAML with YAML 1.2-style plain scalars.

    ``on``/``off``/``yes``/``no`` stay strings (``on:`` is a step field), ``15:00`` stays a
    string rather than base-60 ``900``, and decimals become exact ``Decimal`` values.
    """


_REPLACED_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_CatalogLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    return Decimal(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


_CatalogLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)

_TOP_LEVEL_KEYS: Final = ("agencies", "procedures")
_NESTED: Final[Mapping[tuple[type[BaseModel], str], type[BaseModel]]] = {
    (Agency, "supervisors"): Supervisor,
    (Procedure, "steps"): Step,
}


def _node_lines(
    node: yaml.Node,
    parts: Parts,
    lines: dict[Parts, int],
    duplicates: list[tuple[Parts, int, int]],
) -> None:
    lines.setdefault(parts, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            key_parts = (*parts, key)
            if key_parts in lines:
                duplicates.append((key_parts, lines[key_parts], key_node.start_mark.line + 1))
                continue
            lines[key_parts] = key_node.start_mark.line + 1
            _node_lines(value_node, key_parts, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, (*parts, i), lines, duplicates)


_UNREADABLE: Final = object()


def _parse(path: Path, name: str) -> tuple[Any, Source, list[CatalogProblem]]:
    """The file's data (``_UNREADABLE`` if it cannot be read), its line map and problems."""

    def unreadable(
        message: str, mark: yaml.Mark | None = None
    ) -> tuple[Any, Source, list[CatalogProblem]]:
        line = None if mark is None else mark.line + 1
        column = None if mark is None else mark.column + 1
        return _UNREADABLE, Source(name, {}), [CatalogProblem(name, "", message, line, column)]

    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return unreadable(f"not valid UTF-8 at byte {exc.start}")
    except OSError as exc:
        return unreadable(f"cannot read: {exc.strerror}")
    loader = _CatalogLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return unreadable("file is empty: expected 'agencies' and/or 'procedures'")
        lines: dict[Parts, int] = {}
        duplicates: list[tuple[Parts, int, int]] = []
        _node_lines(node, (), lines, duplicates)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        what = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark is not None:
            what += f", {exc.context} that starts on line {exc.context_mark.line + 1}"
        return unreadable(f"YAML syntax error: {what}", exc.problem_mark or exc.context_mark)
    except yaml.YAMLError as exc:
        return unreadable(f"YAML error: {exc}")
    finally:
        loader.dispose()
    source = Source(name, MappingProxyType(lines))
    problems = [
        CatalogProblem(name, render_path(parts), f"duplicate key (first on line {first})", line)
        for parts, first, line in duplicates
    ]
    return data, source, problems


def _pydantic_problems(
    exc: ValidationError, where: Where, model: type[BaseModel]
) -> list[CatalogProblem]:
    problems: list[CatalogProblem] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            owner = model
            for part in loc[:-1]:
                if isinstance(part, str):
                    owner = _NESTED.get((owner, part), owner)
            message = f"unknown key (allowed: {', '.join(owner.model_fields)})"
        elif kind == "missing":
            message = "required key missing"
        elif kind == "value_error":
            message = str(error["ctx"]["error"])
        else:
            message = str(error["msg"])
        problems.append(where.problem(message, *loc))
    return problems


def _catalog_files(root: Path) -> tuple[Path, list[Path]]:
    """(the folder names are shown relative to, the files to read)."""
    if root.is_dir():
        files = sorted(f for f in root.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
        return root, files
    return root.parent, [root] if root.exists() else []


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Read and check a catalog: a folder of *.yaml files (merged), or one file.

    ``None`` reads the sample catalog packaged in ``workflows/catalog/data/``. Raises
    ``CatalogError`` listing every problem in every file.
    """
    root = DEFAULT_CATALOG_DIR if path is None else Path(path)
    folder, files = _catalog_files(root)
    if not files:
        what = "no such file or folder" if not root.exists() else "no *.yaml files in the folder"
        raise CatalogError([CatalogProblem(str(root), "", what)])

    problems: list[CatalogProblem] = []
    agencies: list[tuple[Agency, Where]] = []
    procedures: list[tuple[Procedure, Where]] = []
    invalid_agencies: list[str] = []
    context = {DEFER_ROUTE_CHECKS: True}
    for file in files:
        name = file.relative_to(folder.parent).as_posix()
        data, source, file_problems = _parse(file, name)
        problems.extend(file_problems)
        if data is _UNREADABLE:
            continue
        if not isinstance(data, dict):
            kind = "nothing" if data is None else f"a {type(data).__name__}"
            problems.append(
                source.problem(
                    (), f"expected a mapping with 'agencies' and/or 'procedures', got {kind}"
                )
            )
            continue
        for key in data:
            if key not in _TOP_LEVEL_KEYS:
                problems.append(
                    source.problem(
                        (str(key),), f"unknown key (allowed: {', '.join(_TOP_LEVEL_KEYS)})"
                    )
                )
        for key, model, out in (
            ("agencies", Agency, agencies),
            ("procedures", Procedure, procedures),
        ):
            items = data.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                problems.append(
                    source.problem((key,), f"expected a list, got {type(items).__name__}")
                )
                continue
            for i, item in enumerate(items):
                where = Where(source, (key, i))
                try:
                    out.append((model.model_validate(item, context=context), where))  # type: ignore[arg-type]
                except ValidationError as exc:
                    problems.extend(_pydantic_problems(exc, where, model))
                    if model is Agency and isinstance(item, dict):
                        invalid_agencies.append(str(item.get("code")))

    problems.extend(cross_check(agencies, procedures, invalid_agencies))
    if problems:
        order = {p: n for n, p in enumerate(problems)}
        problems.sort(key=lambda p: (p.file, p.line or 0, order[p]))
        raise CatalogError(problems)
    return Catalog._checked((a for a, _ in agencies), (p for p, _ in procedures))

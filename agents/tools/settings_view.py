"""Settings a person can find and fix: one line per bad variable, unknown ``DOSSIERFLOW_*``
names with the closest real one, and ``dossierflow settings`` (every setting, its
variable, default, current value with secrets masked, and what it is for)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import SecretStr, ValidationError

from agents.settings import Settings

PREFIX = "DOSSIERFLOW_"

#: ``scripts/kafka-local``'s own variables (its header lists them): not the engine's, known.
KAFKA_LOCAL_VARIABLES = frozenset(
    PREFIX + name
    for name in (
        "KAFKA_CACHE",
        "KAFKA_CONTROLLER_PORT",
        "KAFKA_DATA_DIR",
        "KAFKA_INSECURE",
        "KAFKA_JAVA_OPTS",
        "KAFKA_PORT",
        "KAFKA_READY_TIMEOUT",
        "KAFKA_STOP_TIMEOUT",
        "PYTHON",
    )
)


def variable(field: str) -> str:
    """The environment variable of a settings field: ``web_port`` -> ``DOSSIERFLOW_WEB_PORT``."""
    return PREFIX + field.upper()


def _expected(error: Mapping[str, Any]) -> str:
    # pydantic's own message, minus the prefix that names no variable
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def problems(exc: ValidationError, environ: Mapping[str, str]) -> list[str]:
    """One line per invalid setting: the variable, the value it has, what is expected."""
    lines = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        if not loc:  # a rule across several settings (a model validator)
            lines.append(f"settings: {_expected(error)}")
            continue
        field = str(loc[0])
        name = variable(field)
        value = environ.get(name)
        if _secret(field):
            shown = "(hidden)"
        elif value is not None:
            shown = repr(value)
        else:
            shown = f"{error.get('input')!r} (given on the command line)"
        lines.append(f"{name}={shown}: {_expected(error)}")
    return lines


def _secret(field: str) -> bool:
    info = Settings.model_fields.get(field)
    return info is not None and info.annotation is SecretStr


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning per ``DOSSIERFLOW_*`` variable that is no setting, with the closest one."""
    known = {variable(name) for name in Settings.model_fields} | KAFKA_LOCAL_VARIABLES
    lines = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]}?" if close else " (`dossierflow settings` lists them)"
        lines.append(f"warning: {name} is not a dossierflow setting and is ignored{hint}")
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "(set, hidden)" if value.get_secret_value() else "(empty)"
    if value is None:
        return "-"
    text = str(value)
    return text if text else '""'


def rows(settings: Settings | None) -> Iterator[tuple[str, str, str, str]]:
    """(variable, default, current value, description) for every setting, in model order."""
    for name, field in Settings.model_fields.items():
        default = _shown(field.get_default(call_default_factory=True))
        current = _shown(getattr(settings, name)) if settings is not None else ""
        yield variable(name), default, current, (field.description or "").replace("|", "/")


def render(settings: Settings | None) -> str:
    """The table ``dossierflow settings`` prints (Markdown, so docs/settings.md is the same)."""
    head = "| variable | default | current | what it is for |\n|---|---|---|---|\n"
    if settings is None:
        head = "| variable | default | what it is for |\n|---|---|---|\n"
        body = "".join(f"| `{v}` | `{d}` | {w} |\n" for v, d, _, w in rows(None))
        return head + body
    return head + "".join(f"| `{v}` | `{d}` | `{c}` | {w} |\n" for v, d, c, w in rows(settings))

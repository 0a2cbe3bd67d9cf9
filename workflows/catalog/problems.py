"""What is wrong with a catalog: located problems, the error listing them, lookup errors.

``Source``/``Where`` place a problem at a file, a path inside it and a line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from workflows.catalog.checks import Parts, render_path


def listing(what: str, problems: Sequence[object]) -> str:
    """``what has N problems:`` and one indented line a problem (an error's message)."""
    count = len(problems)
    lines = "\n".join(f"  {p}" for p in problems)
    return f"{what} has {count} problem{'s' if count != 1 else ''}:\n{lines}"


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong in the catalog: file, path inside the file, what, and the line."""

    file: str
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        if self.line is None:
            at = ""
        elif self.column is None:
            at = f" (line {self.line})"
        else:
            at = f" (line {self.line}, column {self.column})"
        return f"{where}{self.message}{at}"


class CatalogError(Exception):
    """The catalog cannot be used; ``problems`` lists every reason found, not just the first."""

    def __init__(self, problems: Iterable[CatalogProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(listing("catalog", self.problems))


class UnknownProcedureError(KeyError):
    """No such procedure code, or no version of it in force on the date asked."""

    def __init__(self, code: str, at: date | None = None, earliest: date | None = None) -> None:
        self.code = code
        self.at = at
        if at is None or earliest is None:
            message = f"unknown procedure {code!r}"
        else:
            message = (
                f"procedure {code!r} has no version in force on {at.isoformat()} "
                f"(the earliest is effective from {earliest.isoformat()})"
            )
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownAgencyError(KeyError):
    """No agency with that code in the catalog."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown agency {code!r}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Source:
    """One catalog file as shown to the operator, with the line of every node in it."""

    name: str
    lines: Mapping[Parts, int]

    def problem(self, parts: Parts, message: str) -> CatalogProblem:
        line = None
        for end in range(len(parts), -1, -1):
            line = self.lines.get(parts[:end])
            if line is not None:
                break
        return CatalogProblem(self.name, render_path(parts), message, line)


@dataclass(frozen=True)
class Where:
    source: Source
    parts: Parts

    def problem(self, message: str, *more: str | int) -> CatalogProblem:
        return self.source.problem((*self.parts, *more), message)

    def __str__(self) -> str:
        return f"{self.source.name}: {render_path(self.parts)}"

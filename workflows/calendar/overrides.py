"""Calendar overrides: the days off and make-up working days a deployment adds to the
public holidays, read from YAML with the file and line of every problem."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from workflows.calendar.hours import CalendarOverridesError

# --------------------------------------------------------------------------- overrides


@dataclass(frozen=True)
class CalendarOverrides:
    """Local corrections to the national calendar.

    ``days_off`` removes working days (a province's own day off, or a national
    swap the ``holidays`` package does not know yet); ``working_days`` adds them
    (a make-up Saturday). A date may not be in both. ``reasons`` keeps each
    entry's justification for audit; it does not take part in equality.
    """

    days_off: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    reasons: Mapping[date, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "days_off", _frozen_dates(self.days_off, "days_off"))
        object.__setattr__(self, "working_days", _frozen_dates(self.working_days, "working_days"))
        object.__setattr__(self, "reasons", MappingProxyType(dict(self.reasons)))
        both = self.days_off & self.working_days
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"calendar overrides: {listed} in both days_off and working_days")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CalendarOverrides:
        """Read an overrides YAML file.

        Format (both keys optional, both lists may be empty)::

            days_off:
              - {date: 2027-02-11, reason: "Decision 123/QĐ-UBND: provincial day off"}
            working_days:
              - {date: 2027-02-20, reason: "make-up Saturday for 2027-02-11"}

        Errors name the file, the line and the entry (``days_off[2]``).
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CalendarOverridesError(
                f"{file}: cannot read calendar overrides: {exc.strerror or exc}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise CalendarOverridesError(f"{file}: not UTF-8 text: {exc}") from exc
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            raise CalendarOverridesError(f"{file}: not valid YAML: {exc}") from exc
        return _parse_overrides(file, root)


def _frozen_dates(values: Iterable[date], name: str) -> frozenset[date]:
    result = frozenset(values)
    for value in result:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"calendar overrides: {name} holds {value!r}; expected dates")
    return result


_OVERRIDE_KEYS = ("days_off", "working_days")
_ENTRY_KEYS = ("date", "reason")


def _where(file: Path, node: yaml.Node) -> str:
    return f"{file}:{node.start_mark.line + 1}"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _parse_overrides(file: Path, root: yaml.Node | None) -> CalendarOverrides:
    if root is None or _is_null(root):
        return CalendarOverrides()
    if not isinstance(root, yaml.MappingNode):
        raise CalendarOverridesError(
            f"{_where(file, root)}: expected a mapping with keys {', '.join(_OVERRIDE_KEYS)}"
        )
    found: dict[str, list[tuple[date, str]]] = {key: [] for key in _OVERRIDE_KEYS}
    where_seen: dict[date, str] = {}
    reasons: dict[date, str] = {}
    for key_node, value_node in root.value:
        key = key_node.value
        if key not in found:
            raise CalendarOverridesError(
                f"{_where(file, key_node)}: unknown key {key!r}; "
                f"expected {' or '.join(_OVERRIDE_KEYS)}"
            )
        if _is_null(value_node):
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            raise CalendarOverridesError(
                f"{_where(file, value_node)}: {key} must be a list of "
                "{date: YYYY-MM-DD, reason: ...} entries"
            )
        for index, entry in enumerate(value_node.value):
            label = f"{_where(file, entry)}: {key}[{index}]"
            day, reason = _parse_entry(label, entry)
            if day in where_seen:
                raise CalendarOverridesError(
                    f"{label}: {day.isoformat()} is already listed as {where_seen[day]}"
                )
            where_seen[day] = f"{key}[{index}]"
            reasons[day] = reason
            found[key].append((day, reason))
    return CalendarOverrides(
        days_off=frozenset(day for day, _ in found["days_off"]),
        working_days=frozenset(day for day, _ in found["working_days"]),
        reasons=reasons,
    )


def _parse_entry(label: str, entry: yaml.Node) -> tuple[date, str]:
    if not isinstance(entry, yaml.MappingNode):
        raise CalendarOverridesError(f"{label}: expected {{date: YYYY-MM-DD, reason: ...}}")
    fields: dict[str, Any] = {}
    for key_node, value_node in entry.value:
        if key_node.value not in _ENTRY_KEYS:
            raise CalendarOverridesError(
                f"{label}: unknown field {key_node.value!r}; expected date and reason"
            )
        if not isinstance(value_node, yaml.ScalarNode) or _is_null(value_node):
            raise CalendarOverridesError(f"{label}: {key_node.value} must be a plain value")
        fields[key_node.value] = value_node.value
    missing = [name for name in _ENTRY_KEYS if not str(fields.get(name, "")).strip()]
    if missing:
        raise CalendarOverridesError(
            f"{label}: missing {' and '.join(missing)} (every override needs a date and "
            "the decision that justifies it)"
        )
    try:
        day = date.fromisoformat(str(fields["date"]).strip())
    except ValueError as exc:
        raise CalendarOverridesError(
            f"{label}: date {fields['date']!r} is not YYYY-MM-DD ({exc})"
        ) from exc
    return day, str(fields["reason"]).strip()

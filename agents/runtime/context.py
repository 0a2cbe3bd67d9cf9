"""Build the domain context (catalog, calendar, policy) from settings."""

from __future__ import annotations

from agents.runtime.limits import state_limits
from agents.settings import Settings
from workflows.calendar import CalendarOverrides, OfficeHours, WorkingCalendar
from workflows.catalog import load_catalog
from workflows.routing import RoutingContext


def build_calendar(settings: Settings) -> WorkingCalendar:
    overrides = (
        CalendarOverrides.load(settings.calendar_overrides)
        if settings.calendar_overrides is not None
        else None
    )
    return WorkingCalendar(OfficeHours.parse(settings.office_hours), overrides)


def build_context(settings: Settings) -> RoutingContext:
    return RoutingContext(
        catalog=load_catalog(settings.catalog_path),
        calendar=build_calendar(settings),
        limits=state_limits(settings),
    )

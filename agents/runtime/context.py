"""Build the domain context (catalog, calendar, policy) and the publisher registry from settings."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from agents.runtime.limits import state_limits
from agents.runtime.senders import SenderCheck
from agents.settings import Settings
from workflows.calendar import CalendarOverrides, OfficeHours, WorkingCalendar
from workflows.catalog import load_catalog
from workflows.publishers import PublisherRegistry, parse
from workflows.routing import RoutingContext, province_rules

log = logging.getLogger(__name__)


def build_calendar(settings: Settings) -> WorkingCalendar:
    overrides = (
        CalendarOverrides.load(settings.calendar_overrides)
        if settings.calendar_overrides is not None
        else None
    )
    return WorkingCalendar(OfficeHours.parse(settings.office_hours), overrides)


def build_context(settings: Settings) -> RoutingContext:
    """The worker's routing context, with the province's authorization rules.

    An event dated in the future is judged against the broker's clock only with the real
    clock: under a simulated clock (demo, tests) events carry simulated dates.
    """
    catalog = load_catalog(settings.catalog_path)
    calendar = build_calendar(settings)
    tolerance = (
        timedelta(seconds=settings.clock_tolerance_seconds) if settings.clock == "real" else None
    )
    return RoutingContext(
        catalog=catalog,
        calendar=calendar,
        limits=state_limits(settings),
        authorize=province_rules(catalog, tolerance=tolerance, tz=calendar.tz),
    )


def load_publishers(path: Path) -> PublisherRegistry:
    """The registry in ``path``; raises ``PublisherRegistryError`` (file, line, what)."""
    return parse(path.read_text(encoding="utf-8"), str(path))


def build_senders(settings: Settings) -> SenderCheck:
    """How the router authenticates records: the registry, and whether signing is required."""
    if settings.publishers_path is not None:
        registry = load_publishers(settings.publishers_path)
        log.info(
            "publisher registry %s: %d publishers",
            settings.publishers_path,
            len(registry.publishers),
        )
    else:
        registry = PublisherRegistry()
        if settings.require_signatures:
            log.error(
                "no publisher registry (DOSSIERFLOW_PUBLISHERS_PATH): every event will be "
                "dead-lettered as unauthenticated"
            )
    if not settings.require_signatures:
        log.warning(
            "DOSSIERFLOW_REQUIRE_SIGNATURES=false: unsigned events are applied as sent by "
            "anyone; never run a province's engine like this"
        )
    return SenderCheck(registry, settings.require_signatures)

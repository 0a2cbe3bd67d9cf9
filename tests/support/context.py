"""The sample catalog, working calendars and routing contexts, each built once a session."""

from __future__ import annotations

from functools import cache

from agents.runtime.context import build_context
from agents.settings import Settings
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog, load_catalog
from workflows.routing import RoutingContext


@cache
def sample_catalog() -> Catalog:
    """The catalog shipped with the engine (``workflows/catalog/``)."""
    return load_catalog()


@cache
def working_calendar(years: range | None = None) -> WorkingCalendar:
    """The default calendar, or one that knows the holidays of ``years`` only."""
    return WorkingCalendar() if years is None else WorkingCalendar(years=years)


@cache
def routing_context(years: range | None = None) -> RoutingContext:
    """The sample catalog over ``working_calendar(years)``, with the default limits."""
    return RoutingContext(sample_catalog(), working_calendar(years))


@cache
def engine_context() -> RoutingContext:
    """What a worker started with the defaults routes by.

    ``worker_env`` drops every DOSSIERFLOW_* variable, so the workers the integration tests
    start run with the sample catalog and the default office hours and alert policy;
    ``model_construct`` skips the environment here too.
    """
    return build_context(Settings.model_construct())


def expect_procedure(
    catalog: Catalog, code: str, unit: str, committed: str, statutory: str, steps: str
) -> None:
    """The sample procedure is still the one a test's expectations were worked out for.

    ``steps`` reads ``"receive@AGENCY:1 review@AGENCY:2 ..."`` in declaration order.
    """
    proc = catalog.procedure(code)
    assert proc is not None, f"{code} left the sample catalog: rework this test by hand"
    actual = " ".join(f"{s.id}@{s.agency}:{s.allotment}" for s in proc.steps)
    assert (proc.time_unit, str(proc.committed_time), str(proc.statutory_time), actual) == (
        unit,
        committed,
        statutory,
        steps,
    ), f"{code} changed in the sample catalog: rework the hand-computed expectations"

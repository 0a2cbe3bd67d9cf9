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


#: The sample procedures as the hand-computed expectations of the routing and alert tests
#: were worked out for: code -> (time unit, committed, statutory, "step@AGENCY:allotment ...").
WORKED_OUT: dict[str, tuple[str, str, str, str]] = {
    "2.001610": (
        "working_days",
        "3",
        "3",
        "receive@MOTCUA:0.5 review@STC:1.5 issue@STC:0.5 return@MOTCUA:0.5",
    ),
    "SAMPLE-XB-01": (
        "working_days",
        "11",
        "15",
        "receive@MOTCUA:0.5 review@SVHTTDL:7 sign@SVHTTDL:3 return@MOTCUA:0.5",
    ),
    "1.013225": (
        "calendar_days",
        "10",
        "15",
        "receive@CAMDUONG.TTPVHCC:1 review@CAMDUONG:2 site_visit@CAMDUONG:2 "
        "appraisal_after_visit@CAMDUONG:2 appraisal@CAMDUONG:4 sign@CAMDUONG:2 "
        "return@CAMDUONG.TTPVHCC:1",
    ),
    "1.001193": (
        "working_days",
        "0",
        "0",
        "receive@BAOTHANG.TTPVHCC:0 register@BAOTHANG:0 sign@BAOTHANG:0 return@BAOTHANG.TTPVHCC:0",
    ),
    "1.012906": (
        "working_days",
        "10",
        "10",
        "receive@MOTCUA:0.5 review@SXD:6 sign@SXD:3 return@MOTCUA:0.5",
    ),
}


def expect_procedure(catalog: Catalog, code: str) -> None:
    """The sample procedure ``code`` is still the one ``WORKED_OUT`` says a test's
    expectations were worked out for."""
    unit, committed, statutory, steps = WORKED_OUT[code]
    proc = catalog.procedure(code)
    assert proc is not None, f"{code} left the sample catalog: rework this test by hand"
    actual = " ".join(f"{s.id}@{s.agency}:{s.allotment}" for s in proc.steps)
    assert (proc.time_unit, str(proc.committed_time), str(proc.statutory_time), actual) == (
        unit,
        committed,
        statutory,
        steps,
    ), f"{code} changed in the sample catalog: rework the hand-computed expectations"

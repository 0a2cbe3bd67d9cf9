"""Realistic dossier lifecycles generated from the catalog: pure and reproducible by seed.

``simulate`` (``batch``) gives a quick batch for benchmarks and tests; ``simulate_province``
(``workload``) a province over a ``run_window``: arrivals by working day (``arrivals``),
each dossier's life from the one walk (``lifecycle``) under a profile (``profile``), and
what the engine must conclude about it (``oracle.expect``). Nothing here reads the clock.
"""

from workflows.simulation.arrivals import Receipt, receipts
from workflows.simulation.batch import Generated, interleave, simulate
from workflows.simulation.oracle import Expectation, OpenSpan, expect
from workflows.simulation.profile import (
    DEFAULT_AGENCY_PACE,
    DEFAULT_HALF_DAYS,
    DEFAULT_LEVEL_PACE,
    DEFAULT_LEVEL_WEIGHTS,
    DEFAULT_PROCEDURE_WEIGHTS,
    Pace,
    Profile,
    ProvinceProfile,
)
from workflows.simulation.window import RunWindow, run_window
from workflows.simulation.workload import SimulatedDossier, Workload, simulate_province

__all__ = [
    "DEFAULT_AGENCY_PACE",
    "DEFAULT_HALF_DAYS",
    "DEFAULT_LEVEL_PACE",
    "DEFAULT_LEVEL_WEIGHTS",
    "DEFAULT_PROCEDURE_WEIGHTS",
    "Expectation",
    "Generated",
    "OpenSpan",
    "Pace",
    "Profile",
    "ProvinceProfile",
    "Receipt",
    "RunWindow",
    "SimulatedDossier",
    "Workload",
    "expect",
    "interleave",
    "receipts",
    "run_window",
    "simulate",
    "simulate_province",
]

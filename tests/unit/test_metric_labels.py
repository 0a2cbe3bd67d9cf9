"""Metric label values come from the catalog: random agency codes make no new series."""

from __future__ import annotations

import random
import string

from prometheus_client import CollectorRegistry, generate_latest

from agents.runtime.telemetry import OTHER_AGENCY, AgencyLabels
from monitoring.metrics import create_metrics
from workflows.catalog import load_catalog


def test_unknown_agency_codes_share_one_label_value() -> None:
    catalog = load_catalog()
    label = AgencyLabels(catalog.agencies)
    known = next(iter(catalog.agencies))
    assert label(known) == known
    assert label("-") == "-"
    rng = random.Random(12)
    floods = {"".join(rng.choices(string.ascii_uppercase, k=64)) for _ in range(2000)}
    assert {label(code) for code in floods} == {OTHER_AGENCY}


def test_a_flood_of_random_agencies_does_not_grow_the_metrics() -> None:
    registry = CollectorRegistry()
    metrics = create_metrics(registry)
    label = AgencyLabels(load_catalog().agencies)
    metrics.events_consumed.labels(type="dossier.received", agency=label("-")).inc()
    before = len(generate_latest(registry))
    rng = random.Random(7)
    for _ in range(2000):
        code = "".join(rng.choices(string.ascii_uppercase, k=64))
        metrics.events_consumed.labels(type="dossier.received", agency=label(code)).inc()
    grown = len(generate_latest(registry)) - before
    assert grown < 300  # one more series ("other"), not 2,000

"""ACL bindings per role: each role gets exactly what its job needs, for one prefix and app id."""

from __future__ import annotations

import pytest

from agents.access.acls import Binding, Pattern, Resource, Scope, all_bindings, bindings_for

SCOPE = Scope(topic_prefix="t-1a2b3c4d-", app_id="dossierflow")
P = "t-1a2b3c4d-"


def ops(bindings: list[Binding], resource: Resource, name: str, pattern: Pattern) -> set[str]:
    return {
        b.operation
        for b in bindings
        if (b.resource, b.name, b.pattern) == (resource, name, pattern)
    }


def test_publisher_may_only_write_and_describe_the_events_topic() -> None:
    found = bindings_for("publisher", "pub-province", SCOPE)
    assert {(b.resource, b.name, b.pattern, b.operation) for b in found} == {
        (Resource.TOPIC, f"{P}dossier-events", Pattern.LITERAL, "WRITE"),
        (Resource.TOPIC, f"{P}dossier-events", Pattern.LITERAL, "DESCRIBE"),
    }
    assert {b.principal for b in found} == {"User:pub-province"}


@pytest.mark.parametrize(
    ("topic", "pattern", "expected"),
    [
        # agencies' events: consumed, never written by the engine
        (f"{P}dossier-events", Pattern.LITERAL, {"READ", "DESCRIBE", "CREATE"}),
        (f"{P}dossier-events-dlq", Pattern.LITERAL, {"READ", "WRITE", "DESCRIBE", "CREATE"}),
        # applied-but-flagged events: the engine reports them
        (f"{P}dossier-events-anomalies", Pattern.LITERAL, {"READ", "WRITE", "DESCRIBE", "CREATE"}),
        (f"{P}dossier-deadline-ticks", Pattern.LITERAL, {"READ", "WRITE", "DESCRIBE", "CREATE"}),
        (f"{P}dossier-alerts-failed", Pattern.LITERAL, {"READ", "WRITE", "DESCRIBE", "CREATE"}),
        # the access log: appended to, never read back by the engine
        (f"{P}dossier-audit", Pattern.LITERAL, {"WRITE", "DESCRIBE", "CREATE"}),
        # every table changelog of this deployment: dossierflow-t-…-dossier-events-open-changelog
        (f"dossierflow-{P}", Pattern.PREFIXED, {"READ", "WRITE", "DESCRIBE", "CREATE"}),
        # faust's leader topic carries the app id only
        (
            "dossierflow-__assignor-__leader",
            Pattern.LITERAL,
            {"READ", "WRITE", "DESCRIBE", "CREATE"},
        ),
    ],
)
def test_engine_topics(topic: str, pattern: Pattern, expected: set[str]) -> None:
    found = bindings_for("engine", "engine", SCOPE)
    assert ops(found, Resource.TOPIC, topic, pattern) == expected


def test_engine_joins_its_own_group_only_and_needs_nothing_on_the_cluster() -> None:
    found = bindings_for("engine", "engine", SCOPE)
    groups = {(b.name, b.pattern) for b in found if b.resource is Resource.GROUP}
    assert groups == {("dossierflow", Pattern.LITERAL)}
    assert not [b for b in found if b.resource is Resource.CLUSTER]


def test_reader_reads_what_tools_show_and_never_writes() -> None:
    found = bindings_for("reader", "reader", SCOPE)
    assert {b.operation for b in found} == {"READ", "DESCRIBE"}
    read = {b.name for b in found if b.resource is Resource.TOPIC and b.operation == "READ"}
    assert read == {
        f"{P}dossier-assignments",
        f"{P}dossier-alerts",
        f"{P}dossier-alerts-failed",
        f"{P}dossier-events-dlq",
        f"{P}dossier-events-anomalies",
        f"{P}dossier-audit",
        f"dossierflow-{P}dossier-events-open-changelog",
        f"dossierflow-{P}dossier-events-closed-changelog",
        f"dossierflow-{P}dossier-events-parked-changelog",
    }
    assert f"{P}dossier-events" not in read  # never the agencies' events themselves
    joined = {
        (b.name, b.pattern) for b in found if b.resource is Resource.GROUP and b.operation == "READ"
    }
    assert joined == {
        ("dossierflow-inbox-", Pattern.PREFIXED),
        ("dossierflow-tools-", Pattern.PREFIXED),
    }


def test_reader_may_see_how_far_the_router_got_and_nothing_more() -> None:
    """``publish --wait``: the engine group's committed offsets on the events topic
    (OffsetFetch: DESCRIBE on both); no READ, so no event's content and no joining."""
    found = bindings_for("reader", "reader", SCOPE)
    events = ops(found, Resource.TOPIC, f"{P}dossier-events", Pattern.LITERAL)
    group = ops(found, Resource.GROUP, "dossierflow", Pattern.LITERAL)
    assert (events, group) == ({"DESCRIBE"}, {"DESCRIBE"})


def test_no_binding_reaches_outside_the_prefix_or_app_id() -> None:
    everyone = {"engine": "e", "publisher": "p", "reader": "r"}
    for binding in all_bindings(SCOPE, everyone):
        assert binding.name.startswith((P, "dossierflow-", "dossierflow")), binding


def test_all_bindings_are_sorted_and_unique() -> None:
    everyone = {"engine": "e", "publisher": "p", "reader": "r"}
    found = all_bindings(SCOPE, everyone)
    assert found == sorted(set(found))


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role 'admin'"):
        bindings_for("admin", "admin", SCOPE)

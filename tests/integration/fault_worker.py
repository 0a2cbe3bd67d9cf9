"""A real worker whose ``on_event`` hook fails for one dossier, for the dead-letter tests.

Run as ``python tests/integration/fault_worker.py`` with the usual ``DOSSIERFLOW_*``
environment plus ``FAULT_DOSSIER=<dossier id>``: every event of that dossier makes the
hook raise ``RuntimeError`` inside the router, exactly where a bug in our own code would,
and everything else is the production app (same factory, same topics, same runner).
"""

from __future__ import annotations

import os

from agents.runtime.app import EventHook, create_app, run_worker
from agents.runtime.kafka_admin import ensure_topics
from agents.settings import Settings
from events import InboundEvent
from workflows.state import DossierState

FAULT_ENV = "FAULT_DOSSIER"


def failing_hook(dossier_id: str) -> EventHook:
    def hook(event: InboundEvent, state: DossierState | None) -> None:
        if event.dossier_id == dossier_id:
            raise RuntimeError(f"injected fault for dossier {dossier_id}")

    return hook


def main() -> None:
    # A test entry point, not the engine: its own knob comes from its own variable.
    fault = os.environ[FAULT_ENV]
    settings = Settings()
    ensure_topics(settings)
    run_worker(create_app(settings, on_event=failing_hook(fault)))


if __name__ == "__main__":
    main()

"""``python -m agents.demo worker``: ``dossierflow worker`` on the run's clock.

The one difference from ``dossierflow worker``: the accelerated clock is the run's
``AcceleratedClock`` (held), released over HTTP (``POST /demo/clock``) at the same real instant as the
demo's own, so the workers and the simulator show the same simulated time.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agents.clock import AcceleratedClock
from agents.runtime.api_auth import TokenStore
from agents.runtime.status_api import require_admin
from agents.settings import DEFAULT_API_CREDENTIALS, Settings


def main(argv: Sequence[str]) -> int:
    """``python -m agents.demo worker``: ``dossierflow worker`` on the run's clock."""
    import faust

    from agents.runtime.app import create_app, run_worker
    from agents.runtime.kafka_admin import ensure_topics

    parser = argparse.ArgumentParser(prog="python -m agents.demo worker")
    parser.add_argument("--hold-at", type=datetime.fromisoformat, required=True)
    parser.add_argument("--stop-at", type=datetime.fromisoformat, required=True)
    parser.add_argument("--loglevel", default="info")
    args = parser.parse_args(argv)
    settings = Settings()
    if settings.clock_start is None:
        raise SystemExit("DOSSIERFLOW_CLOCK_START is required")
    clock = AcceleratedClock(
        settings.clock_start,
        settings.clock_speed,
        held=True,
        hold_at=args.hold_at,
        stop_at=args.stop_at,
    )
    ensure_topics(settings)
    flow = create_app(settings, clock=clock)
    tokens = TokenStore.open(settings.api_credentials_path or DEFAULT_API_CREDENTIALS)

    @flow.app.page("/demo/clock")
    class DemoClockView(faust.web.View):
        """GET: the run's simulated time; POST {"origin": monotonic}: start it (admin)."""

        async def get(self, request: Any) -> Any:
            refused = require_admin(tokens, self, request)
            return refused or self.json(
                {"now": clock.now().isoformat(), "released": clock.released}
            )

        async def post(self, request: Any) -> Any:
            refused = require_admin(tokens, self, request)
            if refused is not None:
                return refused
            body = await request.json()
            clock.release(float(body["origin"]))
            return self.json({"now": clock.now().isoformat(), "origin": clock.origin})

    run_worker(flow, loglevel=args.loglevel)
    return 0

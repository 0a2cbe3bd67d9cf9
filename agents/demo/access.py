"""The demo's status-API principals, in its output folder: an admin token for its own clock
release, and one for the example dossier's receiving desk; and the lines that say how an
agency and a citizen look a dossier up."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from agents.runtime.api_auth import issue
from agents.runtime.status_api import LOOKUP_HEADER
from agents.settings import Settings
from workflows.simulation.lifecycle import simulated_lookup_code

ADMIN_NAME = "demo-admin"
DESK_NAME = "demo-desk"


@dataclass(frozen=True)
class DemoAccess:
    path: Path
    admin_token: str

    @property
    def admin_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


def demo_access(folder: Path) -> DemoAccess:
    """A fresh admin token in ``folder/api-tokens.json`` (the workers' credentials file)."""
    path = folder / "api-tokens.json"
    return DemoAccess(path, issue(path, ADMIN_NAME, "admin", (), replace=True))


def how_to_look(
    access: DemoAccess, url: str, dossier_id: str, desk: str, settings: Settings
) -> list[str]:
    """Ready commands: the desk's view of the sheet (a token issued now for ``desk``), the
    citizen's public view with the receipt's lookup code, and the access log of both."""
    token = issue(access.path, DESK_NAME, "agency", (desk,), replace=True)
    code = simulated_lookup_code(dossier_id)
    return [
        f"  the desk {desk} reads the dossier's process control sheet with its token:",
        f"    curl -H 'Authorization: Bearer {token}' {url}/dossiers/{dossier_id}",
        "  the citizen looks it up with the code on the receipt (no token; never in the URL):",
        f"    curl -H '{LOOKUP_HEADER}: {code}' {url}/public/dossiers/{dossier_id}",
        "  every look is in the access log (the reader role reads it):",
        f"    {' '.join(_run_env(settings))} dossierflow audit --dossier {dossier_id}",
    ]


def _run_env(settings: Settings) -> list[str]:
    """The variables that point ``dossierflow audit`` at this run's broker and topics."""
    env = {"DOSSIERFLOW_BROKER": settings.broker, "DOSSIERFLOW_TOPIC_PREFIX": settings.topic_prefix}
    if settings.kafka_credentials is not None:
        env["DOSSIERFLOW_KAFKA_CREDENTIALS"] = str(settings.kafka_credentials)
    return [f"{k}={shlex.quote(v)}" for k, v in env.items()]

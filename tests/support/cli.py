"""Running the ``dossierflow`` CLI in a child process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from support import security
from support.harness import REPO


def run_cli(
    *args: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``dossierflow ARGS`` from the repository root with ``env``, its output captured; the
    exit code is the test's to check."""
    return subprocess.run(
        [sys.executable, "-m", "agents.tools.cli", *args],
        env=dict(env),
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_env(bootstrap: str, prefix: str, **extra: str) -> dict[str, str]:
    """This process's environment without its own ``DOSSIERFLOW_*`` settings, plus the
    broker, the topic prefix, the suite's Kafka login and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_")}
    env.update(
        DOSSIERFLOW_BROKER=bootstrap, DOSSIERFLOW_TOPIC_PREFIX=prefix, **security.env(), **extra
    )
    return env

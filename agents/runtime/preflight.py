"""What ``dossierflow worker`` checks before it touches Kafka: every problem one line (what,
where, what to do), all of them at once, instead of topics created and then a traceback."""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from agents.settings import DEFAULT_API_CREDENTIALS, Settings

if TYPE_CHECKING:
    from workflows.catalog import Catalog

#: What ``--loglevel`` takes (faust/mode hand it to ``logging``; any case).
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def preflight(settings: Settings, loglevel: str) -> list[str]:
    """The problems that would stop the worker; empty when it may start."""
    catalog, catalog_problem = _catalog(settings)
    problems = [_log_level(loglevel), catalog_problem, _calendar(settings)]
    problems += [_data_dir(settings.data_dir), _kafka_login(settings), *_ports(settings)]
    problems += [_publishers(settings), _api_credentials(settings)]
    if catalog is not None:  # which webhooks need a secret is the catalog's to say
        problems.append(_webhook_secrets(settings, catalog))
    problems += [_readable(path, var) for path, var in _ca_files(settings)]
    return [p for p in problems if p]


def start_worker(settings: Settings, loglevel: str) -> int:
    """``dossierflow worker``: the checks, then the topics and the worker; prints
    ``listening on http://HOST:PORT`` on stdout once it is ready (what /health says)."""
    problems = preflight(settings, loglevel)
    for problem in problems:
        print(f"dossierflow worker: {problem}", file=sys.stderr)
    if problems:
        return 2
    from agents.runtime.app import create_app, run_worker
    from agents.runtime.kafka_admin import ensure_topics

    settings.data_dir.mkdir(parents=True, exist_ok=True)  # checked: it can be made
    ensure_topics(settings)
    url = f"http://{settings.web_host}:{settings.web_port}"
    # Kept now: mode's worker swaps sys.stdout for a proxy into its log when it starts.
    stdout = sys.stdout
    run_worker(
        create_app(settings),
        loglevel=loglevel,
        on_ready=lambda: print(f"listening on {url}", file=stdout, flush=True),
    )
    return 0


def _log_level(loglevel: str) -> str | None:
    if loglevel.lower() in LOG_LEVELS or loglevel.lower() == "warn":
        return None
    return f"--loglevel {loglevel!r} is not a log level: use one of {', '.join(LOG_LEVELS)}"


def _catalog(settings: Settings) -> tuple[Catalog | None, str | None]:
    from workflows.catalog import CatalogError, load_catalog

    path = settings.catalog_path
    try:
        return load_catalog(path), None
    except CatalogError as exc:
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        check = f"dossierflow catalog check {path}" if path else "dossierflow catalog check"
        return None, (
            f"DOSSIERFLOW_CATALOG_PATH={path or '(the sample)'}: the catalog does not load: "
            f"{exc.problems[0]}{more}; `{check}` lists every problem"
        )


def _calendar(settings: Settings) -> str | None:
    from agents.runtime.context import build_calendar

    try:
        build_calendar(settings)
    except (ValueError, OSError) as exc:  # CalendarOverridesError is a ValueError
        return (
            f"the working calendar (DOSSIERFLOW_OFFICE_HOURS={settings.office_hours!r}, "
            f"DOSSIERFLOW_CALENDAR_OVERRIDES={settings.calendar_overrides}) does not load: "
            f"{exc}; fix the value or the file"
        )
    return None


def _data_dir(path: Path) -> str | None:
    """The data dir exists as a folder we may write, or its nearest existing ancestor is one
    (the worker then makes the missing folders)."""
    where = f"DOSSIERFLOW_DATA_DIR={path}"
    probe = path.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{where}: {probe} is a file, not a folder; set DOSSIERFLOW_DATA_DIR elsewhere"
    if not os.access(probe, os.W_OK | os.X_OK):
        made = "" if probe == path.absolute() else " to make the data folder in"
        return (
            f"{where}: {probe} is not writable{made}; fix its permissions or set "
            "DOSSIERFLOW_DATA_DIR to a folder this user may write"
        )
    return None


def _kafka_login(settings: Settings) -> str | None:
    try:
        settings.kafka_security("engine")
    except (ValueError, OSError) as exc:  # KafkaLoginError is a ValueError
        return f"the Kafka login (engine): {exc}"
    return None


def _ports(settings: Settings) -> Iterator[str]:
    wanted = [(settings.web_host, settings.web_port, "DOSSIERFLOW_WEB_PORT", "_WEB_HOST")]
    if settings.ops_port is not None:
        host = settings.ops_host or "127.0.0.1"
        wanted.append((host, settings.ops_port, "DOSSIERFLOW_OPS_PORT", "_OPS_HOST"))
    for host, port, variable, host_variable in wanted:
        problem = bind_problem(host, port)
        if problem is None:
            continue
        if problem == TAKEN:
            todo = f"stop what listens there or set {variable} (and DOSSIERFLOW{host_variable}) "
            todo += "to a free one"
        else:
            todo = f"set DOSSIERFLOW{host_variable} to an address of this machine"
        yield f"{variable}={port} on {host} cannot be used: {problem}; {todo}"


TAKEN = "the port is taken"


def bind_problem(host: str, port: int) -> str | None:
    """Why the worker's web server could not listen on ``host:port`` now; None if it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"the host does not resolve ({exc.strerror})"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            # As aiohttp does: a port in TIME_WAIT after the last run is free to take.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return TAKEN
                return exc.strerror or str(exc)
    return None


def _publishers(settings: Settings) -> str | None:
    from agents.runtime.context import load_publishers
    from workflows.publishers import PublisherRegistryError

    path = settings.publishers_path
    if path is None:
        return None
    errors = (PublisherRegistryError, OSError)
    return _first_line(lambda: load_publishers(path), "DOSSIERFLOW_PUBLISHERS_PATH", path, errors)


def _api_credentials(settings: Settings) -> str | None:
    from agents.runtime.api_auth import ApiCredentialsError, load_principals

    path = settings.api_credentials_path or DEFAULT_API_CREDENTIALS
    errors = (ApiCredentialsError, OSError)
    variable = "DOSSIERFLOW_API_CREDENTIALS_PATH"
    return _first_line(lambda: load_principals(path), variable, path, errors)


def _webhook_secrets(settings: Settings, catalog: Catalog) -> str | None:
    from agents.notify.secrets import NotifierRefused, keys_at_start

    try:
        keys_at_start(catalog, settings)
    except NotifierRefused as exc:
        return str(exc).removeprefix("dossierflow worker: ")
    return None


def _first_line(
    load: Callable[[], object],
    variable: str,
    path: Path,
    errors: tuple[type[BaseException], ...],
) -> str | None:
    try:
        load()
    except errors as exc:
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"{variable}={path}: {text.splitlines()[0]}; fix the file or the setting"
    return None


def _ca_files(settings: Settings) -> Iterator[tuple[Path, str]]:
    if settings.kafka_ca_file is not None:
        yield settings.kafka_ca_file, "DOSSIERFLOW_KAFKA_CA_FILE"
    if settings.smtp_ca_file is not None:
        yield settings.smtp_ca_file, "DOSSIERFLOW_SMTP_CA_FILE"


def _readable(path: Path, variable: str) -> str | None:
    try:
        with path.open("rb"):
            return None
    except OSError as exc:
        return f"{variable}={path}: cannot read it ({exc.strerror}); fix the path or permissions"

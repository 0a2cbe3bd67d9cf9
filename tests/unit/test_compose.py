"""The container stack, read as data: docker-compose.yml, the Dockerfile and what they mount.

No Docker engine is needed (nor available in CI): these tests catch what would only show
when someone runs ``docker compose up`` — a missing service, a mount of a file that does
not exist, a ``DOSSIERFLOW_*`` variable the worker does not read, two services that
disagree on the topics, a port Prometheus would scrape where the worker does not listen.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from agents.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PROMETHEUS_YML = REPO / "monitoring" / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = REPO / "monitoring" / "alertmanager" / "alertmanager.yml"
GRAFANA = REPO / "monitoring" / "grafana"

SERVICES = {"kafka", "topics", "worker", "prometheus", "alertmanager", "grafana", "ops-webhook"}
#: Services built from this repository's Dockerfile (the others use published images).
BUILT = {"topics", "worker"}


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment", {})
    if isinstance(env, list):  # the KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


@cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    instructions = [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]
    last_from = max(i for i, (kind, _) in enumerate(instructions) if kind == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    """A Dockerfile ENTRYPOINT/CMD: the JSON exec form, or the shell form split like sh."""
    arguments = arguments.strip()
    if arguments.startswith("["):
        words: list[str] = yaml.safe_load(arguments)  # a JSON array is YAML too
        return words
    return shlex.split(arguments)


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for kind, arguments in dockerfile():
        if kind == "ENV":
            for word in shlex.split(arguments):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def image_command(service: str) -> list[str]:
    """What a service built from the Dockerfile runs: its ENTRYPOINT plus CMD or command."""
    (entrypoint,) = [exec_form(a) for kind, a in dockerfile() if kind == "ENTRYPOINT"]
    (cmd,) = [exec_form(a) for kind, a in dockerfile() if kind == "CMD"]
    command = services()[service].get("command", cmd)
    if isinstance(command, str):
        command = shlex.split(command)
    return [*entrypoint, *command]


def settings_fields() -> set[str]:
    return {f"DOSSIERFLOW_{name.upper()}" for name in Settings.model_fields}


def bind_mounts(service: str) -> list[tuple[str, str]]:
    """(host path, container path) of a service's bind mounts (short or long syntax)."""
    named = set(compose().get("volumes") or {})
    mounts = []
    for volume in services()[service].get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if source not in named:
            mounts.append((source, target))
    return mounts


def host_ports(service: str) -> list[tuple[str, str | None, int]]:
    """(host ip, host port or None for an ephemeral one, container port)."""
    ports = []
    for port in services()[service].get("ports", []):
        if isinstance(port, dict):
            published = port.get("published")
            ports.append(
                (port.get("host_ip", ""), str(published) if published else None, port["target"])
            )
            continue
        ip, host, container = str(port).rsplit(":", 2)
        ports.append((ip, host or None, int(container)))
    return ports


# --- services and images -----------------------------------------------------------------


def test_every_service_of_the_stack_is_there() -> None:
    assert set(services()) == SERVICES


def test_built_services_use_the_repository_dockerfile_and_one_image_name() -> None:
    for name in BUILT:
        build = services()[name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert len({services()[name]["image"] for name in BUILT}) == 1


@pytest.mark.parametrize("name", sorted(SERVICES - BUILT))
def test_published_images_are_pinned(name: str) -> None:
    image = services()[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and tag and tag != "latest", f"{name}: pin a version, not {image!r}"
    assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[\w.]+)?", tag), f"{name}: {image!r}"


def test_kafka_is_the_official_image_at_the_version_kafka_local_runs() -> None:
    pom = (REPO / "scripts" / "kafka" / "pom.xml").read_text(encoding="utf-8")
    (version,) = re.findall(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert services()["kafka"]["image"] == f"apache/kafka:{version}"


def test_kafka_runs_kraft_single_node_and_advertises_a_listener_for_the_host() -> None:
    env = environment("kafka")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", key  # one broker: anything more and the broker never serves
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    # Containers reach the broker by its service name; the host by the published port,
    # which is Settings' default broker, so `dossierflow publish` on the host just works.
    assert advertised["PLAINTEXT"] == "kafka:9092"
    host_listener = advertised["HOST"]
    assert host_listener == Settings.model_fields["broker"].default
    published = {f"{ip}:{host}" for ip, host, _ in host_ports("kafka")}
    assert host_listener in published


# --- the engine's own settings -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_dossierflow_variable_is_a_setting_and_valid(name: str) -> None:
    env = {k: v for k, v in environment(name).items() if k.startswith("DOSSIERFLOW_")}
    unknown = set(env) - settings_fields()
    assert not unknown, f"{name}: the worker reads no {sorted(unknown)} (agents/settings.py)"
    # The values must be acceptable too; ${VAR:-default} interpolation becomes the default.
    # Raw strings for pydantic to coerce, so not the fields' own types.
    values: dict[str, Any] = {
        key.removeprefix("DOSSIERFLOW_").lower(): re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
        for key, value in env.items()
    }
    Settings(**values)


def test_dockerfile_env_are_settings() -> None:
    env = {k: v for k, v in dockerfile_env().items() if k.startswith("DOSSIERFLOW_")}
    assert set(env) <= settings_fields()
    values: dict[str, Any] = {k.removeprefix("DOSSIERFLOW_").lower(): v for k, v in env.items()}
    Settings(**values)


def test_topic_creator_and_workers_agree_on_topics_and_broker() -> None:
    shared = ("BROKER", "APP_ID", "TOPIC_PREFIX", "PARTITIONS", "REPLICATION_FACTOR")
    topics, worker = environment("topics"), environment("worker")
    for key in (f"DOSSIERFLOW_{s}" for s in shared):
        assert topics.get(key) == worker.get(key), key
    assert worker["DOSSIERFLOW_BROKER"] == "kafka:9092"


def test_the_image_runs_dossierflow_worker_and_the_topic_creator_dossierflow_topics() -> None:
    assert image_command("worker") == ["dossierflow", "worker"]
    assert image_command("topics") == ["dossierflow", "topics"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert scripts["dossierflow"] == "agents.tools.cli:main"


def test_workers_start_after_the_topics_exist() -> None:
    depends = services()["worker"]["depends_on"]
    assert depends["topics"]["condition"] == "service_completed_successfully"
    assert depends["kafka"]["condition"] == "service_healthy"
    assert services()["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services()["topics"].get("restart") == "no"


def test_workers_are_restarted_when_they_exit_70() -> None:
    # A worker exits 70 rather than ack what it could not write (README "Exit 70"): only a
    # restart policy brings it back. "no" (compose's default) would leave it down.
    assert services()["worker"].get("restart") in {"unless-stopped", "always", "on-failure"}
    # Long enough for SIGTERM to leave the batch unacked and the group before a SIGKILL.
    grace = services()["worker"]["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= 10


def test_the_systemd_unit_restarts_the_worker_on_failure() -> None:
    unit = (REPO / "docs" / "deploy" / "dossierflow-worker@.service").read_text(encoding="utf-8")
    lines = {
        key: value
        for key, _, value in (line.partition("=") for line in unit.splitlines())
        if key and not key.startswith("#")
    }
    assert lines["Restart"] == "on-failure"
    assert lines["StartLimitIntervalSec"] == "0"  # never gives up while the broker is away
    assert lines["ExecStart"].endswith("dossierflow worker")


# --- ports -------------------------------------------------------------------------------


def test_published_ports_are_loopback_only_and_do_not_collide() -> None:
    seen: dict[str, str] = {}
    for name in services():
        for ip, host, _ in host_ports(name):
            assert ip == "127.0.0.1", f"{name} publishes on {ip or 'every interface'}"
            if host is not None:
                assert host not in seen, f"{name} and {seen.get(host)} both publish {host}"
                seen[host] = name


def test_workers_scale_without_host_port_clashes() -> None:
    worker = services()["worker"]
    assert worker["deploy"]["replicas"] >= 1
    assert "container_name" not in worker  # a fixed name forbids a second replica
    ports = host_ports("worker")
    assert ports, "publish the web port (ephemeral) so a developer can reach a worker"
    assert all(host is None for _, host, _ in ports), "a fixed host port stops --scale"
    web_port = int(environment("worker")["DOSSIERFLOW_WEB_PORT"])
    assert {container for _, _, container in ports} == {web_port}
    assert environment("worker")["DOSSIERFLOW_WEB_HOST"] == "0.0.0.0"  # reachable by others


def test_dockerfile_exposes_the_web_port() -> None:
    exposed = {a.split("/")[0] for kind, a in dockerfile() if kind == "EXPOSE"}
    assert exposed == {dockerfile_env()["DOSSIERFLOW_WEB_PORT"]}
    # The image alone listens on loopback: the status API is not on every interface by
    # default; compose opts in on its private network and publishes on 127.0.0.1 only.
    assert dockerfile_env()["DOSSIERFLOW_WEB_HOST"] == "127.0.0.1"


# --- mounted files -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_mounted_host_path_exists_and_has_the_right_kind(name: str) -> None:
    for source, target in bind_mounts(name):
        assert source.startswith("./"), f"{name}: mount repository paths relatively: {source}"
        path = REPO / source
        assert path.exists(), f"{name} mounts {source}, which is not in the repository"
        looks_like_file = Path(target).suffix in {".yml", ".yaml", ".json"}
        assert path.is_file() == looks_like_file, f"{name}: {source} -> {target}"


def test_prometheus_scrapes_the_workers_where_they_listen_and_loads_the_rules() -> None:
    config = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))
    mounts = {target: source for source, target in bind_mounts("prometheus")}
    command = services()["prometheus"]["command"]
    config_file = next(t for t in mounts if t.endswith("prometheus.yml"))
    assert f"--config.file={config_file}" in command
    for rule_file in config["rule_files"]:
        # Prometheus reads a relative rule file from the config file's folder.
        assert mounts[str(PurePosixPath(config_file).parent / rule_file)] == (
            "./monitoring/prometheus/rules.yml"
        )
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "dossierflow-worker"]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["worker"]
    assert sd["port"] == int(environment("worker")["DOSSIERFLOW_WEB_PORT"])
    targets = [t for am in config["alerting"]["alertmanagers"] for s in am["static_configs"]
               for t in s["targets"]]  # fmt: skip
    assert targets == [f"alertmanager:{container_port('alertmanager')}"]


def test_alertmanager_notifies_the_webhook_service() -> None:
    config = yaml.safe_load(ALERTMANAGER_YML.read_text(encoding="utf-8"))
    (receiver,) = config["receivers"]
    (hook,) = receiver["webhook_configs"]
    url = urlsplit(hook["url"])
    assert url.hostname == "ops-webhook"
    script = services()["ops-webhook"]["command"][-1]
    assert f'("", {url.port})' in script
    assert str(url.port) in {str(p) for p in services()["ops-webhook"]["expose"]}
    mounts = {target: source for source, target in bind_mounts("alertmanager")}
    assert (
        mounts["/etc/alertmanager/alertmanager.yml"] == "./monitoring/alertmanager/alertmanager.yml"
    )


def test_grafana_provisions_the_datasource_the_dashboards_name_and_loads_them() -> None:
    mounts = {target: source for source, target in bind_mounts("grafana")}
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    (prometheus,) = [d for d in datasources if d["type"] == "prometheus"]
    assert urlsplit(prometheus["url"]).hostname == "prometheus"
    assert urlsplit(prometheus["url"]).port == container_port("prometheus")
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dossierflow.yml").read_text(encoding="utf-8")
    )["providers"]
    (provider,) = providers
    assert mounts[provider["options"]["path"]] == "./monitoring/grafana/dashboards"
    home = environment("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (GRAFANA / "dashboards" / Path(home).name).is_file()
    assert Path(home).parent == Path(provider["options"]["path"])
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        board = json.loads(path.read_text(encoding="utf-8"))
        # Panels read the `datasource` variable: any Prometheus, the provisioned one here.
        (variable,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
        assert variable["query"] == prometheus["type"], path.name


def container_port(service: str) -> int:
    """The port a published-image service listens on, from its published port mapping."""
    (port,) = {container for _, _, container in host_ports(service)}
    return port


# --- the image build context -------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def ignored(path: str) -> bool:
    parts = Path(path).parts
    return any(
        fnmatch.fnmatch(path, pattern.removeprefix("**/"))
        or any(fnmatch.fnmatch(part, pattern.removeprefix("**/")) for part in parts)
        for pattern in dockerignore_patterns()
    )


def test_the_build_context_has_what_the_dockerfile_copies_and_not_the_rest() -> None:
    copied = []
    for kind, arguments in dockerfile_all():
        if kind == "COPY" and "--from" not in arguments:
            copied += shlex.split(arguments)[:-1]
    assert copied
    for source in copied:
        assert (REPO / source).exists(), source
        assert not ignored(source), f".dockerignore drops {source}, which the Dockerfile copies"
    for heavy in (".venv", ".kafka", ".git", "tests", "demo-output", ".dossierflow-data"):
        assert ignored(heavy), f".dockerignore should drop {heavy}"


@cache
def dockerfile_all() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#") and " " in line
    ]


def test_the_image_runs_as_an_unprivileged_user_and_checks_health() -> None:
    users = [a for kind, a in dockerfile() if kind == "USER"]
    assert users and users[-1] not in {"root", "0"}
    (health,) = [a for kind, a in dockerfile() if kind == "HEALTHCHECK"]
    assert "/health" in health

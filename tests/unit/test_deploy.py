"""Deployment: the Dockerfile, docker-compose.yml, .dockerignore and .env.example, checked statically.

No Docker engine runs here, so these tests read the files the way Docker and Compose would: the
Dockerfile through a Dockerfile parser, the compose file as YAML with Compose's variable
interpolation applied (from .env.example, and from an empty environment), and the container
environments through ibbot's own settings loader.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from dotenv import dotenv_values

from ibbot.cli import DEFAULT_COMMAND, PROG
from ibbot.settings import Settings, load_settings
from ibbot.settings.model import DEFAULT_STORE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"

# IB's API ports: Gateway 4001 live / 4002 paper, the gnzsnz image's socat relays 4003 live /
# 4004 paper, TWS 7496 live / 7497 paper. None may be published to the host.
API_PORTS = frozenset({4001, 4002, 4003, 4004, 7496, 7497})
GATEWAY_IMAGE = "ghcr.io/gnzsnz/ib-gateway"
# The relay port ibbot must use inside compose for each gateway trading mode.
RELAY_PORT = {"paper": 4004, "live": 4003}
IBBOT_SERVICES = ("ibbot", "ibbot-sim", "ibbot-postgres")
# check-jsonschema ships the Compose Specification's schema, so the check runs offline.
SCHEMA_CHECK = (sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec")


# --- Compose's variable interpolation ------------------------------------------------------------

_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with ``$$``, ``$NAME`` and ``${NAME[op arg]}`` replaced as Compose replaces them."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = _BRACED.fullmatch(match["braced"])
        if braced is None:
            raise ValueError(f"interpolation Compose would reject: ${{{match['braced']}}}")
        name, op, arg = braced["name"], braced["op"], braced["arg"]
        value = env.get(name)
        if op is None:
            return value or ""
        # With a colon an empty value counts as unset; without one only an absent variable does.
        present = bool(value) if op.startswith(":") else value is not None
        if op in (":?", "?"):
            if not present:
                raise ValueError(f"required variable {name} is missing: {arg}")
            return value or ""
        if op in (":+", "+"):
            return arg if present else ""
        return (value or "") if present else arg

    return _REFERENCE.sub(replace, text)


def variables_in(text: str) -> set[str]:
    """The variable names ``text`` refers to (an escaped ``$$`` refers to none)."""
    names = set()
    for match in _REFERENCE.finditer(text):
        if match["named"]:
            names.add(match["named"])
        elif match["braced"] is not None:
            braced = _BRACED.fullmatch(match["braced"])
            assert braced is not None, match["braced"]
            names.add(braced["name"])
    return names


def strings(node: Any) -> Iterator[str]:
    """Every string value in a YAML document (Compose interpolates values, not keys)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """The document with every string value interpolated from ``env``."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, env) for value in node]
    return node


def env_example() -> dict[str, str]:
    """The variables of .env.example, as Compose reads them from a copied .env."""
    return {name: value or "" for name, value in dotenv_values(REPO / ".env.example").items()}


def raw_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def compose(env: Mapping[str, str]) -> dict[str, Any]:
    """The compose file as Compose sees it with ``env`` (its .env) as the only variables."""
    resolved = resolve(raw_compose(), env)
    assert isinstance(resolved, dict)
    return resolved


# Each test that reads the compose file runs with the variables of a copied .env.example and with
# none at all (no .env): the defaults in the compose file must be as safe as the example's.
ENVIRONMENTS = {"env-example": env_example, "no-env": dict}


@pytest.fixture(params=sorted(ENVIRONMENTS))
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    factory: Callable[[], dict[str, str]] = ENVIRONMENTS[request.param]
    return factory()


def service(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    services = document["services"]
    assert name in services, f"no service {name!r}"
    definition = services[name]
    assert isinstance(definition, dict)
    return definition


def environment(definition: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (Compose accepts a mapping or NAME=VALUE items)."""
    raw = definition.get("environment", {})
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {name: "" if value is None else str(value) for name, value in raw.items()}


def seconds(duration: str) -> float:
    """A Compose duration ("1m30s", "60s", "10m") in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts, f"not a duration: {duration!r}"
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def published_ports(entry: Any) -> set[int]:
    """Host and container ports of one ``ports`` entry (short or long syntax)."""
    if isinstance(entry, dict):
        text = f"{entry.get('published', '')}:{entry.get('target', '')}"
    else:
        text = str(entry)
    numbers: set[int] = set()
    for low, high in re.findall(r"(\d+)(?:-(\d+))?", text.split("/")[0]):
        numbers.update(range(int(low), int(high or low) + 1))
    return numbers


# --- the compose file ----------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    """docker-compose.yml validates against the Compose Specification's JSON schema."""
    result = subprocess.run(
        [*SCHEMA_CHECK, str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    """The schema check fails on a misspelt service key, so its pass above means something."""
    broken = raw_compose()
    broken["services"]["ibbot"]["restart_policy"] = "always"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = subprocess.run(
        [*SCHEMA_CHECK, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "restart_policy" in result.stdout + result.stderr


def test_every_variable_the_compose_file_reads_is_documented() -> None:
    """Each ${VAR} in docker-compose.yml, and COMPOSE_PROFILES, has an entry in .env.example."""
    used = set().union(*(variables_in(text) for text in strings(raw_compose())))
    assert used, "the compose file reads no variable at all?"
    documented = set(env_example())
    assert used | {"COMPOSE_PROFILES"} <= documented, sorted(used - documented)


def test_ibbot_variables_of_env_example_reach_the_container() -> None:
    """Every IBBOT_* variable in .env.example is passed into (or set for) the ibbot container."""
    ibbot_names = {name for name in env_example() if name.startswith("IBBOT_")}
    container = environment(service(raw_compose(), "ibbot"))
    assert ibbot_names <= set(container), sorted(ibbot_names - set(container))


def test_services_and_profiles() -> None:
    """`up` starts the gateway pair (COMPOSE_PROFILES), `--profile sim` only the simulated pair."""
    document = raw_compose()
    profiles = {
        name: definition.get("profiles") for name, definition in document["services"].items()
    }
    # Compose always starts a service without a profile, even under `--profile sim`: so every
    # service has exactly one.
    assert profiles == {
        "ib-gateway": ["gateway", "postgres"],
        "ibbot": ["gateway"],
        "ibbot-postgres": ["postgres"],
        "postgres": ["postgres"],
        "sim": ["sim"],
        "ibbot-sim": ["sim"],
        "dashboard": ["gateway", "postgres"],
        "dashboard-sim": ["sim"],
        "prometheus": ["metrics"],
    }
    assert env_example()["COMPOSE_PROFILES"] == "gateway"


def test_the_dashboard_is_published_on_the_hosts_loopback_only(env: dict[str, str]) -> None:
    """Every published port (the dashboard's relays, Prometheus) binds 127.0.0.1; ibbot publishes
    none and serves beyond its loopback only with control_remote (every request needs the token);
    each relay forwards to its own ibbot, and Prometheus reads the token to scrape."""
    document = compose(env)
    for name, definition in document["services"].items():
        for entry in definition.get("ports", []):
            assert str(entry).startswith("127.0.0.1:"), (name, entry)
    for name in IBBOT_SERVICES:
        assert "ports" not in service(document, name)
        settings = container_settings(document, name)
        assert settings.app.control_port == 8080
        assert (settings.app.control_host, settings.app.control_remote) == ("0.0.0.0", True)
    for relay, target in (("dashboard", "ibbot"), ("dashboard-sim", "ibbot-sim")):
        listen = "TCP-LISTEN:8080,fork,reuseaddr"  # one argument: socat's address and options
        assert service(document, relay)["command"] == [listen, f"TCP:{target}:8080"]
    scrape = (REPO / "deploy" / "prometheus.yml").read_text()
    assert "credentials_file: /ibbot-data/control.token" in scrape
    assert '"dashboard:8080"' in scrape


def test_gateway_image_is_pinned_to_a_version(env: dict[str, str]) -> None:
    """The IB Gateway image is gnzsnz's, pinned to an exact version tag, never latest/stable."""
    image = service(compose(env), "ib-gateway")["image"]
    name, _, tag = image.rpartition(":")
    assert name == GATEWAY_IMAGE
    assert tag not in {"latest", "stable", ""}
    assert re.fullmatch(r"\d+\.\d+\.\d+[a-z]", tag), tag
    # The compose default and the example agree, so copying the example changes nothing.
    assert (
        service(compose({}), "ib-gateway")["image"]
        == service(compose(env_example()), "ib-gateway")["image"]
    )


def test_no_api_port_is_published(env: dict[str, str]) -> None:
    """No service publishes an IB API port or shares the host's network."""
    for name, definition in compose(env)["services"].items():
        for entry in definition.get("ports", []):
            assert not published_ports(entry) & API_PORTS, (name, entry)
        assert definition.get("network_mode") != "host", name


def test_gateway_healthcheck_probes_the_internal_api_port() -> None:
    """The gateway's health check probes 4001/4002 on the container's loopback, not the relay."""
    check = service(raw_compose(), "ib-gateway")["healthcheck"]
    script = " ".join(check["test"])
    assert "127.0.0.1" in script
    assert {"4001", "4002"} <= set(re.findall(r"\d{4}", script))
    assert not {"4003", "4004"} & set(re.findall(r"\d{4}", script))
    for key in ("interval", "timeout", "start_period"):
        assert seconds(check[key]) > 0, key
    assert check["retries"] >= 1
    # Long enough to approve the 2FA push at start-up before Compose gives up on the gateway.
    assert seconds(check["start_period"]) >= 300


def _listening_port(stack: list[socket.socket]) -> int:
    server = socket.create_server(("127.0.0.1", 0))
    stack.append(server)
    port: int = server.getsockname()[1]
    return port


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("mode", "paper_up", "live_up", "healthy"),
    [
        ("paper", True, False, True),
        ("paper", False, True, False),
        ("live", False, True, True),
        ("live", True, False, False),
    ],
)
def test_gateway_healthcheck_command_runs(
    mode: str, paper_up: bool, live_up: bool, healthy: bool
) -> None:
    """The health check's shell command succeeds exactly when the mode's own API port listens."""
    test = service(compose({}), "ib-gateway")["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    script = test[3]
    servers: list[socket.socket] = []
    try:
        paper = _listening_port(servers) if paper_up else _closed_port()
        live = _listening_port(servers) if live_up else _closed_port()
        # The container's ports, moved to free loopback ports of this machine.
        assert script.count("4002") == 1
        assert script.count("4001") == 1
        script = script.replace("4002", str(paper)).replace("4001", str(live))
        result = subprocess.run(
            ["bash", "-c", script],
            env={"TRADING_MODE": mode, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            timeout=10,
            check=False,
        )
    finally:
        for server in servers:
            server.close()
    assert (result.returncode == 0) is healthy, result.stderr


def test_services_wait_for_a_healthy_gateway() -> None:
    """ibbot starts only once its gateway (real or simulated) reports healthy."""
    document = raw_compose()
    for name, gateway in (("ibbot", "ib-gateway"), ("ibbot-sim", "sim")):
        depends = service(document, name)["depends_on"]
        assert depends == {gateway: {"condition": "service_healthy"}}, name
    assert service(document, "ibbot-postgres")["depends_on"] == {
        "ib-gateway": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }


def test_ibbot_images_carry_the_ibbot_check_healthcheck() -> None:
    """The ibbot containers (ibbot, ibbot-sim, sim) build this Dockerfile and keep its HEALTHCHECK."""
    for name in (*IBBOT_SERVICES, "sim"):
        definition = service(raw_compose(), name)
        assert definition["build"] == ".", name
        assert not definition.get("healthcheck", {}).get("disable", False), name
    assert dockerfile().healthcheck == ("ibbot", "check")


def test_ibbot_reaches_the_gateway_relay_on_an_internal_network(env: dict[str, str]) -> None:
    """ibbot connects to ib-gateway's socat relay for the trading mode, over an internal network."""
    document = compose(env)
    ibbot = service(document, "ibbot")
    settings = container_settings(document, "ibbot")
    assert settings.ib.simulate is False
    assert settings.ib.host == "ib-gateway"
    mode = service(document, "ib-gateway")["environment"]["TRADING_MODE"]
    assert settings.ib.port == RELAY_PORT[mode]
    networks = document["networks"]
    for name in ibbot["networks"]:
        assert networks[name].get("internal") is True, name
        assert name in service(document, "ib-gateway")["networks"]


def test_paper_by_default(env: dict[str, str]) -> None:
    """Without changes the gateway logs into paper, and live orders stay refused."""
    document = compose(env)
    assert service(document, "ib-gateway")["environment"]["TRADING_MODE"] == "paper"
    settings = container_settings(document, "ibbot")
    assert settings.ib.allow_live_trading is False


def _ibc_boolean(text: str) -> bool:
    """How IBC reads a yes/no setting (true/yes, false/no, any case); anything else is an error here."""
    value = text.strip().lower()
    if value in {"true", "yes"}:
        return True
    if value in {"false", "no"}:
        return False
    raise AssertionError(f"IBC would ignore {text!r} and keep the Gateway's stored setting")


@pytest.mark.parametrize("readonly", [None, "false", "true", "no", "yes", "False", "TRUE"])
def test_gateway_api_is_read_only_exactly_when_ibbot_is(readonly: str | None) -> None:
    """The gateway's READ_ONLY_API follows IBBOT_IB__READONLY; unset makes both read-only."""
    env = {} if readonly is None else {"IBBOT_IB__READONLY": readonly}
    document = compose(env)
    gateway = _ibc_boolean(service(document, "ib-gateway")["environment"]["READ_ONLY_API"])
    ibbot = container_settings(document, "ibbot").ib.readonly
    assert gateway is ibbot
    if readonly is None:
        assert gateway is True


@pytest.mark.parametrize("name", ["ibbot", "ibbot-sim", "sim"])
def test_container_environment_is_valid_ibbot_settings(env: dict[str, str], name: str) -> None:
    """What compose sets in each ibbot container loads as ibbot settings (no unknown IBBOT_*)."""
    settings = container_settings(compose(env), name)
    assert settings.ib.simulate is False
    assert settings.ib.port in API_PORTS


def test_sim_profile_runs_the_simulator_on_the_compose_network(env: dict[str, str]) -> None:
    """The sim service listens on its container's interfaces, reachable only on an internal network."""
    document = compose(env)
    sim = service(document, "sim")
    command = sim["command"]
    assert command[0] == "sim"
    host = command[command.index("--host") + 1]
    port = int(command[command.index("--port") + 1])
    # `ibbot sim` refuses a non-loopback address unless told it may.
    assert host == "0.0.0.0"
    assert "--allow-remote" in command
    assert "ports" not in sim
    assert all(document["networks"][network].get("internal") for network in sim["networks"])
    simulated = container_settings(document, "ibbot-sim")
    assert (simulated.ib.host, simulated.ib.port) == ("sim", port)
    assert set(service(document, "ibbot-sim")["networks"]) == set(sim["networks"])
    # The sim container's own health check (`ibbot check`) probes the simulator over loopback.
    probe = container_settings(document, "sim")
    assert (probe.ib.host, probe.ib.port) == ("127.0.0.1", port)


def test_env_example_relay_port_matches_its_trading_mode() -> None:
    """.env.example pairs TRADING_MODE with the relay port of that mode."""
    example = env_example()
    assert int(example["IB_GATEWAY_API_PORT"]) == RELAY_PORT[example["TRADING_MODE"]]


def test_restart_and_stop_policies() -> None:
    """Services restart unless stopped; ibbot gets longer than a request timeout to shut down."""
    document = raw_compose()
    for name in document["services"]:
        assert service(document, name)["restart"] == "unless-stopped", name
    # An in-flight request (an order acknowledgement, say) may take up to request_timeout before
    # the two-phase shutdown can finish; Docker kills the container after stop_grace_period.
    request_timeout = Settings().ib.request_timeout
    for name in IBBOT_SERVICES:
        assert seconds(service(document, name)["stop_grace_period"]) > request_timeout, name


def test_the_stop_grace_period_covers_the_graceful_shutdown() -> None:
    """Docker's SIGKILL comes after stop_grace_period: longer than ibbot's whole two-phase
    shutdown (orders settling for app.shutdown_timeout, then draining, saving, disconnecting)."""
    from ibbot.app import shutdown_budget  # noqa: PLC0415 - the orchestrator only for this test

    document = compose(env_example())
    for name in IBBOT_SERVICES:
        budget = shutdown_budget(container_settings(document, name))
        assert seconds(service(document, name)["stop_grace_period"]) > budget, (name, budget)


def test_ibbot_keeps_its_data_in_named_volumes() -> None:
    """ibbot's data directory is a named volume, and the simulated run keeps a separate one."""
    document = raw_compose()
    volumes = {}
    for name in IBBOT_SERVICES:
        mounts = [entry.split(":") for entry in service(document, name)["volumes"]]
        data = [source for source, target, *_ in mounts if target == dockerfile().volume]
        assert len(data) == 1, name
        assert data[0] in document["volumes"], f"{name}: {data[0]} is not a named volume"
        volumes[name] = data[0]
    assert volumes["ibbot"] != volumes["ibbot-sim"]
    assert volumes["ibbot-postgres"] == volumes["ibbot"]  # its reports and control files
    # The settings file is mounted read-only where ibbot looks for it.
    for name in IBBOT_SERVICES:
        assert "./settings.toml:/app/settings.toml:ro" in service(document, name)["volumes"]


def test_credentials_come_only_from_env_and_secrets() -> None:
    """The IB password reaches the gateway as a Docker secret; no value in the file is a secret."""
    document = raw_compose()
    gateway = environment(service(document, "ib-gateway"))
    assert "TWS_PASSWORD" not in gateway
    assert gateway["TWS_PASSWORD_FILE"] == "/run/secrets/tws_password"
    assert service(document, "ib-gateway")["secrets"] == ["tws_password"]
    assert variables_in(document["secrets"]["tws_password"]["file"]) == {"TWS_PASSWORD_SECRET"}
    secret_words = ("PASSWORD", "SECRET", "TOKEN", "USERID", "ACCOUNT")
    for name in document["services"]:
        for key, value in environment(service(document, name)).items():
            if any(word in key for word in secret_words):
                literal = _REFERENCE.sub("", value)
                assert literal in {
                    "",
                    "/run/secrets/tws_password",
                    "/run/secrets/postgres_password",
                }, (name, key)
    assert "TWS_PASSWORD" not in env_example()


# --- .dockerignore -------------------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression (Go's filepath.Match plus ``**``)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def ignored(path: str) -> bool:
    """Whether Docker leaves ``path`` out of the build context (the last matching line decides)."""
    rules = []
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        keep = text.startswith("!")
        pattern = posixpath.normpath(text.removeprefix("!").strip()).lstrip("/")
        rules.append((_glob(pattern), keep))
    parts = path.split("/")
    # A pattern that matches a parent directory applies to everything under it.
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for regex, keep in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not keep
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.example",
        "secrets/tws_password.txt",
        "uv.lock",
        ".venv/bin/python",
        "data/prices/symbol=KO/2024-01.parquet",
        "data/KILL_SWITCH",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".pytest_cache/v/cache/nodeids",
        ".git/HEAD",
        "ibbot/__pycache__/cli.cpython-311.pyc",
        "tests/unit/test_deploy.py",
    ],
)
def test_dockerignore_keeps_secrets_data_and_caches_out(path: str) -> None:
    """Credentials, data, the local lock, virtualenv and caches never enter the build context."""
    assert ignored(path)


def test_dockerignore_keeps_what_the_build_copies() -> None:
    """Every file the Dockerfile copies from the context is in the build context."""
    sources = dockerfile().context_sources
    assert sources
    for source in sources:
        assert not ignored(source), source
    assert not ignored("ibbot/sim/universe.py")


# --- the Dockerfile ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    name: str
    value: str


@dataclass(frozen=True)
class Dockerfile:
    """The parts of the Dockerfile the tests look at."""

    global_args: dict[str, str]
    stages: list[list[Instruction]]

    @property
    def final(self) -> list[Instruction]:
        return self.stages[-1]

    def base_image(self, stage: list[Instruction]) -> str:
        image = stage[0].value.split()[0]
        return interpolate(image, self.global_args)

    def last(self, name: str) -> Instruction:
        found = [instruction for instruction in self.final if instruction.name == name]
        assert found, f"the final stage has no {name}"
        return found[-1]

    @property
    def healthcheck(self) -> tuple[str, ...]:
        match = re.fullmatch(
            r"((?:--\S+\s+)*)CMD\s+(.+)", self.last("HEALTHCHECK").value, re.DOTALL
        )
        assert match is not None, "HEALTHCHECK must be --options CMD [...]"
        return exec_form(match[2])

    @property
    def healthcheck_options(self) -> dict[str, str]:
        options = re.findall(r"--([a-z-]+)=(\S+)", self.last("HEALTHCHECK").value)
        return dict(options)

    @property
    def volume(self) -> str:
        (path,) = exec_form(self.last("VOLUME").value)
        return path

    @property
    def context_sources(self) -> list[str]:
        sources = []
        for stage in self.stages:
            for instruction in stage:
                if instruction.name not in {"COPY", "ADD"}:
                    continue
                words = shlex.split(instruction.value)
                if any(word.startswith("--from=") for word in words):
                    continue
                sources += [word for word in words if not word.startswith("--")][:-1]
        return sources


def exec_form(text: str) -> tuple[str, ...]:
    """The JSON (exec) form of ENTRYPOINT/CMD/HEALTHCHECK; the shell form fails the test."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        pytest.fail(f"shell form, not exec form: {text!r}")
    assert isinstance(value, list), text
    assert all(isinstance(item, str) for item in value), text
    return tuple(value)


def dockerfile() -> Dockerfile:
    parser = DockerfileParser(fileobj=io.BytesIO((REPO / "Dockerfile").read_bytes()))
    global_args: dict[str, str] = {}
    stages: list[list[Instruction]] = []
    for entry in parser.structure:
        instruction = Instruction(entry["instruction"], " ".join(entry["value"].split()))
        if instruction.name == "COMMENT":
            continue
        if instruction.name == "FROM":
            stages.append([instruction])
        elif stages:
            stages[-1].append(instruction)
        elif instruction.name == "ARG":
            name, _, default = instruction.value.partition("=")
            global_args[name] = default
    return Dockerfile(global_args, stages)


def test_dockerfile_is_multi_stage_with_a_slim_python_final_image() -> None:
    """A builder stage makes the environment; the final image is python:3.11-slim."""
    parsed = dockerfile()
    assert len(parsed.stages) >= 2
    assert parsed.base_image(parsed.final) == "python:3.11-slim"
    builder = next(stage for stage in parsed.stages if "AS builder" in stage[0].value)
    # The environment's interpreter links to the base image's: both stages use the same one.
    assert parsed.base_image(builder) == parsed.base_image(parsed.final)
    copies = [i.value for i in parsed.final if i.name == "COPY"]
    assert copies == ["--from=builder /app/.venv /app/.venv"]


def test_dockerfile_installs_with_a_pinned_uv() -> None:
    """uv comes from its official image at a pinned version; sync skips dev deps, uses the cache."""
    parsed = dockerfile()
    uv_image = next(
        parsed.base_image(stage) for stage in parsed.stages if stage[0].value.endswith("AS uv")
    )
    name, _, version = uv_image.rpartition(":")
    assert name == "ghcr.io/astral-sh/uv"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    syncs = [i.value for stage in parsed.stages for i in stage if "uv sync" in i.value]
    assert len(syncs) == 2
    for command in syncs:
        assert "--mount=type=cache,target=/root/.cache/uv" in command
        assert "--no-dev" in command
        # No uv.lock is committed: the build must not demand one.
        assert "--locked" not in command
        assert "--frozen" not in command
    env = " ".join(i.value for stage in parsed.stages for i in stage if i.name == "ENV")
    assert "UV_COMPILE_BYTECODE=1" in env


def test_dockerfile_runs_as_the_non_root_owner_of_the_data_volume() -> None:
    """The final stage switches to a numeric non-root user who owns the data directory."""
    parsed = dockerfile()
    uid, _, gid = parsed.last("USER").value.partition(":")
    assert uid.isdigit()
    assert int(uid) > 0
    assert gid.isdigit()
    assert int(gid) > 0
    setup = " ".join(i.value for i in parsed.final if i.name == "RUN")
    assert f"--uid {uid}" in setup
    assert f"--gid {gid}" in setup
    assert f"chown ibbot:ibbot {parsed.volume}" in setup
    # The user is set before the entrypoint and nothing after it switches back.
    names = [i.name for i in parsed.final]
    assert names.index("USER") < names.index("ENTRYPOINT")


def test_dockerfile_volume_is_where_ibbot_keeps_its_data() -> None:
    """VOLUME is the working directory's `data`, where ibbot's default stores live (a gateway's
    itself, the embedded simulator's in data/sim-<seed>)."""
    parsed = dockerfile()
    workdir = parsed.last("WORKDIR").value
    assert parsed.volume == posixpath.join(workdir, str(DEFAULT_STORE))
    for simulate in (True, False):
        path = Settings(ib={"simulate": simulate}).store.path
        assert path.is_relative_to(DEFAULT_STORE)


def test_dockerfile_entrypoint_stop_signal_and_healthcheck() -> None:
    """ENTRYPOINT is the ibbot command (CMD `run`), SIGTERM stops it, `ibbot check` is its health."""
    parsed = dockerfile()
    # Exec form: ibbot is the process that receives the stop signal, not a shell around it.
    assert exec_form(parsed.last("ENTRYPOINT").value) == (PROG,)
    assert exec_form(parsed.last("CMD").value) == (DEFAULT_COMMAND,)
    assert parsed.last("STOPSIGNAL").value == "SIGTERM"
    assert parsed.healthcheck == (PROG, "check")
    options = parsed.healthcheck_options
    assert {"interval", "timeout", "retries"} <= set(options)
    # `ibbot check` waits up to ib.connect_timeout for the handshake; the probe must outlast it.
    assert seconds(options["timeout"]) > Settings().ib.connect_timeout


def test_dockerfile_bakes_in_no_secret() -> None:
    """No ENV or ARG names a credential, and nothing but the package sources is copied in."""
    parsed = dockerfile()
    for stage in parsed.stages:
        for instruction in stage:
            if instruction.name in {"ENV", "ARG"}:
                assert not re.search(
                    r"PASSWORD|SECRET|TOKEN|USERID|ACCOUNT", instruction.value, re.IGNORECASE
                ), instruction
    assert set(parsed.context_sources) == {"pyproject.toml", "README.md", "ibbot"}


# --- settings seen from a container --------------------------------------------------------------


def container_settings(document: Mapping[str, Any], name: str) -> Settings:
    """The settings ibbot loads in service ``name``: its environment and the mounted settings.toml."""
    return load_settings(
        config_file=REPO / "settings.toml",
        environ=environment(service(document, name)),
        env_file=None,
    )


def test_postgres_profile_keeps_the_store_in_its_database(env: dict[str, str]) -> None:
    """The postgres profile: a pinned, health-checked database on an internal network, its data in
    a volume, the password a Docker secret on both sides, and ibbot's store pointed at it."""
    document = compose(env)
    database = service(document, "postgres")
    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", database["image"]), database["image"]
    assert database["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "ports" not in database
    assert [v.split(":")[0] for v in database["volumes"]] == ["ibbot-postgres"]
    assert "ibbot-postgres" in document["volumes"]
    assert database["networks"] == ["store"]
    assert document["networks"]["store"]["internal"] is True
    assert environment(database)["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert database["secrets"] == ["postgres_password"]
    ibbot = service(document, "ibbot-postgres")
    assert ibbot["secrets"] == ["postgres_password"]
    assert set(ibbot["networks"]) == {"ib-api", "store"}
    assert ibbot["networks"]["ib-api"]["aliases"] == ["ibbot"]
    settings = container_settings(document, "ibbot-postgres")
    assert settings.store.backend == "postgres"
    assert settings.store.dsn == "postgresql://ibbot@postgres:5432/ibbot"
    assert settings.store.password_file == "/run/secrets/postgres_password"
    assert settings.ib.host == "ib-gateway"
    secret = raw_compose()["secrets"]["postgres_password"]["file"]
    assert variables_in(secret) == {"POSTGRES_PASSWORD_SECRET"}

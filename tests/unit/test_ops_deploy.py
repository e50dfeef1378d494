"""Static checks of deploy/: no Docker engine or systemd runs here, so the files are parsed
and their wiring checked: the unit, the Dockerfile and its build context, the compose file
and the configs they ship (which must validate)."""

from __future__ import annotations

import configparser
import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventhub.config.loader import LoadedConfig, load_config
from eventhub.config.models import split_hostport

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


# -- helpers ---------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _compose_env(values: dict[str, Any]) -> dict[str, str]:
    """Compose's interpolation with nothing set: ``${X:-default}`` becomes the default."""
    resolved = {}
    for key, value in values.items():
        text = str(value)
        text = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", text)
        assert "${" not in text, f"{key} needs a variable without a default: {value}"
        resolved[key] = text
    return resolved


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((DEPLOY / "eventhub.service").read_text())
    return parser


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = pending.partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _ignored(relative: str, patterns: list[str]) -> bool:
    """.dockerignore matching (Go filepath.Match per path prefix, ``**/``, ``!`` exceptions)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if pattern.startswith("**/"):
            n = len(parts)
            tails = ["/".join(parts[i:j]) for i in range(n) for j in range(i + 1, n + 1)]
            hit = any(fnmatch.fnmatchcase(tail, pattern[3:]) for tail in tails)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            ignored = not negate
    return ignored


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _copies(stage: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    """(sources, destination) of the stage's COPY instructions from the build context."""
    found = []
    for word, args in stage:
        if word != "COPY":
            continue
        parts = [p for p in shlex.split(args) if not p.startswith("--chown")]
        if any(p.startswith("--from") for p in parts):
            continue
        found.append((parts[:-1], parts[-1]))
    return found


def _build_stage(into: Path, stage: list[tuple[str, str]]) -> Path:
    """Lay out what a stage's COPYs put on its file system (under ``into``), honouring
    .dockerignore; returns the stage's last WORKDIR there."""
    patterns = _dockerignore()
    workdir = "/"
    for word, args in stage:
        if word == "WORKDIR":
            workdir = args
        if word != "COPY" or "--from" in args:
            continue
        (sources, dest) = _copies([(word, args)])[0]
        target = into / (dest if dest.startswith("/") else f"{workdir}/{dest}").lstrip("/")
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: not in the repository"
            assert not _ignored(source.rstrip("/"), patterns), f"COPY {source}: .dockerignored"
            if path.is_dir():
                for file in path.rglob("*"):
                    relative = file.relative_to(ROOT).as_posix()
                    if file.is_file() and not _ignored(relative, patterns):
                        copy_to = target / file.relative_to(path)
                        copy_to.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy(file, copy_to)
            else:
                copy_to = target / path.name if dest.endswith("/") or len(sources) > 1 else target
                copy_to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, copy_to)
    return into / workdir.lstrip("/")


def find_packages(root: str, include: list[str]) -> list[str]:
    """setuptools' package discovery for ``include`` globs such as ``eventhub*``."""
    found = []
    for top in {pattern.rstrip("*.") for pattern in include}:
        for init in (Path(root) / top).rglob("__init__.py"):
            name = init.parent.relative_to(root).as_posix().replace("/", ".")
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in include):
                found.append(name)
    return found


def _load(path: Path, env: dict[str, str]) -> LoadedConfig:
    return load_config(path, env)


def _assert_handlers_present(loaded: LoadedConfig, code_root: Path, mount: str) -> None:
    """Every function's code_dir is ``mount`` (inside the container), and its module is
    in ``code_root`` (what is mounted or copied there)."""
    for name, function in loaded.config.functions.items():
        assert function.code_dir == mount, name
        module, _ = function.module_and_attribute
        assert (code_root / f"{module.replace('.', '/')}.py").is_file(), f"{name}: {module}"


# -- systemd ---------------------------------------------------------------------------


def test_unit_is_notify_with_watchdog_reload_and_stop_timeout() -> None:
    service = _unit()["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert int(service["WatchdogSec"].rstrip("s")) >= 10
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "on-failure"
    config = load_config(DEPLOY / "eventhub.systemd.yaml", {"EVENTHUB_API_TOKEN": "t"})
    assert int(service["TimeoutStopSec"].rstrip("s")) > config.config.hub.shutdown_grace


def test_unit_runs_the_venv_on_the_shipped_config() -> None:
    service = _unit()["Service"]
    command = shlex.split(service["ExecStart"])
    assert command[0] == "/opt/eventhub/bin/eventhub"
    assert command[1:] == ["run", "-c", "/etc/eventhub/eventhub.yaml"]
    assert shlex.split(service["ExecStartPre"])[1:] == [
        "validate",
        "-c",
        "/etc/eventhub/eventhub.yaml",
    ]
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def test_unit_is_hardened() -> None:
    service = _unit()["Service"]
    assert service.get("DynamicUser") == "yes" or service.get("User") not in (None, "root")
    expected = {
        "ProtectSystem": "strict",
        "StateDirectory": "eventhub",
        "ConfigurationDirectory": "eventhub",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
    }
    assert {key: service.get(key) for key in expected} == expected


def test_systemd_config_writes_only_to_the_state_directory() -> None:
    loaded = load_config(DEPLOY / "eventhub.systemd.yaml", {"EVENTHUB_API_TOKEN": "t"})
    hub = loaded.config.hub
    assert hub.state_dir == "/var/lib/eventhub"  # StateDirectory=eventhub
    assert split_hostport(hub.admin_listen)[0] == "127.0.0.1"
    text = (DEPLOY / "eventhub.systemd.yaml").read_text()
    for target in re.findall(r'"file:([^"]+)"', text):
        assert target.startswith("/var/lib/eventhub/"), target  # ProtectSystem=strict
    _assert_handlers_present(loaded, ROOT / "config" / "functions", "/etc/eventhub/functions")


# -- Dockerfile --------------------------------------------------------------------------


def test_dockerfile_base_user_ports_volume_healthcheck_cmd() -> None:
    stages = _stages()
    assert all(stage[0][1].startswith("python:3.11-slim") for stage in stages)
    runtime = dict(stages[-1])  # the last of a kind wins, as in Docker
    user = runtime["USER"].split(":")[0]
    assert user not in ("root", "0")
    assert "useradd" in runtime["RUN"]
    assert "10001" in runtime["RUN"]
    assert runtime["EXPOSE"].split() == ["8080", "8081"]
    assert yaml.safe_load(runtime["VOLUME"]) == ["/var/lib/eventhub"]
    assert "http://127.0.0.1:8081/health" in runtime["HEALTHCHECK"]
    assert "curl" not in runtime["HEALTHCHECK"]
    assert '"python"' in runtime["HEALTHCHECK"]
    assert yaml.safe_load(runtime["CMD"]) == [
        "eventhub",
        "run",
        "-c",
        "/etc/eventhub/eventhub.yaml",
    ]
    assert runtime["STOPSIGNAL"] == "SIGTERM"


def test_every_copied_path_exists_and_is_in_the_context() -> None:
    patterns = _dockerignore()
    copies = [copy for stage in _stages() for copy in _copies(stage)]
    assert copies
    for sources, _ in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source.rstrip("/"), patterns), source


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    patterns = _dockerignore()
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "eventhub/__pycache__/x.pyc",
    ):
        assert _ignored(path, patterns), path
    for path in ("pyproject.toml", "README.md", "eventhub/hub.py", "config/functions/hello.py"):
        assert not _ignored(path, patterns), path


def test_build_stage_copies_everything_pip_install_needs(tmp_path: Path) -> None:
    # The build stage runs `pip install .` on exactly the files its COPYs bring in: the
    # pyproject, its readme, and every package (with package data) the repository has.
    source = _build_stage(tmp_path / "build", _stages()[0])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert (source / "pyproject.toml").read_text() == (ROOT / "pyproject.toml").read_text()
    assert (source / pyproject["project"]["readme"]).is_file()
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    wanted = find_packages(str(ROOT), include=include)
    assert wanted
    assert sorted(find_packages(str(source), include=include)) == sorted(wanted)
    for package in wanted:
        directory = package.replace(".", "/")
        modules = {p.name for p in (ROOT / directory).glob("*.py")}
        assert modules == {p.name for p in (source / directory).glob("*.py")}, package
    for package, files in pyproject["tool"]["setuptools"]["package-data"].items():
        for name in files:
            assert (source / package / name).is_file(), f"{package}/{name}"
    assert "/opt/eventhub/bin/pip install ." in dict(_stages()[0])["RUN"]


def test_image_default_config_is_valid_and_its_handlers_are_copied(tmp_path: Path) -> None:
    root = tmp_path / "image"
    _build_stage(root, _stages()[-1])
    config = root / "etc/eventhub/eventhub.yaml"
    loaded = _load(config, {})
    hub = loaded.config.hub
    assert split_hostport(hub.listen) == ("0.0.0.0", 8080)
    assert split_hostport(hub.admin_listen) == ("0.0.0.0", 8081)  # reachable via -p
    assert hub.state_dir == "/var/lib/eventhub"
    _assert_handlers_present(loaded, root / "etc/eventhub/functions", "/etc/eventhub/functions")


# -- docker compose ----------------------------------------------------------------------


def test_compose_builds_the_image_from_the_repository() -> None:
    hub = _compose()["services"]["eventhub"]
    context = (DEPLOY / hub["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / hub["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert hub["init"] is True


def test_compose_hub_waits_for_healthy_brokers() -> None:
    services = _compose()["services"]
    assert set(services) == {"eventhub", "kafka", "rabbitmq"}
    depends = services["eventhub"]["depends_on"]
    assert depends == {
        "kafka": {"condition": "service_healthy"},
        "rabbitmq": {"condition": "service_healthy"},
    }
    for broker in ("kafka", "rabbitmq"):
        assert services[broker]["healthcheck"]["test"], broker
    assert services["kafka"]["image"].startswith("apache/kafka:3.")  # 4.x drops old APIs
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"


def test_compose_ports_volumes_and_config_mount() -> None:
    compose = _compose()
    hub = compose["services"]["eventhub"]
    published = {str(port).rsplit(":", 1)[-1] for port in hub["ports"]}
    assert published == {"8080", "8081"}
    mounts = {m.split(":")[1]: m.split(":")[0] for m in hub["volumes"]}
    assert mounts["/etc/eventhub/eventhub.yaml"] == "./eventhub.docker.yaml"
    assert (DEPLOY / "eventhub.docker.yaml").is_file()
    assert (DEPLOY / mounts["/etc/eventhub/functions"]).is_dir()
    assert mounts["/var/lib/eventhub"] in compose["volumes"]  # a named volume
    for broker, path in (("kafka", "/var/lib/kafka/data"), ("rabbitmq", "/var/lib/rabbitmq")):
        volume = {m.split(":")[1]: m.split(":")[0] for m in compose["services"][broker]["volumes"]}
        assert volume[path] in compose["volumes"]
    grace = int(hub["stop_grace_period"].rstrip("s"))
    assert grace > _docker_config().config.hub.shutdown_grace


def _docker_config() -> LoadedConfig:
    env = _compose_env(_compose()["services"]["eventhub"]["environment"])
    return _load(DEPLOY / "eventhub.docker.yaml", env)


def test_compose_config_uses_the_brokers_by_service_name() -> None:
    compose = _compose()
    loaded = _docker_config()
    config = loaded.config
    kafka = config.connections["kafka"]
    rabbit = config.connections["rabbit"]
    assert kafka.type == "kafka"
    assert rabbit.type == "rabbitmq"
    assert kafka.servers == ["kafka:9092"]
    advertised = compose["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "PLAINTEXT://kafka:9092" in advertised.split(",")
    url = rabbit.url.get_secret_value()
    broker = _compose_env(compose["services"]["rabbitmq"]["environment"])
    assert url == (
        f"amqp://{broker['RABBITMQ_DEFAULT_USER']}:{broker['RABBITMQ_DEFAULT_PASS']}@rabbitmq:5672/"
    )
    kinds = {source.type for source in config.sources.values()}
    assert {"kafka", "rabbitmq", "stream", "queue", "http", "files", "schedule"} <= kinds
    assert split_hostport(config.hub.listen) == ("0.0.0.0", 8080)
    assert split_hostport(config.hub.admin_listen) == ("0.0.0.0", 8081)
    assert config.hub.state_dir == "/var/lib/eventhub"
    _assert_handlers_present(loaded, DEPLOY / "functions", "/etc/eventhub/functions")


@pytest.mark.parametrize("name", ["eventhub.docker.yaml", "eventhub.systemd.yaml"])
def test_shipped_configs_pass_eventhub_validate(name: str) -> None:
    env = {**_compose_env(_compose()["services"]["eventhub"]["environment"])}
    env["EVENTHUB_API_TOKEN"] = "t"
    result = subprocess.run(
        [sys.executable, "-m", "eventhub", "validate", "-c", str(DEPLOY / name)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


@pytest.mark.parametrize(
    ("module", "kind", "expected"),
    [
        ("orders", "kafka", {"processed": 1}),
        ("tasks", "rmq", {"done": 1}),
        ("summary", "sqs", {"function": "f", "kind": "aws:sqs", "records": 1}),
        ("summary", "kinesis", {"function": "f", "kind": "aws:kinesis", "records": 1}),
        ("summary", "s3-put", {"function": "f", "kind": "aws:s3", "records": 1}),
        ("summary", "scheduled", {"function": "f", "kind": "aws.events", "records": 0}),
    ],
)
def test_compose_handlers_take_their_events(module: str, kind: str, expected: dict) -> None:
    from eventhub.events.samples import generate

    handler = _handler(module)
    context = type("Context", (), {"function_name": "f"})()
    assert handler(generate(kind), context) == expected


def _handler(module: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"compose_{module}", DEPLOY / "functions" / f"{module}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded.handler

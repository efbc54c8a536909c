"""Deployment files: docker-compose.yml, Dockerfile, .dockerignore and .env.example."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = Path(__file__).resolve().parents[2] / "shared" / "SPEC.md"

# The SPEC's settings table, for a checkout without shared/ beside it.
SPEC_SETTINGS_FALLBACK = (
    "RELAY_REDIS_URL",
    "RELAY_PUBLIC_URL",
    "RELAY_HOST",
    "RELAY_PORT",
    "RELAY_SMTP_URL",
    "RELAY_MAIL_FROM",
    "RELAY_SIGNING_KEY",
    "RELAY_DATA_KEYS",
    "RELAY_PENDING_TTL",
    "RELAY_INBOX_TTL",
    "RELAY_TRUSTED_PROXIES",
)
# Settings the relay reads beyond the SPEC table, and the ones compose itself needs.
EXTRA_SETTINGS = (
    "RELAY_LOG_LEVEL",
    "RELAY_INBOX_VISIBILITY",
    "RELAY_METRICS_TOKEN",
    "RELAY_METRICS_PORT",
    "RELAY_SUBMIT_LIMIT",
    "REDIS_PASSWORD",
    "PRACTICE_TOKEN",
)
SECRETS = ("RELAY_SIGNING_KEY", "RELAY_DATA_KEYS", "REDIS_PASSWORD", "PRACTICE_TOKEN")
KEYS_COMMAND = "generate with: docker compose run --rm relay keys new"

ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


# --- helpers ---------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    """docker-compose.yml as parsed YAML."""
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    """One service of docker-compose.yml."""
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    definition = services[name]
    assert isinstance(definition, dict)
    return definition


def command_text(definition: dict[str, Any], key: str = "command") -> str:
    """A service's command (list or string form) as one space-separated string."""
    value = definition.get(key, "")
    return " ".join(str(part) for part in value) if isinstance(value, list) else str(value)


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages, each a list of (INSTRUCTION, arguments)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        assert stages, f"instruction before the first FROM: {line}"
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def final_stage(instruction: str) -> list[str]:
    """Arguments of every `instruction` in the Dockerfile's final stage."""
    return [args for name, args in dockerfile_stages()[-1] if name == instruction]


def spec_settings() -> tuple[str, ...]:
    """RELAY_* names in the SPEC's settings table, or the fallback list without the SPEC."""
    if not SPEC.is_file():
        return SPEC_SETTINGS_FALLBACK
    text = SPEC.read_text(encoding="utf-8")
    section = text.split("## Settings of the relay", 1)
    assert len(section) == 2, "SPEC.md has no 'Settings of the relay' section"
    body = section[1].split("\n## ", 1)[0]
    names: list[str] = []
    for line in body.splitlines():
        if line.startswith("|"):
            first_cell = line.strip("|").split("|", 1)[0]
            names += re.findall(r"RELAY_[A-Z0-9_]+", first_cell)
    assert names, "found no RELAY_* variable in the SPEC settings table"
    return tuple(dict.fromkeys(names))


def env_example_lines() -> list[str]:
    """Lines of .env.example."""
    return (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()


def env_example_assignments() -> dict[str, tuple[bool, str]]:
    """Variable -> (active, value) for each `NAME=value` or `# NAME=value` line."""
    found: dict[str, tuple[bool, str]] = {}
    for line in env_example_lines():
        match = ASSIGNMENT.match(line.strip())
        if match and match.group(2) not in found:
            found[match.group(2)] = (match.group(1) is None, match.group(3))
    return found


def compose_command() -> list[str] | None:
    """`docker compose` if its plugin is installed, else `docker-compose`, else None."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def run_compose_config(directory: Path, env_text: str) -> subprocess.CompletedProcess[str]:
    """Run `compose config -q` on a copy of the project's compose file with `env_text`."""
    command = compose_command()
    if command is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed")
    shutil.copy(ROOT / "docker-compose.yml", directory / "docker-compose.yml")
    shutil.copy(ROOT / "Dockerfile", directory / "Dockerfile")
    (directory / ".env").write_text(env_text, encoding="utf-8")
    # Only the .env written here may feed the interpolation, not the caller's shell.
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RELAY_", "REDIS_", "PRACTICE_", "COMPOSE_"))
    }
    return subprocess.run(
        [
            *command,
            "--project-directory",
            str(directory),
            "-f",
            str(directory / "docker-compose.yml"),
            "--profile",
            "dev",
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=environment,
    )


def dummy_env() -> str:
    """.env.example with a dummy value in every empty assignment."""
    lines = []
    for line in env_example_lines():
        match = ASSIGNMENT.match(line.strip())
        empty = match is not None and match.group(1) is None and not match.group(3)
        lines.append(f"{match.group(2)}=dummy0123456789abcdef" if match and empty else line)
    return "\n".join(lines) + "\n"


@pytest.fixture
def compose_parses_without_engine(tmp_path: Path) -> None:
    """Skip unless compose can render a trivial file here (it needs no engine for that)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "docker-compose.yml").write_text(
        "services:\n  probe:\n    image: busybox\n", encoding="utf-8"
    )
    command = compose_command()
    if command is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed")
    files = ["--project-directory", str(probe), "-f", str(probe / "docker-compose.yml")]
    result = subprocess.run(
        [*command, *files, "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        pytest.skip(f"compose cannot validate files on this machine: {result.stderr.strip()}")


# --- docker-compose.yml: redis -----------------------------------------------------------


def test_redis_persists_with_aof_fsync_every_second() -> None:
    """Redis runs with the append-only file, fsynced every second."""
    command = command_text(service("redis"))
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command


def test_redis_refuses_writes_instead_of_evicting() -> None:
    """Redis never evicts keys: maxmemory-policy noeviction."""
    assert "--maxmemory-policy noeviction" in command_text(service("redis"))


def test_redis_requires_the_password_from_the_environment() -> None:
    """Redis requires a password, taken from REDIS_PASSWORD and mandatory."""
    command = command_text(service("redis"))
    assert re.search(r"--requirepass \$\{REDIS_PASSWORD:\?[^}]+\}", command), command


def test_redis_keeps_data_in_a_named_volume() -> None:
    """/data is a named volume declared at the top level."""
    volumes = [str(volume) for volume in service("redis").get("volumes", [])]
    data_volumes = [volume.split(":")[0] for volume in volumes if volume.split(":")[1] == "/data"]
    assert data_volumes, volumes
    assert data_volumes[0] in (compose().get("volumes") or {})


def test_redis_publishes_no_port() -> None:
    """Redis is reachable only over the compose network."""
    redis = service("redis")
    assert "ports" not in redis
    assert redis.get("network_mode") != "host"


def test_redis_healthcheck_pings_with_the_password() -> None:
    """The health check runs redis-cli ping, authenticated with REDIS_PASSWORD."""
    redis = service("redis")
    check = command_text(redis["healthcheck"], "test")
    assert "redis-cli" in check
    assert "ping" in check
    environment = redis.get("environment") or {}
    authenticated = "REDIS_PASSWORD" in check or "REDIS_PASSWORD" in str(
        environment.get("REDISCLI_AUTH", "")
    )
    assert authenticated, "redis-cli must authenticate (-a or REDISCLI_AUTH)"


# --- docker-compose.yml: relay -----------------------------------------------------------


def test_relay_reads_env_file_and_waits_for_healthy_redis() -> None:
    """The relay takes its settings from .env and starts once Redis is healthy."""
    relay = service("relay")
    env_file = relay["env_file"]
    assert (env_file if isinstance(env_file, list) else [env_file]) == [".env"]
    assert relay["depends_on"]["redis"]["condition"] == "service_healthy"


def test_relay_redis_url_points_at_the_redis_service_with_password() -> None:
    """RELAY_REDIS_URL reaches the redis service with REDIS_PASSWORD, database 0."""
    url = service("relay")["environment"]["RELAY_REDIS_URL"]
    assert url == "redis://:${REDIS_PASSWORD}@redis:6379/0"


def test_relay_is_published_on_loopback_only() -> None:
    """The relay's port is bound to the host's loopback, behind the TLS proxy."""
    ports = [str(port) for port in service("relay")["ports"]]
    assert ports == ["127.0.0.1:8080:8080"]


def test_relay_container_is_hardened() -> None:
    """Read-only root, tmpfs /tmp, no new privileges, no capabilities, graceful stop."""
    relay = service("relay")
    assert relay["read_only"] is True
    assert relay["tmpfs"] == ["/tmp"]  # noqa: S108  (a tmpfs mount, not a temporary file)
    assert "no-new-privileges:true" in relay["security_opt"]
    assert relay["cap_drop"] == ["ALL"]
    assert relay["restart"] == "unless-stopped"
    assert relay["stop_grace_period"] == "15s"
    assert relay["build"] == "."


def test_relay_has_a_healthcheck() -> None:
    """Either compose or the image's HEALTHCHECK checks the relay, and it is not disabled."""
    relay = service("relay")
    healthcheck = relay.get("healthcheck")
    if healthcheck is not None:
        assert not healthcheck.get("disable", False)
        assert "/readyz" in command_text(healthcheck, "test")
    else:
        assert final_stage("HEALTHCHECK"), "no healthcheck in compose nor in the Dockerfile"


def test_default_profile_runs_only_redis_and_relay() -> None:
    """Without a profile, compose starts Redis and the relay and nothing else."""
    default = {name for name, svc in compose()["services"].items() if not svc.get("profiles")}
    assert default == {"redis", "relay"}


def test_dev_profile_holds_mail_catcher_and_practice_client() -> None:
    """The dev profile adds mailpit (UI on loopback) and a practice client."""
    mailpit = service("mailpit")
    assert mailpit["profiles"] == ["dev"]
    assert mailpit["image"].startswith("axllent/mailpit")
    assert [str(port) for port in mailpit["ports"]] == ["127.0.0.1:8025:8025"]

    client = service("practice-client")
    assert client["profiles"] == ["dev"]
    assert client["entrypoint"] in (["practice-client"], "practice-client")
    assert command_text(client) == (
        "run --relay http://relay:8080 --token-file /run/secrets/practice_token"
        " --key-file /keys/practice.key --out /bookings"
    )
    mounts = {str(volume).split(":")[1] for volume in client["volumes"]}
    assert {"/keys", "/bookings"} <= mounts


def test_secrets_are_files_not_variables() -> None:
    """The signing key, the data keys and the practice token come from compose secrets:
    the relay reads them through *_FILE, the client through --token-file, and no secret
    value is interpolated into the file."""
    declared = compose()["secrets"]
    assert {name: spec["file"] for name, spec in declared.items()} == {
        "signing_key": "./secrets/signing_key",
        "data_keys": "./secrets/data_keys",
        "practice_token": "./secrets/practice_token",
    }
    relay, client = service("relay"), service("practice-client")
    assert set(relay["secrets"]) == {"signing_key", "data_keys"}
    assert relay["environment"]["RELAY_SIGNING_KEY_FILE"] == "/run/secrets/signing_key"
    assert relay["environment"]["RELAY_DATA_KEYS_FILE"] == "/run/secrets/data_keys"
    assert client["secrets"] == ["practice_token"]
    text = (ROOT / "docker-compose.yml").read_text()
    for name in ("RELAY_SIGNING_KEY", "RELAY_DATA_KEYS", "PRACTICE_TOKEN"):
        assert "${" + name not in text, name


def test_practice_client_uses_the_relay_image() -> None:
    """The practice client runs the same image the relay service builds."""
    assert service("practice-client")["image"] == service("relay")["image"]


def test_named_volumes_are_declared() -> None:
    """Every named volume a service mounts is declared at the top level."""
    declared = set(compose().get("volumes") or {})
    for name, definition in compose()["services"].items():
        for volume in definition.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_dev_profile_smtp_hint_is_documented() -> None:
    """The compose file tells how to point the relay at mailpit."""
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "RELAY_SMTP_URL=smtp://mailpit:1025" in text


# --- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_and_builds_a_wheel() -> None:
    """A builder stage builds the project's wheel; the final stage copies the result."""
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder_runs = " ".join(args for name, args in stages[0] if name == "RUN")
    assert "pip wheel" in builder_runs or "--prefix" in builder_runs
    assert any(args.startswith("--from=") for args in final_stage("COPY"))


def test_dockerfile_installs_exactly_the_relay_lock() -> None:
    """The image gets requirements/relay.lock with every hash checked, wheels only, and the
    project's own wheel without dependencies, built with the lock's setuptools."""
    commands = [
        command.strip()
        for name, args in dockerfile_stages()[0]
        if name == "RUN"
        for command in args.split("&&")
        if command.strip().startswith("pip ")
    ]
    from_lock = [command for command in commands if "-r requirements/relay.lock" in command]
    assert any("--prefix /install" in command for command in from_lock), commands
    for command in from_lock:
        for option in ("--require-hashes", "--no-deps", "--only-binary :all:"):
            assert option in command, (option, command)
    for command in commands:
        assert command in from_lock or "--no-deps" in command, command
        if command.startswith("pip install") and command not in from_lock:
            assert "--no-index" in command, command
        if command.startswith("pip wheel"):
            assert "--no-build-isolation" in command, command
    assert (ROOT / "requirements" / "relay.lock").is_file()


def test_dockerfile_final_stage_is_python_slim_without_build_tools() -> None:
    """The final stage starts FROM python:3.11-slim and installs no compilers."""
    assert final_stage("FROM")[0].split()[0] == "python:3.11-slim"
    runs = " ".join(final_stage("RUN"))
    for tool in ("apt-get install", "gcc", "build-essential", "pip wheel"):
        assert tool not in runs


def test_dockerfile_runs_as_non_root_user() -> None:
    """The final stage switches to uid 10001, not root."""
    users = final_stage("USER")
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user in ("10001", "relay")
    assert "--uid 10001" in " ".join(final_stage("RUN"))


def test_dockerfile_healthcheck_asks_readyz_with_python() -> None:
    """HEALTHCHECK calls /readyz through Python's urllib (slim has no curl)."""
    checks = final_stage("HEALTHCHECK")
    assert len(checks) == 1
    assert "/readyz" in checks[0]
    assert "urllib" in checks[0]
    assert "curl" not in checks[0]


def test_dockerfile_entrypoint_and_runtime_settings() -> None:
    """ENTRYPOINT relay, CMD serve, listening on all interfaces, port 8080, SIGTERM."""
    assert json.loads(final_stage("ENTRYPOINT")[-1]) == ["relay"]
    assert json.loads(final_stage("CMD")[-1]) == ["serve"]
    environment = " ".join(final_stage("ENV"))
    assert "RELAY_HOST=0.0.0.0" in environment
    assert "PYTHONUNBUFFERED=1" in environment
    assert final_stage("EXPOSE") == ["8080"]
    assert final_stage("STOPSIGNAL") == ["SIGTERM"]


def test_dockerignore_keeps_secrets_and_caches_out_of_the_context() -> None:
    """.dockerignore excludes .git, .venv, .env, caches and test artifacts."""
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for pattern in (".git", ".venv", ".env", "**/__pycache__", ".pytest_cache", "test-artifacts"):
        assert pattern in patterns, pattern


# --- .env.example ----------------------------------------------------------------------


def test_env_example_names_every_spec_setting() -> None:
    """Every RELAY_* variable of the SPEC settings table appears in .env.example."""
    names = spec_settings()
    assert "RELAY_REDIS_URL" in names  # the parse found the table
    missing = [name for name in names if name not in env_example_assignments()]
    assert not missing, missing


def test_env_example_names_the_extra_settings() -> None:
    """The settings beyond the SPEC table and the compose variables appear too."""
    missing = [name for name in EXTRA_SETTINGS if name not in env_example_assignments()]
    assert not missing, missing


def test_env_example_comments_every_setting() -> None:
    """Each setting's first line is preceded by a comment explaining it."""
    lines = [line.strip() for line in env_example_lines()]
    seen: set[str] = set()
    for index, line in enumerate(lines):
        match = ASSIGNMENT.match(line)
        if not match or match.group(2) in seen:
            continue
        seen.add(match.group(2))
        previous = lines[index - 1] if index else ""
        is_explanation = previous.startswith("#") and not ASSIGNMENT.match(previous)
        assert is_explanation, f"{match.group(2)} has no comment line above it"


def test_env_example_holds_no_secrets() -> None:
    """Keys, passwords and tokens are left empty; keys say how to generate them."""
    assignments = env_example_assignments()
    for name in SECRETS:
        active, value = assignments[name]
        assert active
        assert value == "", f"{name} must be empty in .env.example"
    text = "\n".join(env_example_lines())
    for name in ("RELAY_SIGNING_KEY", "RELAY_DATA_KEYS"):
        block = text.split(f"\n{name}=", 1)[0].rsplit("\n\n", 1)[-1]
        assert KEYS_COMMAND in block, name


def test_env_example_does_not_bind_the_container_to_loopback() -> None:
    """An active RELAY_HOST would override the image's 0.0.0.0; loopback is unreachable."""
    active, value = env_example_assignments()["RELAY_HOST"]
    assert not (active and value.startswith(("127.", "localhost", "::1")))


# --- docker compose config ---------------------------------------------------------------


@pytest.mark.usefixtures("compose_parses_without_engine")
def test_compose_config_validates_with_example_env(tmp_path: Path) -> None:
    """`docker compose config -q` accepts the file with .env.example's values filled in."""
    result = run_compose_config(tmp_path, dummy_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.usefixtures("compose_parses_without_engine")
def test_compose_config_refuses_missing_redis_password(tmp_path: Path) -> None:
    """Without REDIS_PASSWORD compose stops with a message naming it."""
    env_text = "\n".join(
        line for line in dummy_env().splitlines() if not line.startswith("REDIS_PASSWORD=")
    )
    result = run_compose_config(tmp_path, env_text + "\n")
    assert result.returncode != 0
    assert "REDIS_PASSWORD" in result.stderr

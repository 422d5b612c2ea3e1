"""Scenario files, configuration files and environment variables of any content: either
accepted, or refused with one clear line and exit 2 (input) or 78 (configuration); never a
traceback, and a secret given in any of them never shows in any output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medrical.config import ENV_ALIASES
from tests.properties.invariants import assert_clean
from tests.unit.cli_harness import isolate_cli, run_cli

SECRET = "Zq7-s3cret-Kx"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


scalar = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.sampled_from(["[::1", "http://[::1", "postgresql://u:1234/x@h/db", "port=²", "${x}"]),
)
toml_value = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def toml_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return (
            '"'
            + "".join(
                c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value
            )
            + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_literal(k)} = {toml_literal(v)}" for k, v in value.items()) + "}"


# --- scenario files ---------------------------------------------------------------------------

SCENARIO_KEYS = ["name", "description", "mix_weight", "oxygen_target_spo2", "phases", "insults"]


@given(
    table=st.dictionaries(st.sampled_from(SCENARIO_KEYS), toml_value, max_size=5),
    junk=st.one_of(st.just(""), st.text(max_size=30)),
)
def test_scenario_files(tmp_path: Path, table: dict[str, object], junk: str) -> None:
    path = tmp_path / "scenario.toml"
    lines = [f"{key} = {toml_literal(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n" + junk, encoding="utf-8")
    outcome = run_cli(
        "produce", "--dry-run", "--count", "2", "--patients", "1", "--scenario-file", str(path)
    )
    assert_clean(outcome, frozenset({0, 2}))


@given(content=st.binary(max_size=200))
def test_scenario_files_of_any_bytes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "scenario.toml"
    path.write_bytes(content)
    outcome = run_cli("produce", "--dry-run", "--count", "1", "--scenario-file", str(path))
    assert_clean(outcome, frozenset({0, 2}))


# --- configuration files ----------------------------------------------------------------------

SECTIONS = {
    "kafka": ["bootstrap_servers", "security_protocol", "sasl_password", "extra"],
    "registry": ["url", "basic_auth_user_info"],
    "connect": ["url", "basic_auth_user_info"],
    "postgres": ["dsn", "host", "port", "password", "database"],
    "stack": ["kafka_port", "registry_port", "kafka_heap_mb", "home"],
}
setting = st.sampled_from([(s, f) for s, fields in SECTIONS.items() for f in fields])


@given(settings=st.dictionaries(setting, toml_value, max_size=4))
def test_config_files(tmp_path: Path, settings: dict[tuple[str, str], object]) -> None:
    tables: dict[str, list[str]] = {}
    for (section, field), value in settings.items():
        tables.setdefault(section, []).append(f"{field} = {toml_literal(value)}")
    # A secret in its own setting: it must never be printed.
    tables.setdefault("postgres", []).append(f'password = "{SECRET}"') if (
        "postgres",
        "password",
    ) not in settings else None
    path = tmp_path / "config.toml"
    path.write_text(
        "".join(f"[{name}]\n" + "\n".join(body) + "\n" for name, body in tables.items()),
        encoding="utf-8",
    )
    path.chmod(0o600)
    for command in (["config", "show"], ["connector", "show-config"]):
        outcome = run_cli("--config", str(path), *command)
        assert_clean(outcome, frozenset({0, 2, 78}))
        assert SECRET not in outcome.stdout + outcome.stderr


# --- environment variables --------------------------------------------------------------------

env_name = st.one_of(
    st.sampled_from(sorted(ENV_ALIASES)),
    st.sampled_from(["DATABASE_URL", "MEDRICAL_DASHBOARD_TOKEN", "MEDRICAL_ALLOW_EXPOSED_SECRETS"]),
    st.builds(
        lambda s, f: f"MEDRICAL_{s}__{f}".upper(),
        st.sampled_from(sorted(SECTIONS)),
        st.sampled_from(sorted({f for fields in SECTIONS.values() for f in fields})),
    ),
)
env_value = scalar.map(str).map(lambda text: text.replace("\x00", ""))
# Where a secret goes in the environment: each of these must be masked wherever it is shown.
SECRET_CARRIERS = {
    "KAFKA_SASL_PASSWORD": SECRET,
    "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": f"user:{SECRET}",
    "KAFKA_CONNECT_BASIC_AUTH_USER_INFO": f"user:{SECRET}",
    "DATABASE_URL": f"postgresql://user:{SECRET}@db.example.com:5432/medrical",
    "KAFKA_CONNECT_URL": f"https://user:{SECRET}@connect.example.com",
    "MEDRICAL_POSTGRES__PASSWORD": SECRET,
}


@given(
    environment=st.dictionaries(env_name, env_value, max_size=4),
    secrets=st.lists(st.sampled_from(sorted(SECRET_CARRIERS)), max_size=2, unique=True),
)
def test_environment_variables(environment: dict[str, str], secrets: list[str]) -> None:
    environment = {**environment, **{name: SECRET_CARRIERS[name] for name in secrets}}
    for command in (["config", "show"], ["produce", "--dry-run", "--count", "1"]):
        outcome = run_cli(*command, env=environment)
        assert_clean(outcome, frozenset({0, 2, 78}))
        assert SECRET not in outcome.stdout + outcome.stderr

"""`medrical configure ssl --settings` and `medrical configure from-stack`: one step from the
Aiven trio (or the TLS stack's client files) to a working configuration."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.config import StackSettings
from medrical.config.store import render_toml
from medrical.errors import ExitCode
from medrical.stack import rendering
from medrical.stack.layout import StackLayout
from medrical.stack.manager import CLIENT_CONFIG_SASL_SSL
from medrical.stack.tls import ensure_stack_certificates
from tests.unit.cli_harness import isolate_cli, run_cli


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


def run(*args: str) -> tuple[int, str, str]:
    outcome = run_cli(*args)
    return outcome.code, outcome.stdout, outcome.stderr


def _stack_client(home: Path) -> StackLayout:
    """The client folder `stack up --tls` writes, without starting anything."""
    settings = StackSettings(home=home, tls=True)
    layout = StackLayout.of(settings)
    ensure_stack_certificates(layout.tls, layout.client, ("ca.pem", "service.cert", "service.key"))
    for protocol, name in (("SSL", "medrical-ssl.toml"), ("SASL_SSL", CLIENT_CONFIG_SASL_SSL)):
        tree = rendering.client_settings(
            settings,
            protocol=protocol,
            ca=layout.client / "ca.pem",
            cert=layout.client / "service.cert",
            key=layout.client / "service.key",
            sasl_password="sasl-secret",
            registry_password="registry-secret",
            connect_password="connect-secret",
        )
        path = layout.client / name
        path.write_text(render_toml(tree), encoding="utf-8")
        path.chmod(0o600)
    return layout


def test_configure_ssl_with_settings_merges_them_and_points_at_the_copies(
    config_dir: Path, tmp_path: Path
) -> None:
    layout = _stack_client(tmp_path / "stack")
    client = layout.client
    code, _out, err = run(
        "configure",
        "ssl",
        "--ca",
        str(client / "ca.pem"),
        "--cert",
        str(client / "service.cert"),
        "--key",
        str(client / "service.key"),
        "--settings",
        str(client / "medrical-ssl.toml"),
    )
    assert code == 0, err
    saved = tomllib.loads((config_dir / "config.toml").read_text(encoding="utf-8"))
    copies = config_dir / "ssl"
    assert saved["kafka"]["security_protocol"] == "SSL"
    assert saved["kafka"]["ssl_key_location"] == str(copies / "service.key")
    assert saved["registry"]["ssl_ca_location"] == str(copies / "ca.pem")
    assert saved["postgres"]["sslrootcert"] == str(copies / "ca.pem")
    assert saved["registry"]["basic_auth_user_info"] == "medrical:registry-secret"
    assert stat.S_IMODE((config_dir / "config.toml").stat().st_mode) == 0o600
    assert "registry-secret" not in err


def test_configure_from_stack_sasl_ssl_then_show_masks_the_passwords(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _stack_client(tmp_path / "stack")
    monkeypatch.setenv("MEDRICAL_STACK__HOME", str(layout.home))
    code, _out, err = run("configure", "from-stack", "--sasl-ssl")
    assert code == 0, err
    code, out, err = run("config", "show", "--json")
    assert code == 0, err
    settings = json.loads(out)["settings"]
    assert settings["kafka.security_protocol"]["value"] == "SASL_SSL"
    assert settings["kafka.sasl_mechanism"]["value"] == "SCRAM-SHA-512"
    assert settings["kafka.sasl_password"]["value"] == "********"
    assert settings["kafka.ssl_ca_location"]["value"] == str(config_dir / "ssl" / "ca.pem")
    assert "sasl-secret" not in out
    assert "registry-secret" not in out


def test_configure_from_stack_without_a_tls_stack_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDRICAL_STACK__HOME", str(tmp_path / "nowhere"))
    code, _out, err = run("configure", "from-stack")
    assert code == ExitCode.CONFIG
    assert "medrical stack up --tls" in err
    assert "Traceback" not in err

"""Who may reach the dashboard: loopback by default; any other address needs an access token
that the user sets in the environment (never on a command line), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping

from pydantic import SecretStr

from medrical.errors import ConfigError

TOKEN_ENV = "MEDRICAL_DASHBOARD_TOKEN"  # noqa: S105 (the variable's name, not a token)
SESSION_COOKIE = "medrical_dashboard_session"
MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, environ: Mapping[str, str] | None = None) -> SecretStr | None:
    """The access token from the environment; required (and checked) off loopback."""
    env = os.environ if environ is None else environ
    value = env.get(TOKEN_ENV, "")
    if not value:
        if is_loopback(host):
            return None
        raise ConfigError(
            f"the dashboard would listen on {host}, beyond this machine, without an access token.",
            setting=TOKEN_ENV,
            hint=f"Set {TOKEN_ENV} in the environment to a random string of at least "
            f"{MIN_TOKEN_CHARS} characters (e.g. `export {TOKEN_ENV}=$(openssl rand -hex 24)`), "
            "or keep the default --host 127.0.0.1.",
        )
    if len(value) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{TOKEN_ENV} is shorter than {MIN_TOKEN_CHARS} characters.",
            setting=TOKEN_ENV,
            hint="Use a long random string, e.g. from `openssl rand -hex 24`.",
        )
    return SecretStr(value)


def token_matches(given: str, expected: SecretStr) -> bool:
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def session_value(token: SecretStr) -> str:
    """What the session cookie holds: derived from the token, so the cookie is not the token."""
    return hmac.new(
        token.get_secret_value().encode(), b"medrical-dashboard-session", hashlib.sha256
    ).hexdigest()


def session_matches(cookie: str, token: SecretStr) -> bool:
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())

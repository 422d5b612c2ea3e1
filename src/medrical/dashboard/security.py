"""Who may reach the dashboard, and what it accepts from them.

- Loopback by default; any other address needs an access token that the user sets in the
  environment (never on a command line), compared in constant time. The login exchanges it
  for a session cookie that expires, and failed logins are throttled.
- Every state-changing request (any method but GET, HEAD, OPTIONS) must come from the
  dashboard's own pages: a browser's `Sec-Fetch-Site` must say same-origin, an `Origin` must be
  the dashboard's own, and the body must be JSON (which no cross-site form can send without a
  CORS preflight, and the dashboard answers none). Alert ids are deterministic by design
  (UUIDv5, for de-duplication), so none of this relies on an id being secret.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from pydantic import SecretStr
from starlette.datastructures import Headers

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


SESSION_MAX_AGE_S = 12 * 3600
"""A session lasts one shift; then the token is asked for again."""


def session_value(token: SecretStr, now: float | None = None) -> str:
    """What the session cookie holds: when it was issued and a MAC of that under the token, so
    the cookie is not the token and its age is checked by the server, not only the browser."""
    issued = str(int(time.time() if now is None else now))
    return f"{issued}.{_session_mac(token, issued)}"


def _session_mac(token: SecretStr, issued: str) -> str:
    message = b"medrical-dashboard-session:" + issued.encode()
    return hmac.new(token.get_secret_value().encode(), message, hashlib.sha256).hexdigest()


def session_matches(cookie: str, token: SecretStr, now: float | None = None) -> bool:
    issued, _, mac = cookie.partition(".")
    if not issued.isascii() or not issued.isdigit() or len(issued) > 12:
        return False
    if not hmac.compare_digest(mac.encode(), _session_mac(token, issued).encode()):
        return False
    age = (time.time() if now is None else now) - int(issued)
    return 0 <= age < SESSION_MAX_AGE_S


# --- logins ------------------------------------------------------------------------------------


class LoginThrottle:
    """At most `attempts` failed logins in any `window_s` seconds, for the whole server: the
    dashboard is one ward's, and a guesser may come from any address. A correct token still
    needs a free slot, so that a throttled guesser learns nothing."""

    def __init__(
        self,
        attempts: int = 5,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def retry_after_s(self) -> int:
        """0 when a login may be tried now, else the whole seconds to wait."""
        with self._lock:
            now = self._clock()
            while self._failures and now - self._failures[0] >= self.window_s:
                self._failures.popleft()
            if len(self._failures) < self.attempts:
                return 0
            return max(1, int(self.window_s - (now - self._failures[0]) + 0.999))

    def failed(self) -> None:
        with self._lock:
            self._failures.append(self._clock())


# --- cross-site writes -------------------------------------------------------------------------

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cross_site_refusal(method: str, headers: Headers) -> tuple[int, str] | None:
    """Why a request may not change anything, as (HTTP status, detail), or None if it may."""
    if method.upper() in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() != "same-origin":
        return 403, f"cross-site request refused (Sec-Fetch-Site: {site[:40]})"
    origin = headers.get("origin")
    # The scheme is not compared: behind a proxy that ends TLS, the page is https and the
    # server sees http. Host and port are, and the Host header is itself checked (DNS
    # rebinding) before this.
    if origin is not None and origin.lower().partition("://")[2] != headers.get("host", "").lower():
        return 403, "cross-site request refused (Origin is not this dashboard)"
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return 415, "a request that changes something must send its body as application/json"
    return None

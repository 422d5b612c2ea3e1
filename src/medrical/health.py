"""Reach each configured service once and say whether it answers, and if not, why.

Every probe is bounded by a timeout of a few seconds, and the four run side by side, so that a
check of an entirely unreachable setup takes about one timeout, not four.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from medrical.config import (
    ConnectSettings,
    KafkaSettings,
    MedricalConfig,
    PostgresSettings,
    RegistrySettings,
    mask_url,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


class Problem(StrEnum):
    """What kind of failure a check met; each points the user at a different fix."""

    UNREACHABLE = "unreachable"
    AUTH = "authentication failed"
    TLS = "TLS failure"
    PROTOCOL = "unexpected answer"


@dataclass(frozen=True)
class CheckResult:
    service: str
    target: str
    ok: bool
    detail: str
    problem: Problem | None = None
    elapsed_s: float = 0.0


def check_all(
    config: MedricalConfig,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    allow_exposed_secrets: bool | None = None,
) -> list[CheckResult]:
    """Check Kafka, the schema registry, Kafka Connect and PostgreSQL, in that order.

    `allow_exposed_secrets` (None: as MEDRICAL_ALLOW_EXPOSED_SECRETS says) lets Kafka's check
    use a client key other users can read.
    """
    probes: list[Callable[[], CheckResult]] = [
        lambda: check_kafka(config.kafka, timeout_s, allow_exposed_secrets=allow_exposed_secrets),
        lambda: check_registry(config.registry, timeout_s),
        lambda: check_connect(config.connect, timeout_s),
        lambda: check_postgres(config.postgres, timeout_s),
    ]
    with ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="check") as pool:
        futures = [pool.submit(probe) for probe in probes]
        return [future.result() for future in futures]


def _timed(
    service: str, target: str, probe: Callable[[], tuple[bool, str, Problem | None]]
) -> CheckResult:
    started = time.monotonic()
    ok, detail, problem = probe()
    return CheckResult(service, target, ok, detail, problem, time.monotonic() - started)


# --- Kafka -------------------------------------------------------------------------------------


class LibrdkafkaDebugLog:
    """Receives librdkafka's own log lines, which would otherwise go straight to stderr and
    repeat every reconnect attempt; they stay available at debug level."""

    def log(self, level: int, message: str, *args: Any) -> None:
        logger.debug("librdkafka: " + message, *args)


def check_kafka(
    settings: KafkaSettings,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    allow_exposed_secrets: bool | None = None,
) -> CheckResult:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[Any] = []
    timeout_ms = str(int(timeout_s * 1000))
    conf: dict[str, Any] = dict(settings.client_config())
    conf.update(
        {
            "socket.connection.setup.timeout.ms": timeout_ms,
            "socket.timeout.ms": timeout_ms,
            "error_cb": errors.append,
            "logger": LibrdkafkaDebugLog(),
        }
    )
    target = settings.bootstrap_servers or ""

    def probe() -> tuple[bool, str, Problem | None]:
        from medrical.client_certificates import check_client_files
        from medrical.errors import ConfigError

        try:
            # An expired, unreadable or mismatched client certificate is named as such.
            check_client_files(settings, allow_exposed=allow_exposed_secrets)
        except ConfigError as exc:
            return False, str(exc), Problem.TLS
        try:
            admin = AdminClient(conf)
        except KafkaException as exc:
            return False, f"invalid client configuration: {exc.args[0].str()}", Problem.PROTOCOL
        try:
            metadata = admin.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            admin.poll(0)  # delivers the error callbacks that say why
            return _explain_kafka(exc.args[0], errors, KafkaError)
        brokers = len(metadata.brokers)
        topics = len(metadata.topics)
        return True, f"{brokers} broker(s), {topics} topic(s)", None

    return _timed("kafka", target, probe)


def _explain_kafka(
    failure: Any, errors: list[Any], kafka_error: Any
) -> tuple[bool, str, Problem | None]:
    causes = [error for error in errors if error.code() != kafka_error._ALL_BROKERS_DOWN]
    cause = causes[0] if causes else failure
    codes = {error.code() for error in [*errors, failure]}
    text = cause.str()
    if codes & {kafka_error._AUTHENTICATION, kafka_error.SASL_AUTHENTICATION_FAILED}:
        return False, text, Problem.AUTH
    if kafka_error._SSL in codes or "SSL" in text:
        return False, text, Problem.TLS
    return False, text, Problem.UNREACHABLE


# --- HTTP services -----------------------------------------------------------------------------


def _http_client(url: str, user_info: str | None, ca: str | None, timeout_s: float) -> httpx.Client:
    auth = None
    if user_info:
        user, _, password = user_info.partition(":")
        auth = httpx.BasicAuth(user, password)
    verify: ssl.SSLContext | bool = True
    if ca:
        verify = ssl.create_default_context(cafile=ca)
    return httpx.Client(auth=auth, verify=verify, timeout=timeout_s, follow_redirects=True)


def _http_get(
    url: str, user_info: str | None, ca: str | None, timeout_s: float
) -> tuple[httpx.Response | None, str, Problem | None]:
    try:
        with _http_client(url, user_info, ca, timeout_s) as client:
            response = client.get(url)
    except httpx.ConnectError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLError) or "SSL" in str(exc) or "certificate" in str(exc):
            return None, _first_line(exc), Problem.TLS
        return None, _first_line(exc), Problem.UNREACHABLE
    except httpx.TimeoutException:
        return None, f"no answer within {timeout_s:g} s", Problem.UNREACHABLE
    except httpx.HTTPError as exc:
        return None, _first_line(exc), Problem.UNREACHABLE
    if response.status_code in (401, 403):
        return (
            response,
            f"HTTP {response.status_code}: check the basic-auth user info",
            Problem.AUTH,
        )
    if response.status_code >= 400:
        return response, f"HTTP {response.status_code} from {mask_url(url)}", Problem.PROTOCOL
    return response, "", None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def check_registry(settings: RegistrySettings, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    base = (settings.url or "").rstrip("/")
    user_info = (
        settings.basic_auth_user_info.get_secret_value() if settings.basic_auth_user_info else None
    )
    ca = str(settings.ssl_ca_location) if settings.ssl_ca_location else None

    def probe() -> tuple[bool, str, Problem | None]:
        response, detail, problem = _http_get(f"{base}/subjects", user_info, ca, timeout_s)
        if response is None or problem is not None:
            return False, detail, problem
        try:
            subjects = response.json()
        except ValueError:
            subjects = None
        if not isinstance(subjects, list):
            return False, "the answer to GET /subjects is not a list of subjects", Problem.PROTOCOL
        rule = _compatibility(base, user_info, ca, timeout_s)
        return True, f"{len(subjects)} subject(s), {rule}", None

    return _timed("schema registry", mask_url(base), probe)


def _compatibility(base: str, user_info: str | None, ca: str | None, timeout_s: float) -> str:
    """The registry's global compatibility rule, as `config check` reports it; a registry that
    does not say (no such endpoint, or it is for administrators only) is not failed for it."""
    from medrical.schemas import COMPATIBILITY

    response, detail, _problem = _http_get(f"{base}/config", user_info, ca, timeout_s)
    level = None
    if response is not None and response.status_code < 400:
        try:
            level = response.json().get("compatibilityLevel")
        except (ValueError, AttributeError):
            level = None
    if not isinstance(level, str):
        return f"compatibility rule unknown ({detail or 'GET /config gave no level'})"
    if level.upper() == "NONE":
        return f"compatibility NONE: any schema change is accepted (set {COMPATIBILITY})"
    return f"compatibility {level}"


def check_connect(settings: ConnectSettings, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    base = (settings.url or "").rstrip("/")
    user_info = (
        settings.basic_auth_user_info.get_secret_value() if settings.basic_auth_user_info else None
    )
    ca = str(settings.ssl_ca_location) if settings.ssl_ca_location else None

    def probe() -> tuple[bool, str, Problem | None]:
        response, detail, problem = _http_get(f"{base}/", user_info, ca, timeout_s)
        if response is None or problem is not None:
            return False, detail, problem
        try:
            info = response.json()
        except ValueError:
            info = None
        if not isinstance(info, dict) or "version" not in info:
            return False, "the answer to GET / does not look like Kafka Connect", Problem.PROTOCOL
        return True, f"Kafka Connect {info['version']}", None

    return _timed("kafka connect", mask_url(base), probe)


# --- PostgreSQL --------------------------------------------------------------------------------


def check_postgres(settings: PostgresSettings, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    import psycopg

    kwargs = settings.connect_kwargs()
    # libpq's connect_timeout counts whole seconds and treats values below 2 as 2.
    kwargs["connect_timeout"] = max(2, round(timeout_s))
    target = f"{settings.host}:{settings.port}/{settings.database}"

    def probe() -> tuple[bool, str, Problem | None]:
        try:
            with psycopg.connect(**kwargs) as connection:
                version = connection.execute("SHOW server_version").fetchone()
        except psycopg.OperationalError as exc:
            return False, *_explain_postgres(exc)
        except psycopg.Error as exc:
            return False, _first_line(exc), Problem.PROTOCOL
        shown = version[0] if version else "unknown"
        return True, f"PostgreSQL {shown}", None

    return _timed("postgresql", target, probe)


def _explain_postgres(exc: Exception) -> tuple[str, Problem]:
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "password" in lowered or "authentication" in lowered or "role" in lowered:
        return text, Problem.AUTH
    if "ssl" in lowered or "certificate" in lowered:
        return text, Problem.TLS
    return text, Problem.UNREACHABLE

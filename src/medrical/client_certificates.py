"""The configured Kafka client certificate and key, checked before any connection: a pair that
cannot work is refused naming the setting and the reason, so that no client waits for a
handshake that must fail."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
from pathlib import Path

from medrical.config import KafkaSettings
from medrical.errors import ConfigError

log = logging.getLogger(__name__)

# Set to 1 to use a key or password file other users can read (refused otherwise).
ALLOW_EXPOSED_SECRETS_ENV = "MEDRICAL_ALLOW_EXPOSED_SECRETS"


def exposed_secrets_allowed() -> bool:
    return os.environ.get(ALLOW_EXPOSED_SECRETS_ENV, "").strip().lower() in ("1", "true", "yes")


def refuse_exposed(path: Path, setting: str, *, allow: bool | None = None) -> None:
    """A secret file readable or writable by other users is refused, unless allowed."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    if allow if allow is not None else exposed_secrets_allowed():
        log.warning("%s %s can be read by other users (allowed)", setting, path)
        return
    raise ConfigError(
        f"{setting} {path} can be read by other users (mode {stat.S_IMODE(mode):o}).",
        setting=setting,
        hint=f"Restrict it with `chmod 600 {path}`, or accept the risk with "
        f"--allow-exposed-secrets ({ALLOW_EXPOSED_SECRETS_ENV}=1).",
    )


def check_client_files(
    settings: KafkaSettings, *, now: dt.datetime | None = None, allow_exposed: bool | None = None
) -> None:
    """Refuse a client certificate or key that cannot work, with the setting and the reason:
    unreadable, not PEM, encrypted with another password, expired, or not a pair."""
    if not settings.uses_tls:
        return
    cert_path, key_path = settings.ssl_certificate_location, settings.ssl_key_location
    if key_path is None and cert_path is None:
        return
    if key_path is None or cert_path is None:
        missing = "kafka.ssl_key_location" if key_path is None else "kafka.ssl_certificate_location"
        raise ConfigError(
            f"{missing} is not set, but the other half of the client certificate is.",
            setting=missing,
            hint="Give both the certificate (service.cert) and its key (service.key).",
        )
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from medrical.config.ssl_files import key_matches

    key_bytes = _read(key_path, "kafka.ssl_key_location")
    refuse_exposed(key_path, "kafka.ssl_key_location", allow=allow_exposed)
    cert_bytes = _read(cert_path, "kafka.ssl_certificate_location")
    password = settings.ssl_key_password
    try:
        key = serialization.load_pem_private_key(
            key_bytes, password.get_secret_value().encode() if password else None
        )
    except TypeError:
        raise ConfigError(
            f"kafka.ssl_key_location {key_path} is encrypted and kafka.ssl_key_password is "
            "not set (or the key is not encrypted and a password is set).",
            setting="kafka.ssl_key_password",
            hint="Set kafka.ssl_key_password (`medrical configure --ssl-key-password-file`).",
        ) from None
    except ValueError:
        raise ConfigError(
            f"kafka.ssl_key_location {key_path} is not a readable PEM private key "
            "(or kafka.ssl_key_password does not open it).",
            setting="kafka.ssl_key_location",
            hint="Give the service.key file your Kafka provider handed out.",
        ) from None
    try:
        cert = x509.load_pem_x509_certificate(cert_bytes)
    except ValueError:
        raise ConfigError(
            f"kafka.ssl_certificate_location {cert_path} is not a PEM certificate.",
            setting="kafka.ssl_certificate_location",
            hint="Give the service.cert file your Kafka provider handed out.",
        ) from None
    moment = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= moment:
        raise ConfigError(
            f"the client certificate {cert_path} expired on "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC.",
            setting="kafka.ssl_certificate_location",
            hint="Download a new one from your Kafka provider (or run `medrical stack up "
            "--tls` again for the local stack), then `medrical configure ssl`.",
        )
    if cert.not_valid_before_utc > moment:
        raise ConfigError(
            f"the client certificate {cert_path} is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
            setting="kafka.ssl_certificate_location",
            hint="Check this machine's clock.",
        )
    if not key_matches(cert, key):
        raise ConfigError(
            f"the client key {key_path} does not belong to the certificate {cert_path}.",
            setting="kafka.ssl_key_location",
            hint="Give the service.key that came with that service.cert.",
        )


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{setting} {path} cannot be read: {exc.strerror or exc}.",
            setting=setting,
            hint="Check the path and its permissions, or run `medrical configure ssl`.",
        ) from None

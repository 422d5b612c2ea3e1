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
    from medrical.config import ssl_files

    key_source = ssl_files.key_file(key_path, configured=True)
    cert_source = ssl_files.certificate_file(cert_path, configured=True)
    key_bytes = key_source.read()
    refuse_exposed(key_path, key_source.setting, allow=allow_exposed)
    key = ssl_files.private_key(key_source, key_bytes, settings.ssl_key_password)
    cert = ssl_files.certificates(cert_source, cert_source.read())[0]
    ssl_files.check_current(cert_source, cert, now)
    ssl_files.check_pair(cert_source, cert, key_source, key)

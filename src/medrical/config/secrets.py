"""Which settings hold secrets, and remembering their values so that no message shows them."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from pydantic import SecretStr

from medrical.config.model import SECTIONS, MedricalConfig
from medrical.redaction import remember_secret

_SECRET_FIELDS = {
    "kafka.sasl_password",
    "kafka.ssl_key_password",
    "registry.basic_auth_user_info",
    "connect.basic_auth_user_info",
    "postgres.password",
    "postgres.dsn",
}
# librdkafka pass-through properties: by a word in their name, and those whose value embeds
# credentials under a harmless name (sasl.oauthbearer.config holds clientSecret=...).
_SECRET_WORDS = ("password", "secret", "token", "credential", "jaas", "pem", "user.info")
_SECRET_PROPERTIES = {"sasl.oauthbearer.config"}


def is_secret_setting(setting: str) -> bool:
    """Whether a dotted setting name holds a secret (including librdkafka pass-through ones)."""
    if setting in _SECRET_FIELDS:
        return True
    if setting.startswith("kafka.extra."):
        name = setting.removeprefix("kafka.extra.").lower()
        return name in _SECRET_PROPERTIES or any(word in name for word in _SECRET_WORDS)
    return False


def secret_values(config: MedricalConfig) -> Iterator[str]:
    """Every secret the configuration holds, and the passwords inside its URLs."""
    for section_name in SECTIONS:
        section = getattr(config, section_name)
        for field in type(section).model_fields:
            value = getattr(section, field)
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                yield secret
                if field == "basic_auth_user_info":
                    yield secret.partition(":")[2]
            elif isinstance(value, dict):
                for key, item in value.items():
                    if is_secret_setting(f"{section_name}.{field}.{key}"):
                        yield str(item)
            elif isinstance(value, str) and "@" in value:
                try:
                    password = urlsplit(value).password
                except ValueError:
                    continue
                if password:
                    yield password


def remember_config_secrets(config: MedricalConfig) -> None:
    """From now on, mask this configuration's secrets in every message and log line."""
    for secret in secret_values(config):
        remember_secret(secret)
    # The local stack's password lives in a file; a library may still quote it back.
    remember_secret(config.postgres.resolved_password())

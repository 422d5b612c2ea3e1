"""Medrical's configuration, one concern a module.

- `model`: the typed model (sections, fields, validation);
- `paths`: where the configuration, the stack and the downloads live;
- `sources`: defaults < TOML file < environment < flags, each value with its origin;
- `dsn`: PostgreSQL connection strings, parsed by libpq;
- `secrets`: which settings hold secrets; `medrical.redaction` masks them in every message;
- `display`: the effective settings as `config show` prints them;
- `store` (tomlkit) and `ssl_files` (cryptography): writing the file and the client's TLS
  files; imported by the commands that write, so that reading stays cheap.
"""

from medrical.config.display import SettingView, describe_config
from medrical.config.dsn import parse_postgres_dsn
from medrical.config.model import (
    KAFKA_BROKERS_FILE,
    LOOPBACK,
    SECTIONS,
    STACK_BROKER_COUNTS,
    STACK_NODE_PORT_FIELDS,
    STACK_PORT_FIELDS,
    ConnectSettings,
    KafkaPortKind,
    KafkaSettings,
    MedricalConfig,
    PostgresSettings,
    RegistrySettings,
    SaslMechanism,
    SecurityProtocol,
    SslMode,
    StackSettings,
)
from medrical.config.paths import (
    SSL_CA_FILE,
    SSL_CERT_FILE,
    SSL_DIR_NAME,
    SSL_KEY_FILE,
    config_file_path,
    default_cache_dir,
    default_config_dir,
    default_stack_home,
    ssl_dir_for,
)
from medrical.config.secrets import is_secret_setting
from medrical.config.sources import (
    DATABASE_URL_ENV,
    ENV_ALIASES,
    ENV_PREFIX,
    LoadedConfig,
    load_config,
    load_config_with_sources,
    read_config_file,
)
from medrical.redaction import MASK, mask_url

__all__ = [
    "DATABASE_URL_ENV",
    "ENV_ALIASES",
    "ENV_PREFIX",
    "KAFKA_BROKERS_FILE",
    "LOOPBACK",
    "MASK",
    "SECTIONS",
    "SSL_CA_FILE",
    "SSL_CERT_FILE",
    "SSL_DIR_NAME",
    "SSL_KEY_FILE",
    "STACK_BROKER_COUNTS",
    "STACK_NODE_PORT_FIELDS",
    "STACK_PORT_FIELDS",
    "ConnectSettings",
    "KafkaPortKind",
    "KafkaSettings",
    "LoadedConfig",
    "MedricalConfig",
    "PostgresSettings",
    "RegistrySettings",
    "SaslMechanism",
    "SecurityProtocol",
    "SettingView",
    "SslMode",
    "StackSettings",
    "config_file_path",
    "default_cache_dir",
    "default_config_dir",
    "default_stack_home",
    "describe_config",
    "is_secret_setting",
    "load_config",
    "load_config_with_sources",
    "mask_url",
    "parse_postgres_dsn",
    "read_config_file",
    "ssl_dir_for",
]

"""Where Medrical keeps its configuration, its local stack and its downloads (XDG)."""

from __future__ import annotations

import os
from pathlib import Path

# The file names Aiven hands out for a Kafka service; `medrical configure ssl` copies the three
# files under these names into the config directory's `ssl/`.
SSL_DIR_NAME = "ssl"
SSL_CA_FILE = "ca.pem"
SSL_CERT_FILE = "service.cert"
SSL_KEY_FILE = "service.key"


def default_config_dir() -> Path:
    """Where the user's configuration lives (XDG), overridable by MEDRICAL_CONFIG_DIR."""
    explicit = os.environ.get("MEDRICAL_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "medrical"


def default_stack_home() -> Path:
    """Where the local stack keeps its data, logs and PID files (XDG data dir).

    PostgreSQL refuses to run as root and root's home is closed to other users, so a stack
    run by root keeps its data under /var/lib, where the postgres user can reach it.
    """
    base = os.environ.get("XDG_DATA_HOME")
    if not base and os.geteuid() == 0:
        return Path("/var/lib/medrical/stack")
    base = base or str(Path.home() / ".local" / "share")
    return Path(base) / "medrical" / "stack"


def default_cache_dir() -> Path:
    """Where downloaded engines are kept; `stack reset` never touches it."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medrical"


def config_file_path() -> Path:
    return default_config_dir() / "config.toml"


def ssl_dir_for(config_file: Path) -> Path:
    """The `ssl/` directory next to a configuration file, where the Aiven files are kept."""
    return config_file.parent / SSL_DIR_NAME

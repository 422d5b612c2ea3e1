"""Process-wide CLI state: the --config file and the lazily loaded configuration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the model (pydantic) is imported by the commands that read it
    from medrical.config import LoadedConfig, MedricalConfig

_config_file: Path | None = None


def set_config_file(path: Path | None) -> None:
    global _config_file
    _config_file = path


def config_file() -> Path:
    """The configuration file in use: --config if given, else the one in the config directory."""
    from medrical.config.paths import config_file_path

    return _config_file or config_file_path()


def config(overrides: dict[str, Any] | None = None) -> MedricalConfig:
    """The effective configuration, with command-line overrides applied last."""
    return loaded_config(overrides).config


def loaded_config(overrides: dict[str, Any] | None = None) -> LoadedConfig:
    """The effective configuration together with where each value came from; its secrets are
    masked in every message from now on."""
    from medrical.config import load_config_with_sources
    from medrical.config.secrets import remember_config_secrets

    loaded = load_config_with_sources(_config_file, overrides=overrides)
    remember_config_secrets(loaded.config)
    return loaded

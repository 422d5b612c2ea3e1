"""Process-wide CLI state: the --config file and the lazily loaded configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medrical.config import MedricalConfig, load_config

_config_file: Path | None = None


def set_config_file(path: Path | None) -> None:
    global _config_file
    _config_file = path


def config(overrides: dict[str, Any] | None = None) -> MedricalConfig:
    """The effective configuration, with command-line overrides applied last."""
    return load_config(_config_file, overrides=overrides)

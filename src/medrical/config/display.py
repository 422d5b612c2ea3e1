"""The effective configuration as it may be shown: every setting, secrets masked, with its
origin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from medrical.config.model import SECTIONS
from medrical.config.secrets import is_secret_setting
from medrical.config.sources import LoadedConfig
from medrical.redaction import MASK, mask_url

DisplayValue = str | int | bool | None


@dataclass(frozen=True)
class SettingView:
    """One effective setting as it may be shown: secrets already masked."""

    name: str
    value: DisplayValue
    source: str
    secret: bool


def display_value(setting: str, value: Any) -> DisplayValue:
    """A setting's value as it may be printed: a secret setting is the mask whatever it holds."""
    if value is None:
        return None
    if isinstance(value, SecretStr) or is_secret_setting(setting):
        return MASK
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bool | int):
        return value
    text = str(value)
    return mask_url(text) if "://" in text else text


def describe_config(loaded: LoadedConfig) -> list[SettingView]:
    """Every effective setting, secrets masked, with where its value came from."""
    views: list[SettingView] = []

    def add(name: str, value: Any) -> None:
        views.append(
            SettingView(
                name, display_value(name, value), loaded.source_of(name), is_secret_setting(name)
            )
        )

    for section_name in SECTIONS:
        section = getattr(loaded.config, section_name)
        for field in type(section).model_fields:
            setting = f"{section_name}.{field}"
            value = getattr(section, field)
            if isinstance(value, dict):
                for key in sorted(value):
                    add(f"{setting}.{key}", value[key])
            else:
                add(setting, value)
    return views

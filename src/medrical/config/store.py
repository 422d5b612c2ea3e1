"""Saving settings into the TOML configuration file, keeping what the user wrote around them
(comments, order, layout), 0600 and atomically."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import SecretStr
from tomlkit.items import Table

from medrical.config.paths import config_file_path
from medrical.config.sources import (
    FILE,
    FLAG,
    Layer,
    Tree,
    check_files,
    expand_dsn,
    leaves,
    read_config_file,
    validate,
)
from medrical.files import write_private


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return value


def _without_none(tree: Mapping[str, Any]) -> Tree:
    cleaned: Tree = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            inner = _without_none(value)
            if inner:
                cleaned[key] = inner
        elif value is not None:
            cleaned[key] = _plain(value)
    return cleaned


def render_toml(data: Mapping[str, Any]) -> str:
    """TOML for Medrical's shape of configuration: sections of scalars and nested tables."""
    return tomlkit.dumps(_without_none(data))


def _apply(table: Any, changes: Mapping[str, Any]) -> None:
    """Set or (for None) remove each changed key in a tomlkit table, in place."""
    for key, value in changes.items():
        if isinstance(value, Mapping):
            inner = table.get(key)
            if not isinstance(inner, Table | dict):
                inner = tomlkit.table()
                table[key] = inner
            _apply(inner, value)
            if not inner:
                del table[key]
        elif value is None:
            if key in table:
                del table[key]
        else:
            table[key] = _plain(value)


def save_settings(
    changes: Mapping[str, Any],
    path: Path | None = None,
    *,
    origins: Mapping[str, str] | None = None,
) -> Path:
    """Merge settings into the configuration file, validate the result, write it 0600.

    A value of None removes that setting from the file, so its default applies again. Every
    changed setting counts as given on the command line unless `origins` says where it was
    read (e.g. "file /path/settings.toml"), which is what an error then names.
    """
    file_path = path or config_file_path()
    read_config_file(file_path)  # the same clear errors as loading, for an unreadable file
    text = file_path.read_text(encoding="utf-8") if file_path.exists() else ""
    document = tomlkit.parse(text)
    _apply(document, changes)
    updated: Tree = document.unwrap()
    sources = {name: FILE for name, _ in leaves(updated)}
    sources.update({name: FLAG for name, _ in leaves(changes)})
    sources.update(origins or {})
    checked = expand_dsn(Layer(updated, dict(sources)), f"in {file_path}")
    config = validate(checked.tree, sources, file_path)
    check_files(config, sources, file_path)
    write_private(file_path, tomlkit.dumps(document).encode("utf-8"))
    return file_path

"""Medrical: synthetic patient vital signs streamed through Kafka to PostgreSQL, scored by NEWS2.

All data Medrical produces is synthetic. Medrical is not a medical device.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Read from the installed metadata on first use: importlib.metadata costs a noticeable part
    # of a command's start-up, and only `--version` needs it.
    if name != "__version__":
        raise AttributeError(f"module 'medrical' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("medrical")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        found = "0.0.0"
    globals()["__version__"] = found
    return found

"""Medrical: synthetic patient vital signs streamed through Kafka to PostgreSQL, scored by NEWS2.

All data Medrical produces is synthetic. Medrical is not a medical device.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medrical")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]

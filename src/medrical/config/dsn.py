"""PostgreSQL connection strings (URL or `key=value`) into `PostgresSettings` fields.

libpq itself parses them (psycopg's `conninfo_to_dict`); this module only maps libpq's
keywords onto Medrical's fields and refuses what libpq would misread. No message quotes the
string: it may hold a password.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from medrical.errors import ConfigError

logger = logging.getLogger(__name__)

_DSN_FIELDS = {
    "host": "host",
    "port": "port",
    "dbname": "database",
    "user": "user",
    "password": "password",
    "sslmode": "sslmode",
    "sslrootcert": "sslrootcert",
}
DSN_HINT = "Use the form postgresql://USER:PASSWORD@HOST:5432/DATABASE?sslmode=require."
_URL_PREFIX = re.compile(r"^(postgres|postgresql)(\+\w+)?://", re.IGNORECASE)
# libpq's messages quote the string they failed on, password included: only their gist is kept.
_LIBPQ_REASONS = (
    ("IPv6", "an IPv6 host lacks its closing ']'"),
    ('missing "="', "a keyword is missing its '=value'"),
    ("unterminated quoted string", "a quoted value is not closed"),
    ("invalid URI query parameter", "a query parameter is not one libpq knows"),
    ("invalid connection option", "it names a parameter libpq does not know"),
    ("invalid percent-encoded token", "a %-escape is not valid"),
)


class _DsnError(ValueError):
    pass


def parse_postgres_dsn(dsn: str, *, setting: str = "postgres.dsn") -> dict[str, Any]:
    """Split a PostgreSQL URL or `key=value` string into `PostgresSettings` fields."""
    try:
        fields = _fields(dsn.strip())
    except _DsnError as exc:
        raise ConfigError(
            f"{setting} is not a valid PostgreSQL connection string: {exc}.",
            setting=setting,
            hint=DSN_HINT,
        ) from None
    if "host" in fields and "port" not in fields:
        # libpq's own default; without it the local stack's port would be applied to a remote host.
        fields["port"] = 5432
    return fields


def _fields(text: str) -> dict[str, Any]:
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    is_url = "://" in text
    if is_url:
        text = _as_libpq_url(text)
    try:
        parsed = conninfo_to_dict(text)
    except ProgrammingError as exc:
        message = str(exc)
        reason = next(
            (why for key, why in _LIBPQ_REASONS if key in message), "libpq cannot read it"
        )
        raise _DsnError(reason) from None
    if is_url and "@" in str(parsed.get("dbname", "")):
        # postgresql://u:1234/S3cr3t@h/db: a "/" in the password ends the host part for libpq,
        # and the rest of the password would become the database name.
        raise _DsnError(
            "an '@' follows the host part; a password holding '/', '?', '#' or '@' must be "
            "percent-encoded (%2F, %3F, %23, %40)"
        )
    fields: dict[str, Any] = {}
    for key, value in parsed.items():
        name = _DSN_FIELDS.get(key)
        if name is None:
            # Not an error: libpq accepts many more keywords than Medrical's model holds.
            logger.warning(
                "ignoring the PostgreSQL connection parameter %r, Medrical does not use it", key
            )
            continue
        fields[name] = _checked(name, str(value))
    if not fields:
        raise _DsnError("it names no host, database or user")
    return fields


def _as_libpq_url(text: str) -> str:
    match = _URL_PREFIX.match(text)
    if match is None:
        scheme = text.partition("://")[0]
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,30}", scheme):
            raise _DsnError(f"the scheme is {scheme!r}, not postgresql")
        raise _DsnError("it holds '://' but does not start with postgresql://")
    # SQLAlchemy's postgresql+psycopg:// names a driver; libpq knows only postgresql://.
    return "postgresql://" + text[match.end() :]


def _checked(name: str, value: str) -> Any:
    if name == "port":
        # str.isdigit() is also true of "²"; libpq wants ASCII digits.
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 65535:
            raise _DsnError("the port is not a number between 1 and 65535")
        return int(value)
    if name == "host" and ("[" in value or "]" in value):
        raise _DsnError("brackets belong only around an IPv6 address in a URL")
    return value

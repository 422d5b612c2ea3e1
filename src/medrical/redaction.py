"""One masking path for every message and every display: credentials never reach a terminal,
a log line or a JSON document.

Three kinds of secret are masked wherever they appear in a text: the password of a URL's
`user:password@` part, the value of a `key=value` pair whose key names a secret (as in
librdkafka's `sasl.oauthbearer.config`, `clientSecret=...`), and every secret value the
configuration holds (remembered when it is loaded), whatever text a library wraps around it.
Stdlib only, so that logging can use it without importing the configuration model.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "********"

# A secret shorter than this would mask ordinary words; such a secret is weak anyway.
_SHORTEST_REMEMBERED = 4

# scheme://user:password@ : the password is whatever runs up to the last "@" before the next
# whitespace or quote; "/" is allowed in it because users paste unencoded passwords.
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@\"']*:)[^\s\"']*(?=@)")
_SECRET_PAIR = re.compile(
    r"(?P<key>\b[\w.-]*(?:password|passwd|secret|token|credential)[\w.-]*\s*=\s*)"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;&]+)",
    re.IGNORECASE,
)

_remembered: set[str] = set()


def remember_secret(value: str | None) -> None:
    """Mask this value wherever it appears in later messages (a configured password...)."""
    if value and len(value) >= _SHORTEST_REMEMBERED and value != MASK:
        _remembered.add(value)


def forget_secrets() -> None:
    """Forget every remembered value (tests load many configurations in one process)."""
    _remembered.clear()


def mask_url(url: str) -> str:
    """The URL with the password of any `user:password@` part replaced by the mask.

    A URL that cannot be parsed (`http://[::1`) is masked by pattern instead: never an error.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return _URL_USERINFO.sub(rf"\g<head>{MASK}", url)
    if password is None:
        return _URL_USERINFO.sub(rf"\g<head>{MASK}", url) if "@" in url else url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))


def redact(text: str) -> str:
    """The text with every credential it holds replaced by the mask."""
    if "@" in text:
        text = _URL_USERINFO.sub(rf"\g<head>{MASK}", text)
    text = _SECRET_PAIR.sub(rf"\g<key>{MASK}", text)
    # Longest first, so that a secret containing another is masked whole.
    for secret in sorted(_remembered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text

"""Real PEM files for the tests of `configure ssl`: a CA, a client certificate it signed and
the certificate's key, made once per test run."""

from __future__ import annotations

import functools
from pathlib import Path

from medrical.stack.tls import Issued, issue, new_ca


def authority(name: str = "Test CA") -> Issued:
    return _authority(name)


def client(ca_name: str = "Test CA") -> Issued:
    return _client(ca_name)


# Cached on the positional name, so that client() and client("Test CA") are the same.
@functools.cache
def _authority(name: str) -> Issued:
    return new_ca(name)


@functools.cache
def _client(ca_name: str) -> Issued:
    return issue(_authority(ca_name), "medrical-client", client=True)


def client_files(directory: Path, *, ca_name: str = "Test CA") -> tuple[Path, Path, Path]:
    """ca.pem, service.cert and service.key in `directory`, the certificate signed by the CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, cert, key = directory / "ca.pem", directory / "service.cert", directory / "service.key"
    ca.write_bytes(authority(ca_name).cert_pem)
    cert.write_bytes(client(ca_name).cert_pem)
    key.write_bytes(client(ca_name).key_pem)
    key.chmod(0o600)
    return ca, cert, key

"""Installing a Kafka client's CA, certificate and key (Aiven's trio) into the config directory.

Nothing is replaced until the new trio is proven to work together: each file holds what its
option says (a certificate, not a key given as --key), the key belongs to the certificate, and
the CA verifies the certificate. The previous trio is kept in `ssl/previous/` and put back if
anything after the copy fails.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

from medrical.config.paths import SSL_CA_FILE, SSL_CERT_FILE, SSL_KEY_FILE
from medrical.errors import ConfigError
from medrical.files import write_private

PREVIOUS_DIR = "previous"
# Longest chain walked from the client certificate to a CA of the bundle.
_MAX_CHAIN = 6


@dataclass(frozen=True)
class _Source:
    field: str
    path: Path
    filename: str
    what: str

    @property
    def setting(self) -> str:
        return f"kafka.{self.field}"

    def refuse(self, problem: str, hint: str | None = None) -> ConfigError:
        return ConfigError(
            f"{self.what} {self.path} {problem}.",
            setting=self.setting,
            hint=hint or f"Give the {self.filename} file your Kafka provider handed out.",
        )

    def read(self) -> bytes:
        try:
            data = self.path.expanduser().read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {self.what} {self.path}: {exc.strerror or exc}.",
                setting=self.setting,
                hint="Give the path of the file your Kafka provider handed out.",
            ) from None
        if b"-----BEGIN " not in data:
            raise self.refuse("is not a PEM file")
        return data


def _certificates(source: _Source, data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        if b"PRIVATE KEY-----" in data:
            raise source.refuse("holds a private key, not a certificate") from None
        raise source.refuse("holds no readable certificate") from None


def _private_key(source: _Source, data: bytes) -> PrivateKeyTypes | None:
    """The key, or None for an encrypted one (its password is not known here)."""
    if b"PRIVATE KEY-----" not in data:
        if b"CERTIFICATE-----" in data:
            raise source.refuse("holds a certificate, not a private key")
        raise source.refuse("holds no private key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        return None  # encrypted: librdkafka decrypts it with kafka.ssl_key_password
    except (ValueError, Exception):  # UnsupportedAlgorithm is not a ValueError
        raise source.refuse("holds a private key that cannot be read") from None


def _public_der(key: PublicKeyTypes | CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_matches(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    """Whether the private key is the one the certificate was issued for."""
    return _public_der(key.public_key()) == _public_der(cert.public_key())


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, ValueError, TypeError: not this issuer
        return False
    return True


def _verifies(cas: list[x509.Certificate], chain: list[x509.Certificate]) -> bool:
    """Whether a CA of the bundle issued the leaf, directly or through the file's intermediates."""
    current = chain[0]
    intermediates = chain[1:]
    for _ in range(_MAX_CHAIN):
        if any(_issued_by(current, ca) for ca in cas):
            return True
        parent = next((c for c in intermediates if _issued_by(current, c)), None)
        if parent is None:
            return False
        intermediates.remove(parent)
        current = parent
    return False


def check_client_files(ca: Path, cert: Path, key: Path) -> dict[str, bytes]:
    """Read and prove the trio; returns each file's bytes by setting field. Writes nothing."""
    sources = {
        "ssl_ca_location": _Source("ssl_ca_location", ca, SSL_CA_FILE, "the CA certificate (--ca)"),
        "ssl_certificate_location": _Source(
            "ssl_certificate_location", cert, SSL_CERT_FILE, "the client certificate (--cert)"
        ),
        "ssl_key_location": _Source(
            "ssl_key_location", key, SSL_KEY_FILE, "the client key (--key)"
        ),
    }
    data = {field: source.read() for field, source in sources.items()}
    ca_source = sources["ssl_ca_location"]
    cert_source = sources["ssl_certificate_location"]
    key_source = sources["ssl_key_location"]
    cas = _certificates(ca_source, data["ssl_ca_location"])
    chain = _certificates(cert_source, data["ssl_certificate_location"])
    private_key = _private_key(key_source, data["ssl_key_location"])
    leaf = chain[0]
    if private_key is not None and not key_matches(leaf, private_key):
        raise key_source.refuse(
            f"does not belong to the client certificate {cert}",
            hint="Give the key and the certificate of the same service.",
        )
    if not _verifies(cas, chain):
        raise cert_source.refuse(
            f"is not signed by the CA certificate {ca}",
            hint="Give the ca.pem of the same Kafka service as the certificate.",
        )
    if leaf.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        raise cert_source.refuse(
            f"expired on {leaf.not_valid_after_utc:%Y-%m-%d}",
            hint="Download a current certificate from your Kafka provider.",
        )
    return data


class Installation:
    """The trio copied into `ssl_dir`, the previous one kept until `commit` or put back by
    `roll_back`."""

    def __init__(self, ssl_dir: Path, contents: dict[str, bytes]) -> None:
        self.ssl_dir = ssl_dir
        self.previous = ssl_dir / PREVIOUS_DIR
        names = {
            "ssl_ca_location": SSL_CA_FILE,
            "ssl_certificate_location": SSL_CERT_FILE,
            "ssl_key_location": SSL_KEY_FILE,
        }
        self.paths = {field: ssl_dir / names[field] for field in contents}
        self.kept: list[str] = []
        for target in self.paths.values():
            if target.is_file():
                write_private(self.previous / target.name, target.read_bytes())
                self.kept.append(target.name)
        for field, target in self.paths.items():
            write_private(target, contents[field])

    def roll_back(self) -> None:
        for target in self.paths.values():
            if target.name in self.kept:
                write_private(target, (self.previous / target.name).read_bytes())
            else:
                target.unlink(missing_ok=True)


def install_ssl_files(ca: Path, cert: Path, key: Path, ssl_dir: Path) -> Installation:
    """Prove the trio, then copy it into `ssl_dir` under Aiven's names, each 0600.

    A bad argument leaves the old files in place: nothing is written before every check passed.
    """
    contents = check_client_files(ca, cert, key)
    ssl_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Installation(ssl_dir, contents)


def remove_previous(ssl_dir: Path) -> None:
    """Forget the kept trio once the new one is saved in the configuration."""
    shutil.rmtree(ssl_dir / PREVIOUS_DIR, ignore_errors=True)

"""A Kafka client's CA, certificate and key (Aiven's trio): the checks that prove them, for
`configure ssl` and for a configured client before it connects, and their installation into the
config directory.

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
from pydantic import SecretStr

from medrical.config.paths import SSL_CA_FILE, SSL_CERT_FILE, SSL_KEY_FILE
from medrical.errors import ConfigError
from medrical.files import write_private

PREVIOUS_DIR = "previous"
# Longest chain walked from the client certificate to a CA of the bundle.
_MAX_CHAIN = 6


@dataclass(frozen=True)
class PemFile:
    """A client's CA, certificate or key file, and how messages name it: by the option that
    gave it (`configure ssl --key`) or, for a configured client, by its setting."""

    field: str
    path: Path
    what: str
    filename: str
    configured: bool = False

    @property
    def setting(self) -> str:
        return f"kafka.{self.field}"

    def refuse(self, problem: str, hint: str | None = None) -> ConfigError:
        then = ", then `medrical configure ssl`" if self.configured else ""
        return ConfigError(
            f"{self.what} {self.path} {problem}.",
            setting=self.setting,
            hint=hint or f"Give the {self.filename} file your Kafka provider handed out{then}.",
        )

    def read(self) -> bytes:
        try:
            data = self.path.expanduser().read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {self.what} {self.path}: {exc.strerror or exc}.",
                setting=self.setting,
                hint="Check the path and its permissions, or run `medrical configure ssl`."
                if self.configured
                else "Give the path of the file your Kafka provider handed out.",
            ) from None
        if b"-----BEGIN " not in data:
            raise self.refuse("is not a PEM file")
        return data


def ca_file(path: Path) -> PemFile:
    return PemFile("ssl_ca_location", path, "the CA certificate (--ca)", SSL_CA_FILE)


def certificate_file(path: Path, *, configured: bool = False) -> PemFile:
    named = "kafka.ssl_certificate_location" if configured else "--cert"
    what = f"the client certificate ({named})"
    return PemFile("ssl_certificate_location", path, what, SSL_CERT_FILE, configured)


def key_file(path: Path, *, configured: bool = False) -> PemFile:
    named = "kafka.ssl_key_location" if configured else "--key"
    return PemFile("ssl_key_location", path, f"the client key ({named})", SSL_KEY_FILE, configured)


def certificates(source: PemFile, data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        if b"PRIVATE KEY-----" in data:
            raise source.refuse("holds a private key, not a certificate") from None
        raise source.refuse("holds no readable certificate") from None


def _load_key(source: PemFile, data: bytes, password: SecretStr | None) -> PrivateKeyTypes:
    """The key; TypeError when it is encrypted and `password` is None (or the reverse)."""
    if b"PRIVATE KEY-----" not in data:
        if b"CERTIFICATE-----" in data:
            raise source.refuse("holds a certificate, not a private key")
        raise source.refuse("holds no private key")
    secret = None if password is None else password.get_secret_value().encode()
    try:
        return serialization.load_pem_private_key(data, secret)
    except TypeError:
        raise
    except (ValueError, Exception):  # UnsupportedAlgorithm is not a ValueError
        opens = "" if password is None else " (or kafka.ssl_key_password does not open it)"
        raise source.refuse(f"holds a private key that cannot be read{opens}") from None


def private_key(source: PemFile, data: bytes, password: SecretStr | None) -> PrivateKeyTypes:
    """The configured key, opened with the configured password (if any)."""
    try:
        return _load_key(source, data, password)
    except TypeError:
        raise ConfigError(
            f"{source.what} {source.path} is encrypted and kafka.ssl_key_password is not set "
            "(or the key is not encrypted and a password is set).",
            setting="kafka.ssl_key_password",
            hint="Set kafka.ssl_key_password (`medrical configure --ssl-key-password-file`).",
        ) from None


def open_private_key(source: PemFile, data: bytes) -> PrivateKeyTypes | None:
    """A key whose password is not known here; None when it is encrypted (librdkafka opens it
    with kafka.ssl_key_password)."""
    try:
        return _load_key(source, data, None)
    except TypeError:
        return None


def check_current(source: PemFile, cert: x509.Certificate, now: dt.datetime | None = None) -> None:
    """Refuse a certificate that has expired or is not valid yet."""
    moment = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= moment:
        raise source.refuse(
            f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
            hint="Download a new one from your Kafka provider (or run `medrical stack up "
            "--tls` again for the local stack), then `medrical configure ssl`.",
        )
    if cert.not_valid_before_utc > moment:
        raise source.refuse(
            f"is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            hint="Check this machine's clock.",
        )


def _public_der(key: PublicKeyTypes | CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_pair(
    cert_source: PemFile, cert: x509.Certificate, key_source: PemFile, key: PrivateKeyTypes
) -> None:
    """Refuse a private key that is not the one the certificate was issued for."""
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise key_source.refuse(
            f"does not belong to the client certificate {cert_source.path}",
            hint="Give the key and the certificate of the same service.",
        )


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
    sources = [ca_file(ca), certificate_file(cert), key_file(key)]
    data = {source.field: source.read() for source in sources}
    ca_source, cert_source, key_source = sources
    cas = certificates(ca_source, data[ca_source.field])
    chain = certificates(cert_source, data[cert_source.field])
    loaded_key = open_private_key(key_source, data[key_source.field])
    leaf = chain[0]
    if loaded_key is not None:
        check_pair(cert_source, leaf, key_source, loaded_key)
    if not _verifies(cas, chain):
        raise cert_source.refuse(
            f"is not signed by the CA certificate {ca}",
            hint="Give the ca.pem of the same Kafka service as the certificate.",
        )
    check_current(cert_source, leaf)
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

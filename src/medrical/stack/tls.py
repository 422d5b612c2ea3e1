"""A throw-away certificate authority for the local stack's TLS mode (pure where it can be).

`medrical stack up --tls` makes its own CA at run time and issues from it: one server
certificate (Kafka's listeners, the registry's HTTPS, PostgreSQL; valid for 127.0.0.1 and
localhost), one client certificate for the stack's own tools and its Connect worker, and one
client certificate for Medrical itself, written in Aiven's layout (`ca.pem`, `service.cert`,
`service.key`). Keys are EC P-256, PKCS#8, unencrypted, each file 0600: they never leave this
machine and are replaced whenever the stack finds them missing or near expiry.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from medrical.config import LOOPBACK
from medrical.files import write_private
from medrical.stack.layout import TlsFiles

CA_VALID_DAYS = 365
LEAF_VALID_DAYS = 180
# A certificate this close to its end is replaced at the next `stack up`.
RENEW_BEFORE = dt.timedelta(days=14)
SERVER_NAMES = (LOOPBACK, "localhost")
CA_NAME = "Medrical local stack CA"


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError("the stack's keys are EC keys")
        return key

    @property
    def keystore_pem(self) -> bytes:
        """Key, then certificate: the single-file PEM keystore Kafka reads."""
        return self.key_pem + self.cert_pem


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Medrical local stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)


def new_ca(
    common_name: str = CA_NAME, *, valid_days: int = CA_VALID_DAYS, now: dt.datetime | None = None
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    start = _now(now) - dt.timedelta(minutes=5)  # tolerate a little clock skew
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: Issued,
    common_name: str,
    *,
    server: bool = False,
    client: bool = False,
    names: tuple[str, ...] = SERVER_NAMES,
    valid_days: int = LEAF_VALID_DAYS,
    now: dt.datetime | None = None,
    not_before: dt.datetime | None = None,
) -> Issued:
    """A leaf certificate signed by `ca`: for servers (with `names` as SANs), clients or both.

    A server certificate that also allows client authentication lets the Kafka broker reach its
    own mutual-TLS listener between its components.
    """
    if not (server or client):
        raise ValueError("a certificate is for a server, a client, or both")
    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = ca.certificate
    ca_key = ca.private_key()
    start = not_before or (_now(now) - dt.timedelta(minutes=5))
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def expires_soon(cert_pem: bytes, *, now: dt.datetime | None = None) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.not_valid_after_utc - RENEW_BEFORE <= _now(now)


def signed_by(cert_pem: bytes, ca_pem: bytes) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca = x509.load_pem_x509_certificate(ca_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception):  # InvalidSignature is not a ValueError
        return False
    return True


# --- the stack's certificate files -------------------------------------------------------------


def _load(cert: Path, key: Path) -> Issued | None:
    try:
        return Issued(cert.read_bytes(), key.read_bytes())
    except OSError:
        return None


def _usable(issued: Issued | None, ca: Issued) -> bool:
    return (
        issued is not None
        and signed_by(issued.cert_pem, ca.cert_pem)
        and not expires_soon(issued.cert_pem)
    )


def write_pkcs12(path: Path, cert: Path, key: Path, password: str) -> None:
    """The certificate and key of two PEM files as one password-protected PKCS#12 file."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    issued = Issued(cert.read_bytes(), key.read_bytes())
    write_private(
        path,
        pkcs12.serialize_key_and_certificates(
            b"medrical",
            issued.private_key(),
            issued.certificate,
            None,
            serialization.BestAvailableEncryption(password.encode("utf-8")),
        ),
    )


def ensure_stack_certificates(
    files: TlsFiles, client_dir: Path, client_files: tuple[str, str, str]
) -> bool:
    """Create the CA and every certificate that is missing, foreign or near its end.

    `client_files` names the CA, certificate and key files of Medrical's own client identity in
    `client_dir` (Aiven's names). Returns True when anything was (re)issued.
    """
    files.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    files.folder.chmod(0o700)
    changed = False
    ca = _load(files.ca_cert, files.ca_key)
    if ca is None or expires_soon(ca.cert_pem):
        ca = new_ca()
        write_private(files.ca_key, ca.key_pem)
        files.ca_cert.write_bytes(ca.cert_pem)
        changed = True
    server = _load(files.server_cert, files.server_key)
    if changed or not _usable(server, ca):
        server = issue(ca, LOOPBACK, server=True, client=True)
        files.server_cert.write_bytes(server.cert_pem)
        write_private(files.server_key, server.key_pem)
        write_private(files.server_keystore, server.keystore_pem)
        changed = True
    stack = _load(files.stack_cert, files.stack_key)
    if changed or not _usable(stack, ca):
        stack = issue(ca, "medrical-stack", client=True)
        files.stack_cert.write_bytes(stack.cert_pem)
        write_private(files.stack_key, stack.key_pem)
        write_private(files.stack_keystore, stack.keystore_pem)
        changed = True
    ca_name, cert_name, key_name = client_files
    client = _load(client_dir / cert_name, client_dir / key_name)
    if changed or not _usable(client, ca):
        client = issue(ca, "medrical", client=True)
        write_private(client_dir / cert_name, client.cert_pem)
        write_private(client_dir / key_name, client.key_pem)
        changed = True
    write_private(client_dir / ca_name, ca.cert_pem)
    return changed

"""The emulator's key material: a CA, a server certificate for 127.0.0.1/localhost, the token signing key.

Everything lives in the state directory and is reused across starts, so a CA bundle pasted into a
connector's ``caBundle`` keeps working. Private keys are written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["KeyMaterial", "ensure_key_material", "write_private"]

_CA_NAME = "idmctl emulator local CA"
_SERVER_DAYS = 397
_CA_DAYS = 3650


@dataclass(frozen=True)
class KeyMaterial:
    """Paths of the PEM files the server and clients need, and the JWT signing key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    signing_key: rsa.RSAPrivateKey


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (created 0600, never widened)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_or_make_ca(state: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = state / "ca.pem", state / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > _now() + dt.timedelta(
            days=30
        ):
            return cert, key
    # EC keys: generating RSA for every throwaway test state dir would cost more than the test.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _pem_key(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # A new CA invalidates any server certificate it did not sign.
    (state / "server.pem").unlink(missing_ok=True)
    return cert, key


def _server_cert_ok(path: Path, ca: x509.Certificate) -> bool:
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.issuer == ca.subject and cert.not_valid_after_utc > _now() + dt.timedelta(days=7)


def _make_server_cert(state: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    san = x509.SubjectAlternativeName(
        [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
            x509.DNSName("localhost"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_SERVER_DAYS))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(state / "server-key.pem", _pem_key(key))
    (state / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _load_or_make_signing_key(state: Path) -> rsa.RSAPrivateKey:
    path = state / "signing-key.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(path, _pem_key(key))
    return key


def ensure_key_material(state: Path) -> KeyMaterial:
    """Create (first start) or reuse the CA, server certificate and token signing key under ``state``."""
    state.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _load_or_make_ca(state)
    if not (_server_cert_ok(state / "server.pem", ca) and (state / "server-key.pem").exists()):
        _make_server_cert(state, ca, ca_key)
    return KeyMaterial(
        ca_cert=state / "ca.pem",
        server_cert=state / "server.pem",
        server_key=state / "server-key.pem",
        signing_key=_load_or_make_signing_key(state),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

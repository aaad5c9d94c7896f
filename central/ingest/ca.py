"""Central's small certificate authority: it signs device certificates (mTLS) and server certificates.

The CA is an EC P-256 key and a self-signed certificate in one folder (`ca.key` 0600, `ca.crt`),
shared by every central instance. Device certificates carry the device id as their common name (and
the device's permanent identity id as a SAN URI urn:vigia:device:<SHA-256 hex>);
central records each certificate's serial, so a later enrolment or a revocation retires it.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vigia.kit.files import PRIVATE, PUBLIC, write_credential

CA_DAYS = 3650
DEVICE_DAYS = 397
SERVER_DAYS = 397
DEVICE_ORGANIZATION = "Vigia devices"
DEVICE_URN = "urn:vigia:device:"   # + the device identity id, in device certificates' subject alternative name


class CaError(Exception):
    """The CA cannot be used, or a request to it is refused; the message says why."""


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def init_ca(folder: Path, name: str = "Vigia central CA") -> CertificateAuthority:
    """Make the CA in `folder`; refuses to replace one (every device certificate depends on it)."""
    if (folder / "ca.key").exists():
        raise CaError(f"a CA already exists in {folder}")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_credential(folder / "ca.key", _key_pem(key), PRIVATE)
    write_credential(folder / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), PUBLIC)
    return CertificateAuthority(key, cert)


def load_ca(folder: Path) -> CertificateAuthority:
    try:
        key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    except (OSError, ValueError) as exc:
        raise CaError(f"cannot load the CA from {folder}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        raise CaError(f"{folder}/ca.key does not match {folder}/ca.crt")
    return CertificateAuthority(key, cert)


def _leaf(ca: CertificateAuthority, subject: x509.Name, public_key, days: int) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca.certificate.subject).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )


def sign_device_csr(ca: CertificateAuthority, csr_pem: bytes, device_id: str,
                    identity_id: str | None = None) -> x509.Certificate:
    """A client certificate for `device_id` (the name central gave the enrolment token, not the CSR's);
    with `identity_id` (the device's permanent identity, SHA-256 hex) as the SAN URI urn:vigia:device:<id>."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CaError(f"the certificate request is not a PEM CSR: {exc}") from None
    if not csr.is_signature_valid:
        raise CaError("the certificate request's signature does not verify")
    public = csr.public_key()
    if not (isinstance(public, ec.EllipticCurvePublicKey) and public.curve.key_size >= 256
            or isinstance(public, rsa.RSAPublicKey) and public.key_size >= 2048):
        raise CaError("the certificate request's key must be EC P-256 or larger, or RSA 2048 or larger")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEVICE_ORGANIZATION)])
    builder = (_leaf(ca, subject, public, DEVICE_DAYS)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if identity_id is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(f"{DEVICE_URN}{identity_id}")]), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def issue_server_certificate(ca: CertificateAuthority, names: list[str], certificate: Path, private_key: Path) -> None:
    """A TLS server certificate (for NGINX in front of central) for host names and IP addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        _leaf(ca, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]), key.public_key(), SERVER_DAYS)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    write_credential(private_key, _key_pem(key), PRIVATE)
    write_credential(certificate, cert.public_bytes(serialization.Encoding.PEM) + ca.pem, PUBLIC)

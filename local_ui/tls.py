"""HTTPS for the appliance: the device's own self-signed certificate, or one the installer provides.

At first start the appliance makes an EC P-256 key and a self-signed certificate for its hostname,
`localhost` and 127.0.0.1 (valid 825 days, the longest browsers accept) under `<data_dir>/tls/`
(folder 0700, key 0600). It is made again when it is missing, damaged, does not match its key or
expires within 30 days. `Http.certificate` / `Http.private_key` replace it with the installer's own.
No HSTS is sent: on a self-signed certificate it would make the browser's warning impossible to pass.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vigia.appliance.config import Http
from vigia.kit.files import write_atomic

log = logging.getLogger(__name__)

VALID_DAYS = 825
RENEW_DAYS = 30  # a certificate that expires sooner than this is replaced at start


class TlsError(Exception):
    """The certificate or key cannot be made or used; the message names the file."""


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    private_key: Path
    self_signed: bool  # made by the appliance (guards see a browser warning the first time)


def tls_files(http: Http, data_dir: str | os.PathLike) -> TlsFiles:
    """The configured certificate and key, or the device's own (made now if needed)."""
    if http.certificate is not None and http.private_key is not None:
        return TlsFiles(http.certificate, http.private_key, self_signed=False)
    return device_certificate(data_dir)


def device_certificate(data_dir: str | os.PathLike, hostname: str | None = None,
                       now: dt.datetime | None = None) -> TlsFiles:
    """The device's self-signed certificate under `<data_dir>/tls/`, made when missing or due."""
    folder = Path(data_dir) / "tls"
    files = TlsFiles(folder / "cert.pem", folder / "key.pem", self_signed=True)
    now = now or dt.datetime.now(dt.timezone.utc)
    reason = _unusable(files, now)
    if reason is None:
        return files
    log.info("making the device's TLS certificate in %s (%s)", folder, reason)
    hostname = hostname or socket.gethostname() or "localhost"
    key = ec.generate_private_key(ec.SECP256R1())
    _write(files.private_key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()), 0o600)
    _write(files.certificate, self_signed_certificate(key, hostname, now).public_bytes(serialization.Encoding.PEM), 0o644)
    return files


def self_signed_certificate(key: ec.EllipticCurvePrivateKey, hostname: str, now: dt.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vigia appliance")])
    names: list[x509.GeneralName] = [x509.DNSName(hostname)] if hostname != "localhost" else []
    names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # some clock skew between the appliance and a browser
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _unusable(files: TlsFiles, now: dt.datetime) -> str | None:
    """Why the device's certificate must be made (again), or None when it can be used."""
    if not files.certificate.is_file() or not files.private_key.is_file():
        return "first start"
    mode = stat.S_IMODE(files.private_key.stat().st_mode)
    if mode & 0o077:
        raise TlsError(f"TLS key {files.private_key}: permissions {mode:04o} give group/other access;"
                       f" it must be readable by its owner only (chmod 600)")
    try:
        cert = x509.load_pem_x509_certificate(files.certificate.read_bytes())
        key = serialization.load_pem_private_key(files.private_key.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        log.warning("the device's TLS certificate or key is unreadable (%s): making a new one", exc)
        return "unreadable"
    if cert.public_key() != key.public_key():
        return "certificate and key do not match"
    if cert.not_valid_after_utc - now < dt.timedelta(days=RENEW_DAYS):
        return f"it expires {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a file atomically with `mode` (its folder 0700)."""
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_atomic(path, data, mode)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) with the certificate and key loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.certificate, files.private_key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot use certificate {files.certificate} with key {files.private_key}:"
                       f" {getattr(exc, 'strerror', None) or exc}") from None
    return context


def fingerprint(certificate: str | os.PathLike) -> str:
    """SHA-256 fingerprint of a PEM certificate, as browsers show it (AB:CD:...)."""
    cert = x509.load_pem_x509_certificate(Path(certificate).read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()

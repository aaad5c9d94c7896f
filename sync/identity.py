"""The appliance's identity towards central: its transport key pair, its certificate, and enrolment.

Two keys: the device's permanent identity (Ed25519, `<data_dir>/identity/device.key`, made at first
start by vigia.provisioning.identity; its SHA-256 is the id installers see), and a rotatable transport
key for mTLS. Every CSR sent to central (enrolment, rotation) is signed by the identity key too, so
central binds each certificate to the box the installer claimed.

Transport files live in `<data_dir>/sync/` (folder 0700): `device.key` (EC P-256, 0600, never leaving
the device), `device.crt` (signed by central's CA at enrolment), `ca.crt` (central's CA, which the
device trusts for central's server certificate), `model-signing.pub` (central's model-signing public key: every
model installed is checked with it) and `central.json` (URL and device id).

A rotation stages the new key (`device.key.next`) before it asks central, and the certificate
(`device.crt.next`) before either replaces the one in use (`commit_rotation`); a stop anywhere in
between is finished or undone by `load_identity`, so key and certificate always match.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vigia.kit.files import PRIVATE, PUBLIC, sync_dir, write_credential
from vigia.provisioning.identity import DeviceIdentity, IdentityError, load_or_create_identity
from vigia.sync.answers import read_answer

log = logging.getLogger(__name__)

MODEL_SIGNING_KEY = "model-signing.pub"  # central's model-signing public key (raw Ed25519, base64), from enrolment


class EnrolmentError(Exception):
    """Enrolment failed; the message says why (never with the token in it)."""


@dataclass(frozen=True)
class SyncCredentials:
    """What enrolment gave this device: its transport key and certificate, central's CA, its id and central's URL."""

    folder: Path
    device_id: str
    central_url: str

    @property
    def key(self) -> Path:
        return self.folder / "device.key"

    @property
    def certificate(self) -> Path:
        return self.folder / "device.crt"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def model_signing_key(self) -> Path:
        return self.folder / MODEL_SIGNING_KEY

    @property
    def next_key(self) -> Path:
        return self.folder / "device.key.next"

    @property
    def next_certificate(self) -> Path:
        return self.folder / "device.crt.next"


def identity_folder(data_dir: Path) -> Path:
    return Path(data_dir) / "sync"


def device_key(folder: Path) -> ec.EllipticCurvePrivateKey:
    """The device's private key, made (EC P-256) the first time it is asked for."""
    path = folder / "device.key"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    write_credential(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), PRIVATE)
    log.info("made the device key %s", path)
    return key


def certificate_request(key: ec.EllipticCurvePrivateKey, name: str = "vigia appliance") -> bytes:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def device_identity(folder: Path) -> DeviceIdentity:
    """The device's permanent identity (Ed25519), in the data dir that holds the sync folder `folder`."""
    return load_or_create_identity(Path(folder).parent)


def identity_proof(identity: DeviceIdentity, csr_pem: bytes) -> dict[str, str]:
    """What goes beside a CSR to central: the identity's raw public key and its signature over the CSR's
    exact PEM bytes (base64), proof that the box holding the identity key asked for this certificate."""
    return {"identity_key": base64.b64encode(identity.public_bytes).decode(),
            "identity_signature": base64.b64encode(identity.key.sign(csr_pem)).decode()}


def load_identity(folder: Path) -> SyncCredentials | None:
    """The enrolled credentials, or None when the device has not been enrolled. A rotation cut off by a stop
    is finished when its certificate was saved, and dropped otherwise (central still takes the old one)."""
    try:
        state = json.loads((folder / "central.json").read_text())
    except FileNotFoundError:
        return None
    identity = SyncCredentials(folder, state["device_id"], state["central_url"])
    if identity.next_certificate.exists():
        commit_rotation(identity)
        log.warning("finished a credential rotation that a stop cut off")
    elif identity.next_key.exists():
        identity.next_key.unlink()
        log.warning("dropped the key of a credential rotation cut off before its certificate came")
    return identity


def commit_rotation(identity: SyncCredentials) -> None:
    """Put the staged key and certificate in place: the key first (when still staged), then the certificate.

    Each step is a rename, so after a stop between them the staged certificate alone tells what is left."""
    if identity.next_key.exists():
        os.replace(identity.next_key, identity.key)
    os.replace(identity.next_certificate, identity.certificate)
    sync_dir(identity.folder)


def client_context(identity: SyncCredentials) -> ssl.SSLContext:
    """TLS towards central: central's CA trusted, the device certificate presented."""
    context = ssl.create_default_context(cafile=str(identity.ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(identity.certificate, identity.key)
    return context


@dataclass(frozen=True)
class Enrolment:
    identity: SyncCredentials
    high_water: int  # what central already holds from this device id (its sequence goes on from there)


async def enrol(folder: Path, central_url: str, token: str, ca_pem: bytes,
                identity: DeviceIdentity | None = None) -> Enrolment:
    """Send a CSR, signed by the device identity, with the one-time token; store the certificate central's
    CA signs. `identity` is the device's permanent identity; by default the one in `folder`'s data dir."""
    central_url = central_url.rstrip("/")
    try:
        identity = identity or device_identity(folder)
    except IdentityError as exc:
        raise EnrolmentError(f"no device identity: {exc}") from None
    csr = certificate_request(device_key(folder))
    context = ssl.create_default_context(cadata=ca_pem.decode())
    request = {"token": token, "csr": csr.decode(), **identity_proof(identity, csr)}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session, session.post(
                f"{central_url}/v1/enrol", json=request, ssl=context) as response:
            status, answer = await read_answer(response)
            if status != 200 or "certificate" not in answer:
                raise EnrolmentError(f"central refused the enrolment ({status}): {answer.get('message', answer)}")
    except (aiohttp.ClientError, OSError) as exc:
        raise EnrolmentError(f"cannot reach central at {central_url}: {exc}") from None
    certificate = answer["certificate"].encode()
    x509.load_pem_x509_certificate(certificate)  # refuse to store something that is not a certificate
    write_credential(folder / "device.crt", certificate, PUBLIC)
    write_credential(folder / "ca.crt", ca_pem, PUBLIC)
    if isinstance(answer.get("model_signing_key"), str):
        write_credential(folder / MODEL_SIGNING_KEY, answer["model_signing_key"].encode(), PUBLIC)
    write_credential(folder / "central.json", json.dumps({"central_url": central_url, "device_id": answer["device_id"]}).encode(),
                     PUBLIC)
    log.info("enrolled with %s as device %s", central_url, answer["device_id"])
    return Enrolment(SyncCredentials(folder, answer["device_id"], central_url), int(answer["high_water"]))

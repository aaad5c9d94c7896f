"""One identity, rotatable transport keys, end to end (PostgreSQL, two central instances, NGINX): every CSR
sent to central is signed by the device's permanent Ed25519 identity (vigia.provisioning.identity);
central records that identity at enrolment and holds the device id to it at re-enrolment and rotation."""
from __future__ import annotations

import asyncio
import base64
import ssl

import aiohttp
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vigia.app.devstack import central_stack
from vigia.central.ingest.enrolment import revoke
from vigia.provisioning.identity import load_or_create_identity
from vigia.sync.identity import EnrolmentError, SyncCredentials, certificate_request, client_context, enrol, identity_proof

URN = "urn:vigia:device:"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with central_stack(tmp_path_factory.mktemp("central")) as stack:
        yield stack


def post(stack, path: str, payload: dict, context: ssl.SSLContext | None = None) -> tuple[int, dict]:
    """One raw JSON POST through NGINX (TLS; a device certificate when `context` carries one)."""
    context = context or ssl.create_default_context(cadata=stack.ca_pem.decode())

    async def send():
        async with aiohttp.ClientSession() as session, session.post(stack.url + path, json=payload,
                                                                    ssl=context) as response:
            return response.status, await response.json(content_type=None)
    return asyncio.run(send())


def commands(stack, context: ssl.SSLContext) -> int:
    """The status of a device's GET /v1/commands (200 when its certificate is taken)."""
    async def send():
        async with aiohttp.ClientSession() as session, session.get(stack.url + "/v1/commands",
                                                                   ssl=context) as response:
            return response.status
    return asyncio.run(send())


def new_csr() -> bytes:
    return certificate_request(ec.generate_private_key(ec.SECP256R1()))


def device_row(stack, device_id: str) -> tuple:
    return stack.query("SELECT identity_key, identity_id, cert_serial, revoked_at FROM devices WHERE device_id = %s",
                       [device_id])[0]


def san_uris(pem: bytes) -> list[str]:
    cert = x509.load_pem_x509_certificate(pem)
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier)


def revoke_device(stack, device_id: str) -> None:
    async def work():
        async with await psycopg.AsyncConnection.connect(stack.dsn, autocommit=True) as conn:
            assert await revoke(conn, device_id)
    asyncio.run(work())


def test_enrolment_records_the_device_identity(stack, tmp_path):
    box = load_or_create_identity(tmp_path)  # what the appliance makes at first start
    enrolment = asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("ident-01"), stack.ca_pem))
    key, identity_id, serial, revoked = device_row(stack, "ident-01")
    assert base64.b64decode(key) == box.public_bytes
    assert identity_id == box.device_id and identity_id[:8] == box.short_id and revoked is None
    certificate = enrolment.identity.certificate.read_bytes()
    assert san_uris(certificate) == [URN + box.device_id]
    assert format(x509.load_pem_x509_certificate(certificate).serial_number, "X") == serial
    # the same box enrolling again (a new token, a reinstall) is welcome
    asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("ident-01"), stack.ca_pem))
    assert device_row(stack, "ident-01")[1] == box.device_id


def test_enrolment_without_a_valid_identity_signature_is_refused(stack, tmp_path):
    box, other = load_or_create_identity(tmp_path / "box"), load_or_create_identity(tmp_path / "other")
    token = stack.token("ident-02")
    csr = new_csr()
    status, answer = post(stack, "/v1/enrol", {"token": token, "csr": csr.decode()})
    assert (status, answer["error"]) == (400, "bad_identity") and "identity_key" in answer["message"]
    # box's key, but a signature made by another key
    forged = {**identity_proof(box, csr), "identity_signature": identity_proof(other, csr)["identity_signature"]}
    status, answer = post(stack, "/v1/enrol", {"token": token, "csr": csr.decode(), **forged})
    assert (status, answer["error"]) == (400, "bad_identity") and "does not verify" in answer["message"]
    # a real signature, but over another CSR
    status, answer = post(stack, "/v1/enrol", {"token": token, "csr": csr.decode(), **identity_proof(box, new_csr())})
    assert (status, answer["error"]) == (400, "bad_identity")
    status, answer = post(stack, "/v1/enrol", {"token": token, "csr": csr.decode(), "identity_key": "not base64!",
                                               "identity_signature": "AAAA"})
    assert (status, answer["error"]) == (400, "bad_identity")
    assert stack.query("SELECT count(*) FROM devices WHERE device_id = 'ident-02'") == [(0,)]
    # refusals leave the token unused: the real box enrols with it
    status, answer = post(stack, "/v1/enrol", {"token": token, "csr": csr.decode(), **identity_proof(box, csr)})
    assert status == 200 and answer["identity_id"] == box.device_id
    assert device_row(stack, "ident-02")[1] == box.device_id


def test_another_box_cannot_take_an_enrolled_device_id_until_it_is_revoked(stack, tmp_path):
    first = load_or_create_identity(tmp_path / "first")
    asyncio.run(enrol(tmp_path / "first" / "sync", stack.url, stack.token("ident-03"), stack.ca_pem))
    serial = device_row(stack, "ident-03")[2]
    with pytest.raises(EnrolmentError, match=r"\(403\).*another device identity"):
        asyncio.run(enrol(tmp_path / "second" / "sync", stack.url, stack.token("ident-03"), stack.ca_pem))
    second = load_or_create_identity(tmp_path / "second")
    csr = new_csr()
    status, answer = post(stack, "/v1/enrol", {"token": stack.token("ident-03"), "csr": csr.decode(),
                                               **identity_proof(second, csr)})
    assert (status, answer["error"]) == (403, "identity_mismatch")
    assert device_row(stack, "ident-03")[:3] == (base64.b64encode(first.public_bytes).decode(), first.device_id, serial)
    # the operator revokes the device: a replacement box may enrol under its id, and is recorded
    revoke_device(stack, "ident-03")
    asyncio.run(enrol(tmp_path / "second" / "sync", stack.url, stack.token("ident-03"), stack.ca_pem))
    key, identity_id, _, revoked = device_row(stack, "ident-03")
    assert identity_id == second.device_id and base64.b64decode(key) == second.public_bytes and revoked is None
    # ... and now the first box is the stranger
    with pytest.raises(EnrolmentError, match=r"\(403\)"):
        asyncio.run(enrol(tmp_path / "first" / "sync", stack.url, stack.token("ident-03"), stack.ca_pem))


def test_rotation_needs_the_enrolled_identity(stack, tmp_path):
    box, stranger = load_or_create_identity(tmp_path), load_or_create_identity(tmp_path / "stranger")
    identity = asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("ident-04"), stack.ca_pem)).identity
    context = client_context(identity)
    serial = device_row(stack, "ident-04")[2]

    csr = new_csr()
    status, answer = post(stack, "/v1/rotate", {"csr": csr.decode()}, context)
    assert (status, answer["error"]) == (400, "bad_identity")
    status, answer = post(stack, "/v1/rotate", {"csr": csr.decode(), **identity_proof(stranger, csr)}, context)
    assert (status, answer["error"]) == (403, "identity_mismatch")
    forged = {**identity_proof(box, csr), "identity_signature": identity_proof(stranger, csr)["identity_signature"]}
    status, answer = post(stack, "/v1/rotate", {"csr": csr.decode(), **forged}, context)
    assert (status, answer["error"]) == (400, "bad_identity")
    assert device_row(stack, "ident-04")[:3] == (base64.b64encode(box.public_bytes).decode(), box.device_id, serial)

    # the enrolled box rotates: a new certificate, the identity unchanged; the new certificate is pending
    # (the old one still works) until it is first presented, and from then on the old one is superseded
    key = ec.generate_private_key(ec.SECP256R1())
    csr = certificate_request(key)
    status, answer = post(stack, "/v1/rotate", {"csr": csr.decode(), **identity_proof(box, csr)}, context)
    assert status == 200, answer
    certificate = answer["certificate"].encode()
    assert san_uris(certificate) == [URN + box.device_id]
    new_serial = format(x509.load_pem_x509_certificate(certificate).serial_number, "X")
    assert device_row(stack, "ident-04")[1:3] == (box.device_id, serial)
    assert stack.query("SELECT pending_serial FROM devices WHERE device_id = 'ident-04'") == [(new_serial,)]
    assert commands(stack, context) == 200  # the old one is still taken
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    (rotated / "device.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    (rotated / "device.crt").write_bytes(certificate)
    (rotated / "ca.crt").write_bytes(identity.ca.read_bytes())
    new_context = client_context(SyncCredentials(rotated, identity.device_id, identity.central_url))
    assert commands(stack, new_context) == 200  # presented: now the current one
    assert device_row(stack, "ident-04")[2] == new_serial
    csr = new_csr()
    status, answer = post(stack, "/v1/rotate", {"csr": csr.decode(), **identity_proof(box, csr)}, context)
    assert (status, answer["error"]) == (403, "certificate_superseded")


def test_a_device_enrolled_before_identities_binds_its_identity_at_rotation(stack, tmp_path):
    box = load_or_create_identity(tmp_path)
    identity = asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("ident-05"), stack.ca_pem)).identity
    with psycopg.connect(stack.dsn) as conn:  # as migration 4 leaves a device enrolled before it
        conn.execute("UPDATE devices SET identity_key = NULL, identity_id = NULL WHERE device_id = 'ident-05'")
    csr = new_csr()
    status, answer = post(stack, "/v1/rotate", {"csr": csr.decode(), **identity_proof(box, csr)},
                          client_context(identity))
    assert status == 200, answer
    assert device_row(stack, "ident-05")[1] == box.device_id


def test_the_fleet_dashboard_lists_the_short_id_installers_see(stack, tmp_path):
    import datetime as dt

    from psycopg.rows import dict_row

    from vigia.central.dashboard.queries import DEVICES_SQL
    from vigia.central.migrations import migrate

    box = load_or_create_identity(tmp_path)
    asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("ident-06"), stack.ca_pem))

    async def listed():
        async with await psycopg.AsyncConnection.connect(stack.dsn, autocommit=True) as conn:
            await migrate(conn)
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(DEVICES_SQL, {"online": dt.timedelta(minutes=5), "device": "ident-06"})
            return await cursor.fetchone()
    assert asyncio.run(listed())["short_id"] == box.short_id

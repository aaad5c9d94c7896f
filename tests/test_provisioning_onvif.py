"""ONVIF: the client that provisioning uses against real cameras, against a camera that speaks the real
protocols (WS-Discovery over UDP multicast, SOAP over HTTP, WS-Security UsernameToken digests checked).

Both run on the loopback interface: with the interface named for the multicast (IP_MULTICAST_IF and the
group joined on 127.0.0.1), Linux loops the Probe back to the responder without any route set up.
"""
from __future__ import annotations

import socket

import pytest
from support.onvif_responder import OnvifResponder

from vigia.provisioning.onvif import (
    OnvifAuthError,
    OnvifError,
    OnvifTimeout,
    parse_xml,
    probe,
    stream_uris,
)

LOOPBACK = "127.0.0.1"


@pytest.fixture()
def camera():
    responder = OnvifResponder("admin", "correct horse")
    yield responder
    responder.close()


def test_probe_finds_the_camera_over_multicast(camera):
    found = [d for d in probe(timeout=1.0, interface=LOOPBACK) if d.endpoint == camera.endpoint]
    assert len(found) == 1 and camera.probes >= 1
    assert found[0].xaddrs == [camera.device_xaddr]
    assert "onvif://www.onvif.org/name/TestCam" in found[0].scopes and found[0].source == LOOPBACK


def test_stream_uris_with_digest_login(camera):
    xaddr = next(d for d in probe(timeout=1.0, interface=LOOPBACK) if d.endpoint == camera.endpoint).xaddrs[0]
    profiles = stream_uris(xaddr, "admin", "correct horse")
    assert [(p.token, p.name, p.encoding, p.width, p.height, p.uri) for p in profiles] == [
        ("Profile_1", "mainStream", "H264", 1920, 1080, f"rtsp://{LOOPBACK}:554/Streaming/Channels/101"),
        ("Profile_2", "subStream", "H264", 640, 360, f"rtsp://{LOOPBACK}:554/Streaming/Channels/102"),
    ]
    assert camera.auth_failures == 0


def test_wrong_password_is_an_auth_error_without_the_password(camera):
    with pytest.raises(OnvifAuthError, match="refused the user name or password") as err:
        stream_uris(camera.device_xaddr, "admin", "wrong horse")
    assert "horse" not in str(err.value)
    assert camera.auth_failures == 1
    with pytest.raises(OnvifAuthError):
        stream_uris(camera.device_xaddr, "someone", "correct horse")


def test_camera_clock_far_off_still_logs_in():
    """The token's time is taken from the camera's clock (GetSystemDateAndTime), as real cameras need."""
    responder = OnvifResponder("admin", "pw", clock_offset=-3 * 3600)
    try:
        assert len(stream_uris(responder.device_xaddr, "admin", "pw")) == 2
    finally:
        responder.close()


def test_silent_camera_times_out():
    listener = socket.create_server((LOOPBACK, 0))  # accepts connections (backlog) but never answers
    try:
        url = f"http://{LOOPBACK}:{listener.getsockname()[1]}/onvif/device_service"
        with pytest.raises(OnvifTimeout, match=r"GetSystemDateAndTime: no answer within 0\.5 s"):
            stream_uris(url, "admin", "pw", timeout=0.5)
    finally:
        listener.close()


def test_nothing_listening_is_a_clear_error():
    port = socket.create_server((LOOPBACK, 0))
    url = f"http://{LOOPBACK}:{port.getsockname()[1]}/onvif/device_service"
    port.close()
    with pytest.raises(OnvifError, match="cannot connect"):
        stream_uris(url, "admin", "pw", timeout=1)


def test_probe_with_no_camera_answers_nothing():
    assert probe(timeout=0.3, interface=LOOPBACK) == []


def test_a_reply_with_entities_or_a_dtd_is_refused_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&b;</s:Body></s:Envelope>')
    with pytest.raises(OnvifError, match="document type declaration or entities is refused"):
        parse_xml(bomb)
    external = (b'<?xml version="1.0"?><!DOCTYPE s SYSTEM "http://10.0.0.9/evil.dtd">'
                b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>')
    with pytest.raises(OnvifError, match="refused"):
        parse_xml(external)

"""ONVIF cameras: WS-Discovery to find them, the device and media services to get their RTSP URIs.

- `probe()` multicasts a WS-Discovery Probe for `NetworkVideoTransmitter` to 239.255.255.250:3702 and
  collects the ProbeMatches (device service addresses, scopes) that answer within the timeout.
- `stream_uris()` asks a device's service for its clock (GetSystemDateAndTime, so the UsernameToken's
  time is the camera's, not ours), its media service (GetCapabilities), then GetProfiles and
  GetStreamUri (RTP over RTSP) for each profile, signed with a WS-Security UsernameToken
  (PasswordDigest: the password itself never goes over the wire).
Errors say which device and step failed; passwords are never in them.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import socket
import struct
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET  # building requests and the Element type; replies parse with defusedxml
from dataclasses import dataclass
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree as defused

MULTICAST_GROUP, DISCOVERY_PORT = "239.255.255.250", 3702

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
AUTH_FAULTS = {"NotAuthorized", "FailedAuthentication", "InvalidSecurityToken", "FailedCheck"}


class OnvifError(Exception):
    """An ONVIF exchange that failed; the message names the device and the step."""


class OnvifAuthError(OnvifError):
    """The camera refused the user name or password."""


class OnvifTimeout(OnvifError):
    """The camera did not answer in time."""


@dataclass(frozen=True)
class DiscoveredDevice:
    endpoint: str          # the device's stable WS-Addressing address (urn:uuid:...)
    xaddrs: list[str]      # device service URLs
    scopes: list[str]      # onvif://www.onvif.org/name/..., /hardware/..., /location/...
    source: str            # the address the answer came from


@dataclass(frozen=True)
class StreamProfile:
    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    uri: str               # rtsp://...; the camera's credentials are still needed to play it


# -- WS-Discovery ---------------------------------------------------------------------------------

def probe(timeout: float = 2.0, interface: str | None = None,
          target: tuple[str, int] = (MULTICAST_GROUP, DISCOVERY_PORT)) -> list[DiscoveredDevice]:
    """The NetworkVideoTransmitters that answer a Probe within `timeout` seconds (none: an empty list).

    `interface` is the IPv4 address of the interface to multicast on (default: the routing table's choice).
    """
    message_id = f"urn:uuid:{uuid.uuid4()}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 1))
        if interface:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
            sock.bind((interface, 0))
        try:
            sock.sendto(probe_message(message_id).encode(), target)
        except OSError as exc:
            raise OnvifError(f"cannot send the WS-Discovery probe to {target[0]}:{target[1]}: "
                             f"{exc.strerror or exc}") from None
        found: dict[str, DiscoveredDevice] = {}
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, (source, _port) = sock.recvfrom(65535)
            except TimeoutError:
                break
            for device in _probe_matches(data, message_id, source):
                found.setdefault(device.endpoint, device)
        return list(found.values())
    finally:
        sock.close()


def probe_message(message_id: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:d="{NS["d"]}" xmlns:dn="{NS["dn"]}">'
        f'<s:Header><a:Action s:mustUnderstand="1">{NS["d"]}/Probe</a:Action>'
        f'<a:MessageID>{message_id}</a:MessageID>'
        f'<a:ReplyTo><a:Address>{NS["a"]}/role/anonymous</a:Address></a:ReplyTo>'
        f'<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>'
        f'<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>'
    )


def _probe_matches(data: bytes, message_id: str, source: str) -> list[DiscoveredDevice]:
    """The matches in one datagram that answer our probe; anything else on the port is ignored."""
    try:
        root = parse_xml(data)
    except OnvifError:
        return []
    if root.findtext("s:Header/a:RelatesTo", namespaces=NS) != message_id:
        return []
    devices = []
    for match in root.iterfind("s:Body/d:ProbeMatches/d:ProbeMatch", NS):
        xaddrs = (match.findtext("d:XAddrs", "", NS)).split()
        endpoint = match.findtext("a:EndpointReference/a:Address", "", NS).strip()
        if xaddrs and endpoint:
            devices.append(DiscoveredDevice(endpoint, xaddrs, match.findtext("d:Scopes", "", NS).split(), source))
    return devices


# -- device and media services --------------------------------------------------------------------

def stream_uris(xaddr: str, username: str, password: str, timeout: float = 5.0) -> list[StreamProfile]:
    """Each media profile of the device at `xaddr` with its RTSP URI."""
    skew = _clock_offset(xaddr, timeout)
    security = (username, password, skew)
    capabilities = _call(xaddr, "GetCapabilities", "<tds:GetCapabilities><tds:Category>Media</tds:Category>"
                         "</tds:GetCapabilities>", security, timeout)
    media = capabilities.findtext(".//tt:Media/tt:XAddr", None, NS)
    if not media:
        raise OnvifError(f"{xaddr}: the device has no media service (GetCapabilities lists none)")
    profiles = _call(media.strip(), "GetProfiles", "<trt:GetProfiles/>", security, timeout)
    out = []
    for profile in profiles.iterfind(".//trt:Profiles", NS):
        token = profile.get("token")
        if not token:
            continue
        setup = ("<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>"
                 "<tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
                 f"<trt:ProfileToken>{escape(token)}</trt:ProfileToken></trt:GetStreamUri>")
        uri = _call(media.strip(), "GetStreamUri", setup, security, timeout).findtext(".//trt:MediaUri/tt:Uri", None, NS)
        if not uri:
            raise OnvifError(f"{media}: GetStreamUri for profile {token!r} returned no URI")
        encoder = profile.find("tt:VideoEncoderConfiguration", NS)
        width = encoder.findtext("tt:Resolution/tt:Width", None, NS) if encoder is not None else None
        height = encoder.findtext("tt:Resolution/tt:Height", None, NS) if encoder is not None else None
        out.append(StreamProfile(token, profile.findtext("tt:Name", token, NS),
                                 encoder.findtext("tt:Encoding", None, NS) if encoder is not None else None,
                                 int(width) if width else None, int(height) if height else None, uri.strip()))
    return out


def username_token(username: str, password: str, now: dt.datetime, nonce: bytes | None = None) -> str:
    """A WS-Security UsernameToken header: Digest = Base64(SHA-1(nonce + created + password))."""
    nonce = nonce or secrets.token_bytes(16)
    created = now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # SHA-1 because the WS-Security UsernameToken profile 1.0 that ONVIF mandates defines PasswordDigest so; a
    # scanner's finding here has that answer (and the camera's password travels on the LAN only).
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()  # nosec B324
    return (f'<wsse:Security xmlns:wsse="{NS["wsse"]}" xmlns:wsu="{NS["wsu"]}" s:mustUnderstand="1">'
            f"<wsse:UsernameToken><wsse:Username>{escape(username)}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>")


def _clock_offset(xaddr: str, timeout: float) -> float:
    """Seconds the device's UTC clock is ahead of ours (GetSystemDateAndTime needs no login)."""
    before = time.time()
    reply = _call(xaddr, "GetSystemDateAndTime", "<tds:GetSystemDateAndTime/>", None, timeout)
    utc = reply.find(".//tt:UTCDateTime", NS)
    if utc is None:
        return 0.0  # a device that does not say: trust our clock
    try:
        fields = {k: int(utc.findtext(f"tt:{p}/tt:{k}", "", NS)) for p, keys in
                  (("Date", ("Year", "Month", "Day")), ("Time", ("Hour", "Minute", "Second"))) for k in keys}
        theirs = dt.datetime(fields["Year"], fields["Month"], fields["Day"], fields["Hour"], fields["Minute"],
                             fields["Second"], tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        raise OnvifError(f"{xaddr}: GetSystemDateAndTime returned a date that cannot be read") from None
    return theirs - (before + time.time()) / 2


def _call(url: str, action: str, body: str, security: tuple[str, str, float] | None, timeout: float) -> ET.Element:
    header = ""
    if security is not None:
        username, password, skew = security
        header = username_token(username, password, dt.datetime.fromtimestamp(time.time() + skew, dt.timezone.utc))
    envelope = (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS["s"]}" xmlns:tds="{NS["tds"]}" '
                f'xmlns:trt="{NS["trt"]}" xmlns:tt="{NS["tt"]}"><s:Header>{header}</s:Header>'
                f"<s:Body>{body}</s:Body></s:Envelope>")
    request = urllib.request.Request(url, data=envelope.encode(), method="POST",
                                     headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        data = exc.read()
        if exc.code == 401:
            raise OnvifAuthError(f"{url}: {action}: the camera refused the user name or password (HTTP 401)") from None
        _raise_fault(url, action, data, f"HTTP {exc.code}")
        raise OnvifError(f"{url}: {action}: HTTP {exc.code} {exc.reason}") from None
    except TimeoutError:
        raise OnvifTimeout(f"{url}: {action}: no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise OnvifTimeout(f"{url}: {action}: no answer within {timeout:g} s") from None
        raise OnvifError(f"{url}: {action}: cannot connect: {exc.reason}") from None
    _raise_fault(url, action, data, "SOAP fault")
    root = parse_xml(data, f"{url}: {action}")
    body_el = root.find("s:Body", NS)
    if body_el is None or len(body_el) == 0:
        raise OnvifError(f"{url}: {action}: the answer has no SOAP body")
    return body_el[0]


def _raise_fault(url: str, action: str, data: bytes, what: str) -> None:
    try:
        fault = parse_xml(data).find("s:Body/s:Fault", NS)
    except OnvifError:
        return
    if fault is None:
        return
    codes = [(v.text or "").strip().rpartition(":")[2] for v in fault.iter(f"{{{NS['s']}}}Value")]
    reason = (fault.findtext("s:Reason/s:Text", "", NS) or "").strip()
    if AUTH_FAULTS & set(codes):
        raise OnvifAuthError(f"{url}: {action}: the camera refused the user name or password ({reason or codes[-1]})")
    raise OnvifError(f"{url}: {action}: {what}: {reason or '/'.join(codes)}")


def parse_xml(data: bytes, where: str = "answer") -> ET.Element:
    """Parse a SOAP message with defusedxml: document type declarations, entities and external references are
    refused (a camera on the LAN is not trusted)."""
    try:
        return defused.fromstring(data, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise OnvifError(f"{where}: XML with a document type declaration or entities is refused ({exc})") from None
    except ET.ParseError as exc:
        raise OnvifError(f"{where}: not XML: {exc}") from None

"""A protocol-level ONVIF camera for tests: WS-Discovery over real UDP multicast, SOAP over real HTTP.

It answers Probes for NetworkVideoTransmitter sent to 239.255.255.250:3702 on one interface, and serves
GetSystemDateAndTime (no login), GetCapabilities, GetProfiles and GetStreamUri. Requests that need a
login must carry a WS-Security UsernameToken whose PasswordDigest matches `password`, created within
five minutes of the camera's clock (which can run `clock_offset` seconds off), with a nonce not seen
before; anything else gets the ONVIF `ter:NotAuthorized` sender fault (HTTP 400), as cameras send it.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import socket
import struct
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from vigia.provisioning.onvif import DISCOVERY_PORT, MULTICAST_GROUP, NS

FRESHNESS = 300.0


@dataclass
class Profile:
    token: str
    name: str
    width: int
    height: int
    path: str  # of the RTSP URI


@dataclass
class OnvifResponder:
    username: str
    password: str
    interface: str = "127.0.0.1"
    clock_offset: float = 0.0
    profiles: list[Profile] = field(default_factory=lambda: [
        Profile("Profile_1", "mainStream", 1920, 1080, "/Streaming/Channels/101"),
        Profile("Profile_2", "subStream", 640, 360, "/Streaming/Channels/102"),
    ])
    endpoint: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    probes: int = 0                  # Probes for NetworkVideoTransmitter answered
    auth_failures: int = 0
    rtsp_port: int = 554             # of the stream URIs (a test's RTSP server listens elsewhere)

    def __post_init__(self) -> None:
        self._seen_nonces: set[bytes] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._udp.bind(("", DISCOVERY_PORT))
        self._udp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton(self.interface)))
        self._udp.settimeout(0.2)
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, reply = responder._soap(self.path, body)
                data = reply.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer((self.interface, 0), Handler)
        self._threads = [threading.Thread(target=self._http.serve_forever, daemon=True),
                         threading.Thread(target=self._discovery, daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def device_xaddr(self) -> str:
        return f"http://{self.interface}:{self._http.server_port}/onvif/device_service"

    @property
    def media_xaddr(self) -> str:
        return f"http://{self.interface}:{self._http.server_port}/onvif/media_service"

    def stream_uri(self, profile: Profile) -> str:
        return f"rtsp://{self.interface}:{self.rtsp_port}{profile.path}"

    def close(self) -> None:
        self._stop.set()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._udp.close()

    # -- WS-Discovery ----------------------------------------------------------------------------

    def _discovery(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._udp.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            try:
                root = ET.fromstring(data)
            except ET.ParseError:
                continue
            probe = root.find("s:Body/d:Probe", NS)
            message_id = root.findtext("s:Header/a:MessageID", None, NS)
            if probe is None or not message_id:
                continue
            types = (probe.findtext("d:Types", "", NS)).split()
            if types and not any(t.rpartition(":")[2] == "NetworkVideoTransmitter" for t in types):
                continue
            self.probes += 1
            self._udp.sendto(self._probe_match(message_id).encode(), sender)

    def _probe_match(self, relates_to: str) -> str:
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" '
            f'xmlns:d="{NS["d"]}" xmlns:dn="{NS["dn"]}"><s:Header>'
            f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID><a:RelatesTo>{relates_to}</a:RelatesTo>"
            f"<a:To>{NS['a']}/role/anonymous</a:To><a:Action>{NS['d']}/ProbeMatches</a:Action></s:Header>"
            f"<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>{self.endpoint}</a:Address>"
            f"</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
            f"<d:Scopes>onvif://www.onvif.org/name/TestCam onvif://www.onvif.org/hardware/Responder</d:Scopes>"
            f"<d:XAddrs>{self.device_xaddr}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>"
            f"</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>")

    # -- SOAP ------------------------------------------------------------------------------------

    def _soap(self, path: str, body: bytes) -> tuple[int, str]:
        root = ET.fromstring(body)
        request = root.find("s:Body", NS)[0]
        action = request.tag.rpartition("}")[2]
        if (path, action) == ("/onvif/device_service", "GetSystemDateAndTime"):
            return 200, self._envelope(self._date_and_time())
        if not self._authorised(root):
            with self._lock:
                self.auth_failures += 1
            return 400, self._fault("ter:NotAuthorized", "Sender not Authorized")
        if (path, action) == ("/onvif/device_service", "GetCapabilities"):
            return 200, self._envelope(f"<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media>"
                                       f"<tt:XAddr>{self.media_xaddr}</tt:XAddr></tt:Media></tds:Capabilities>"
                                       f"</tds:GetCapabilitiesResponse>")
        if (path, action) == ("/onvif/media_service", "GetProfiles"):
            profiles = "".join(
                f'<trt:Profiles token="{escape(p.token)}" fixed="true"><tt:Name>{escape(p.name)}</tt:Name>'
                f'<tt:VideoEncoderConfiguration token="enc{i}"><tt:Name>enc{i}</tt:Name><tt:UseCount>1</tt:UseCount>'
                f"<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{p.width}</tt:Width>"
                f"<tt:Height>{p.height}</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration></trt:Profiles>"
                for i, p in enumerate(self.profiles))
            return 200, self._envelope(f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>")
        if (path, action) == ("/onvif/media_service", "GetStreamUri"):
            token = request.findtext("trt:ProfileToken", "", NS)
            protocol = request.findtext("trt:StreamSetup/tt:Transport/tt:Protocol", "", NS)
            profile = next((p for p in self.profiles if p.token == token), None)
            if profile is None or protocol != "RTSP":
                return 400, self._fault("ter:InvalidArgVal", f"no profile {token!r} over {protocol!r}")
            return 200, self._envelope(f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{self.stream_uri(profile)}"
                                       f"</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
                                       f"<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S"
                                       f"</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>")
        return 400, self._fault("ter:ActionNotSupported", f"{action} is not served at {path}")

    def _authorised(self, root: ET.Element) -> bool:
        token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            return False
        password = token.find("wsse:Password", NS)
        try:
            nonce = base64.b64decode(token.findtext("wsse:Nonce", "", NS), validate=True)
            created = token.findtext("wsu:Created", "", NS)
            when = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
        except ValueError:
            return False
        if password is None or not (password.get("Type") or "").endswith("#PasswordDigest"):
            return False
        if abs(when - (time.time() + self.clock_offset)) > FRESHNESS:
            return False
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()).decode()
        if token.findtext("wsse:Username", "", NS) != self.username or not hmac.compare_digest(
                expected, (password.text or "").strip()):
            return False
        with self._lock:
            if nonce in self._seen_nonces:
                return False  # a replayed token
            self._seen_nonces.add(nonce)
        return True

    def _date_and_time(self) -> str:
        now = dt.datetime.fromtimestamp(time.time() + self.clock_offset, dt.timezone.utc)
        return (f"<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
                f"<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time><tt:Hour>{now.hour}</tt:Hour>"
                f"<tt:Minute>{now.minute}</tt:Minute><tt:Second>{now.second}</tt:Second></tt:Time><tt:Date>"
                f"<tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date>"
                f"</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")

    def _envelope(self, body: str) -> str:
        return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS["s"]}" xmlns:tds="{NS["tds"]}" '
                f'xmlns:trt="{NS["trt"]}" xmlns:tt="{NS["tt"]}"><s:Body>{body}</s:Body></s:Envelope>')

    def _fault(self, subcode: str, reason: str) -> str:
        return self._envelope(
            f'<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value xmlns:ter="http://www.onvif.org/ver10/error">'
            f"{subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">{escape(reason)}</s:Text>"
            f"</s:Reason></s:Fault>")

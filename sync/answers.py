"""Central's answers as the appliance reads them: JSON from central itself, or, when something else answered
(NGINX's own error page while no central instance is up, a captive portal), a JSON error saying who and what.

A central route always answers JSON; NGINX (vigia.central.ingest.nginx) answers JSON for 502/503/504 too. An
answer that is not JSON becomes {"error": "not_json", "message": ...}, naming the status and the hop, so the logs
read "central's proxy answered 502 Bad Gateway: no central instance behind it" instead of a JSON decoder's error.
"""
from __future__ import annotations

import json
from http import HTTPStatus

import aiohttp

PROXY_GATEWAY_ERRORS = {502: "no central instance behind it answered", 503: "no central instance behind it is available",
                        504: "no central instance behind it answered in time"}


def describe_foreign_answer(status: int, server: str | None) -> str:
    """What a non-JSON answer with this status (from a `Server:` of this name) means for the device."""
    try:
        reason = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        reason = str(status)
    if server and server.lower().startswith("nginx"):
        return f"central's proxy answered {reason}" + (f": {PROXY_GATEWAY_ERRORS[status]}" if status in PROXY_GATEWAY_ERRORS
                                                       else "")
    by = f" from {server!r}" if server else ""
    return f"an answer that is not central's: {reason}{by}, not JSON (a proxy or portal in between, or not central)"


async def read_answer(response: aiohttp.ClientResponse) -> tuple[int, dict]:
    """The status and the JSON object answered; a `not_json` error object when the body is not a JSON object."""
    text = await response.text(errors="replace")
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        return response.status, answer
    return response.status, {"error": "not_json",
                             "message": describe_foreign_answer(response.status, response.headers.get("Server"))}

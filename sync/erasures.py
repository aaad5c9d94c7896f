"""Erasures to central, from the appliance: the central part of a data-subject erasure (vigia.appliance.privacy.requests).

    POST /v1/privacy/erasures  {"request_id", "camera", "from", "to", "event_ids"}
        -> 200 {"receipt": {...}}                      central erased its rows, objects and re-analysis data
        -> 409 {"error": "held", "message": ...}       a legal hold at central covers it: nothing erased there

A request goes once central has acknowledged every record numbered before the erasure (the high-water mark passed
its `after_seq`): no batch still in flight can bring an erased event back after central erased it. The uploader
sends them when its outbox has nothing else to send; `vigia privacy request erase` tries at once too. A central
that cannot be reached, or fails, is asked again later; an answer is kept in the request's receipt, audited.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import ssl

import aiohttp

from vigia.appliance.privacy.requests import central_answered, pending_central
from vigia.sync.answers import read_answer

log = logging.getLogger(__name__)

ROUTE = "/v1/privacy/erasures"


def ready(conn: sqlite3.Connection, taken_to: int | None = None) -> list[tuple[str, dict]]:
    """The pending erasures central may be sent now (request id, receipt)."""
    waiting = conn.execute("SELECT min(seq) FROM outbox WHERE seq IS NOT NULL").fetchone()[0]
    acknowledged = (waiting - 1) if waiting is not None else float("inf")
    if taken_to is not None:
        acknowledged = max(acknowledged, taken_to) if waiting is not None else acknowledged
    return [(request_id, receipt) for request_id, after_seq, receipt in pending_central(conn) if after_seq <= acknowledged]


def request_body(request_id: str, receipt: dict) -> dict:
    return {"request_id": request_id, "camera": receipt["camera"], "from": receipt["from"], "to": receipt["to"],
            "event_ids": receipt["appliance"]["events"]}


async def send_ready(conn: sqlite3.Connection, session: aiohttp.ClientSession, central_url: str,
                     ssl_context: ssl.SSLContext | None, taken_to: int | None = None) -> int:
    """Send the erasures that are ready; how many central answered (erased or refused)."""
    answered = 0
    for request_id, receipt in await asyncio.to_thread(ready, conn, taken_to):
        try:
            async with session.post(central_url.rstrip("/") + ROUTE, json=request_body(request_id, receipt),
                                    ssl=ssl_context) as response:
                status, answer = await read_answer(response)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("erasure %s not sent to central, unreachable (%s): sent again later", request_id,
                        type(exc).__name__)
            return answered
        if status == 200 and isinstance(answer.get("receipt"), dict):
            await asyncio.to_thread(central_answered, conn, request_id, answer["receipt"])
            log.info("central erased its copy of erasure %s", request_id)
        elif status == 409 and answer.get("error") == "held":
            await asyncio.to_thread(central_answered, conn, request_id, {"message": answer.get("message", "")}, True)
            log.error("central refused erasure %s: %s", request_id, answer.get("message"))
        else:
            log.warning("erasure %s: central answered %d (%s): sent again later", request_id, status,
                        answer.get("message", answer))
            continue
        answered += 1
    return answered

"""The device route of data-subject erasures, on central's ingest app (device certificate, as the batches):

    POST /v1/privacy/erasures  {"request_id", "camera", "from", "to", "event_ids"}
        -> 200 {"receipt": {...}}  |  409 {"error": "held", "message"}  |  400 malformed  |  401 unauthenticated
"""
from __future__ import annotations

import logging
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vigia.central.ingest.enrolment import check_certificate
from vigia.central.ingest.media import MediaStore
from vigia.central.ingest.peer import INGEST, error_response, verified_peer
from vigia.central.privacy.erasure import ErasureRequest, Held, erase
from vigia.sync.protocol import EARLIEST, LATEST, ProtocolError, describe_validation_error

log = logging.getLogger(__name__)

EventId = Annotated[str, Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


class ErasureBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    request_id: Annotated[str, Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
    camera: Annotated[str, Field(min_length=1, max_length=256)]
    start: Annotated[float, Field(alias="from", ge=EARLIEST, le=LATEST)]
    end: Annotated[float, Field(alias="to", ge=EARLIEST, le=LATEST)]
    event_ids: Annotated[list[EventId], Field(max_length=100_000)]

    @model_validator(mode="after")
    def _window(self) -> ErasureBody:
        if self.end <= self.start:
            raise ValueError("to must come after from")
        return self


def add_erasure_routes(app: web.Application, store: MediaStore | None, trusted_proxies: frozenset[str]) -> None:
    async def erasures(request: web.Request) -> web.Response:
        peer = verified_peer(request, trusted_proxies)
        try:
            if peer is None:
                raise ProtocolError(401, "unauthenticated", "a device certificate verified by the proxy is required")
            try:
                body = ErasureBody.model_validate_json(await request.read())
            except ValidationError as exc:
                raise ProtocolError(400, "malformed", describe_validation_error(exc)) from None
            async with request.app[INGEST].pool.connection() as conn:
                await check_certificate(conn, peer.device_id, peer.serial)
                try:
                    receipt = await erase(conn, store, peer.device_id, ErasureRequest(
                        body.request_id, body.camera, body.start, body.end, body.event_ids))
                except Held as exc:
                    log.warning("erasure %s of device %s refused: %s", body.request_id, peer.device_id, exc)
                    raise ProtocolError(409, "held", f"a legal hold at central covers this erasure: {exc}") from None
        except ProtocolError as exc:
            return error_response(exc)
        log.info("erasure %s of device %s: %d events, %d objects erased", body.request_id, peer.device_id,
                 len(receipt["events"]), len(receipt["objects"]))
        return web.json_response({"receipt": receipt})

    app.router.add_post("/v1/privacy/erasures", erasures)

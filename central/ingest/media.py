"""Central's media store: an S3-compatible bucket, and the routes devices upload through.

`vigia central init` makes the bucket (`init_bucket`): default encryption (SSE-S3, AES256) and
lifecycle rules (thumbnails expire after 90 days, clips after 30, unfinished multipart uploads are
aborted after a day; objects carry their kind as the tag `vigia-kind`, which a legal hold replaces: see
vigia.central.holds). Credentials come the usual
boto3 way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile or an instance role) and are never
logged; neither are presigned URLs, which carry a signature.

A device only ever gets presigned PUTs for keys under `devices/<its certificate's id>/`, and no
URL to read anything. Thumbnails go in one PUT; clips in a multipart upload of PART_SIZE parts,
which central finds again (list-multipart-uploads, list-parts) to resume after a restart. An upload
counts once central has read the object back and its size and SHA-256 match what the device
declared; then it is recorded in `media_objects`.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from base64 import b64encode
from dataclasses import dataclass

import boto3
import psycopg
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from vigia.central.ingest.enrolment import check_certificate
from vigia.central.ingest.peer import INGEST, Peer, error_response, verified_peer
from vigia.central.ingest.schema import held
from vigia.central.reanalysis.jobs import clip_arrived
from vigia.sync.protocol import MediaRequest, ProtocolError, describe_validation_error, object_key

log = logging.getLogger(__name__)

KIND_TAG = "vigia-kind"
HOLD_TAG, HELD_KIND_TAG = "vigia-hold", "vigia-held-kind"   # a held object's tags instead (vigia.central.holds)
EXPIRY_DAYS = {"thumbnail": 90, "clip": 30}
ABORT_MULTIPART_DAYS = 1
PRESIGN_EXPIRES_S = 900
PART_SIZE = 8 << 20
CONTENT_TYPES = {"thumbnail": "image/jpeg", "clip": "video/mp4"}


@dataclass(frozen=True)
class MediaSettings:
    endpoint: str | None     # None: AWS itself
    bucket: str
    region: str = "us-east-1"


def s3_client(settings: MediaSettings):
    return boto3.client("s3", endpoint_url=settings.endpoint, region_name=settings.region,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5,
                                      read_timeout=30))


def lifecycle_rules() -> list[dict]:
    rules = [{"ID": f"expire-{kind}s", "Status": "Enabled", "Filter": {"Tag": {"Key": KIND_TAG, "Value": kind}},
              "Expiration": {"Days": days}} for kind, days in EXPIRY_DAYS.items()]
    rules.append({"ID": "abort-incomplete-multipart", "Status": "Enabled", "Filter": {"Prefix": "devices/"},
                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS}})
    return rules


def init_bucket(settings: MediaSettings) -> bool:
    """Make the bucket if missing and (re)set its encryption and lifecycle; True when it was made."""
    s3 = s3_client(settings)
    created = False
    try:
        s3.head_bucket(Bucket=settings.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
        options = ({} if settings.region == "us-east-1"
                   else {"CreateBucketConfiguration": {"LocationConstraint": settings.region}})
        s3.create_bucket(Bucket=settings.bucket, **options)
        created = True
    s3.put_bucket_encryption(Bucket=settings.bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_lifecycle_configuration(Bucket=settings.bucket,
                                          LifecycleConfiguration={"Rules": lifecycle_rules()})
    return created


class MediaStore:
    """Presigned uploads into the bucket, and the check of what arrived."""

    def __init__(self, settings: MediaSettings):
        self.settings = settings
        self._s3 = s3_client(settings)

    def presign_put(self, key: str, request: MediaRequest) -> tuple[str, dict[str, str]]:
        """A URL that PUTs exactly this object (checksum, type and kind tag are signed), and its headers."""
        checksum = b64encode(bytes.fromhex(request.sha256)).decode()
        tagging = f"{KIND_TAG}={request.kind}"
        content_type = CONTENT_TYPES[request.kind]
        url = self._s3.generate_presigned_url("put_object", ExpiresIn=PRESIGN_EXPIRES_S, Params={
            "Bucket": self.settings.bucket, "Key": key, "ChecksumSHA256": checksum, "ContentType": content_type,
            "Tagging": tagging})
        return url, {"x-amz-checksum-sha256": checksum, "Content-Type": content_type, "x-amz-tagging": tagging}

    def start_multipart(self, key: str, request: MediaRequest) -> dict:
        """The upload of `key` in progress (or a new one), with presigned PUTs of the parts it still lacks."""
        upload_id = self._upload_in_progress(key)
        if upload_id is None:
            upload_id = self._s3.create_multipart_upload(
                Bucket=self.settings.bucket, Key=key, ContentType=CONTENT_TYPES[request.kind],
                Tagging=f"{KIND_TAG}={request.kind}")["UploadId"]
        missing = self._missing_parts(key, upload_id, request.size)[0]
        return {"key": key, "part_size": PART_SIZE, "parts": [
            {"number": number, "url": self._s3.generate_presigned_url("upload_part", ExpiresIn=PRESIGN_EXPIRES_S, Params={
                "Bucket": self.settings.bucket, "Key": key, "UploadId": upload_id, "PartNumber": number})}
            for number in missing]}

    def finish_multipart(self, key: str, request: MediaRequest) -> None:
        """Complete the upload of `key` when all its parts are there; ProtocolError (409) when some are not.
        With no upload in progress there is nothing to do (completed before: `verify` tells)."""
        upload_id = self._upload_in_progress(key)
        if upload_id is None:
            return
        missing, parts = self._missing_parts(key, upload_id, request.size)
        if missing:
            raise ProtocolError(409, "parts_missing", f"{len(missing)} parts of {key} are not uploaded yet")
        self._s3.complete_multipart_upload(Bucket=self.settings.bucket, Key=key, UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": number, "ETag": parts[number]["ETag"]} for number in sorted(parts)
                      if number <= math.ceil(request.size / PART_SIZE)]})

    def _upload_in_progress(self, key: str) -> str | None:
        uploads = [u for u in self._s3.list_multipart_uploads(Bucket=self.settings.bucket, Prefix=key).get("Uploads", [])
                   if u["Key"] == key]
        return max(uploads, key=lambda u: u["Initiated"])["UploadId"] if uploads else None

    def _missing_parts(self, key: str, upload_id: str, size: int) -> tuple[list[int], dict[int, dict]]:
        """Part numbers not uploaded at their expected size, and the parts that are there."""
        pages = self._s3.get_paginator("list_parts").paginate(Bucket=self.settings.bucket, Key=key, UploadId=upload_id)
        parts = {part["PartNumber"]: part for page in pages for part in page.get("Parts", [])}
        count = math.ceil(size / PART_SIZE)
        missing = [n for n in range(1, count + 1)
                   if parts.get(n, {}).get("Size") != min(PART_SIZE, size - (n - 1) * PART_SIZE)]
        return missing, parts

    def set_hold(self, key: str, kind: str, held: bool) -> bool:
        """Tag an object as held (no lifecycle rule selects it) or give it its kind tag back; False when it is gone."""
        tags = {HOLD_TAG: "true", HELD_KIND_TAG: kind} if held else {KIND_TAG: kind}
        try:
            self._s3.put_object_tagging(Bucket=self.settings.bucket, Key=key, Tagging={
                "TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False
            raise
        return True

    def delete(self, keys: list[str]) -> list[str]:
        """Delete the objects (a data-subject erasure, vigia.central.privacy); the keys deleted. Raises when S3 does."""
        done = []
        for start in range(0, len(keys), 1000):   # DeleteObjects takes 1,000 keys at most
            answer = self._s3.delete_objects(Bucket=self.settings.bucket, Delete={
                "Objects": [{"Key": key} for key in keys[start:start + 1000]], "Quiet": False})
            if answer.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(answer['Errors'])} objects, the first:"
                                   f" {answer['Errors'][0].get('Key')}: {answer['Errors'][0].get('Message')}")
            done += [d["Key"] for d in answer.get("Deleted", [])]
        return done

    def existing(self, keys: list[str]) -> list[str]:
        """The keys still in the bucket."""
        found = []
        for key in keys:
            try:
                self._s3.head_object(Bucket=self.settings.bucket, Key=key)
                found.append(key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                    raise
        return found

    def verify(self, key: str, request: MediaRequest) -> None:
        """Read the object back; ProtocolError when it is missing, or (deleted then) when it is not what was declared."""
        try:
            body = self._s3.get_object(Bucket=self.settings.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ProtocolError(404, "not_uploaded", f"{key} is not in the bucket") from None
            raise
        digest, size = hashlib.sha256(), 0
        with body:
            for chunk in body.iter_chunks(1 << 16):
                digest.update(chunk)
                size += len(chunk)
                if size > request.size:
                    break
        if size != request.size or digest.hexdigest() != request.sha256:
            self._s3.delete_object(Bucket=self.settings.bucket, Key=key)
            raise ProtocolError(422, "checksum_mismatch", f"{key} does not match the declared size and SHA-256:"
                                " deleted, upload it again")


RECORD_OBJECT = f"""
    INSERT INTO media_objects AS m (device_id, key, kind, event_id, size, sha256) VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (device_id, key) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, uploaded_at = now(),
        held = false
    RETURNING {held("m")}"""


def add_media_routes(app: web.Application, store: MediaStore, trusted_proxies: frozenset[str]) -> None:
    """POST /v1/media/uploads and /v1/media/complete (see vigia.sync.media)."""

    async def accepted(request: web.Request, conn: psycopg.AsyncConnection) -> tuple[Peer, MediaRequest, str]:
        peer = verified_peer(request, trusted_proxies)
        if peer is None:
            raise ProtocolError(401, "unauthenticated", "a device certificate verified by the proxy is required")
        try:
            media = MediaRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            raise ProtocolError(400, "malformed", describe_validation_error(exc)) from None
        await check_certificate(conn, peer.device_id, peer.serial)
        return peer, media, object_key(peer.device_id, media)

    async def storage(call, *args):
        """A (blocking) MediaStore call off the event loop; storage failures become a 503 the device retries."""
        try:
            return await asyncio.to_thread(call, *args)
        except (BotoCoreError, ClientError) as exc:
            raise ProtocolError(503, "storage_unavailable", f"object storage did not answer: {exc}") from None

    async def uploads(request: web.Request) -> web.Response:
        try:
            async with request.app[INGEST].pool.connection() as conn:
                peer, media, key = await accepted(request, conn)
                cursor = await conn.execute("SELECT size, sha256 FROM media_objects WHERE device_id = %s AND key = %s",
                                            [peer.device_id, key])
                if await cursor.fetchone() == (media.size, media.sha256):
                    return web.json_response({"key": key, "stored": True})
            if media.kind == "clip":
                return web.json_response(await storage(store.start_multipart, key, media))
        except ProtocolError as exc:
            return error_response(exc)
        url, headers = store.presign_put(key, media)
        return web.json_response({"key": key, "url": url, "headers": headers})

    async def complete(request: web.Request) -> web.Response:
        try:
            async with request.app[INGEST].pool.connection() as conn:
                peer, media, key = await accepted(request, conn)
                if media.kind == "clip":
                    await storage(store.finish_multipart, key, media)
                await storage(store.verify, key, media)
                async with conn.transaction():
                    cursor = await conn.execute(RECORD_OBJECT, [peer.device_id, key, media.kind, media.event_id,
                                                                media.size, media.sha256])
                    if (await cursor.fetchone())[0]:  # under a legal hold: out of the lifecycle rules from the start
                        await storage(store.set_hold, key, media.kind, True)
                        await conn.execute("UPDATE media_objects SET held = true WHERE device_id = %s AND key = %s",
                                           [peer.device_id, key])
                    if media.kind == "clip":
                        await clip_arrived(conn, peer.device_id, media.event_id, key)
        except ProtocolError as exc:
            log.warning("media upload from %s refused: %s %s", request.remote, exc.code, exc.message)
            return error_response(exc)
        return web.json_response({"key": key, "size": media.size, "sha256": media.sha256})

    app.router.add_post("/v1/media/uploads", uploads)
    app.router.add_post("/v1/media/complete", complete)


def add_no_media_routes(app: web.Application) -> None:
    """The media routes of a central served without a bucket: a JSON error the device acts on (it stops queuing
    media for a while, vigia.sync.media), not a plain-text 404 it would retry."""

    async def not_configured(_request: web.Request) -> web.Response:
        return error_response(ProtocolError(501, "media_not_configured", "this central takes no media: it is served"
                                            " without --bucket (see `vigia central serve --bucket`)"))

    app.router.add_post("/v1/media/uploads", not_configured)
    app.router.add_post("/v1/media/complete", not_configured)

"""What the API's parts share: its settings and per-application state."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from vigia.central.api.clients import Principal
from vigia.central.api.limits import Limits

if TYPE_CHECKING:
    from vigia.central.ingest.media import MediaSettings

API_PREFIX = "/api/v1"
GRAPHQL_PATH = "/graphql"
MAX_BODY = 64 * 1024
PAGE = 50                # items a page unless `limit` says otherwise
MAX_PAGE = 100
CLIP_LINK_S = 300        # a clip's presigned link lives this long


@dataclass(frozen=True)
class ApiSettings:
    dsn: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "vigia:api:"          # every key this API keeps in Redis starts with it
    cache_ttl_s: float = 5.0                  # answers cached this long (0: no cache)
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})   # their X-Real-IP is believed (audit)
    pool_size: int = 8
    media: MediaSettings | None = None        # the bucket of clips; None: no clip links
    max_depth: int = 6                        # GraphQL: selections nested deeper are refused
    max_cost: int = 5000                      # GraphQL: estimated items a query may return
    max_aliases: int = 15
    max_tokens: int = 2000


@dataclass
class Api:
    """Per-application state."""

    settings: ApiSettings
    pool: AsyncConnectionPool
    audit_pool: AsyncConnectionPool           # synchronous_commit off: a call never waits for its audit row's flush
    limits: Limits
    s3: object | None = None                  # boto3 S3 client, when settings.media is set


API = web.AppKey("vigia_api", Api)
PRINCIPAL = web.RequestKey("vigia_api_principal", Principal)

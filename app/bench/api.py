"""`vigia bench api --json`: central's external API over `--events` central events (default 1,000,000).

- rest_p95_ms: a page of 50 events from GET /api/v1/events with random filters (device, site, camera, label,
  alert, verdict, a time window; each present or not, at random; a fifth of the calls the next page by
  cursor), through the NGINX gateway (TLS) to two API instances, the response cache off so every call
  reaches PostgreSQL.
- graphql_p95_ms: the same pages (the same filters) through POST /graphql.
- *_p95_ms_without_verdict_filter: the same without the calls that filter by verdict (those are found from the
  verdicts' side, vigia.central.api.queries.events_with_verdict).
- rate_limit_exact: a client allowed N calls a minute fires 3N/2 calls at once, split between the two
  instances (sharing Redis); true when exactly N succeed and the rest get 429.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import numpy as np
import psycopg

from vigia.app.apistack import api_stack, redis_server
from vigia.app.devstack import temporary_database
from vigia.central.api import clients
from vigia.central.ingest.schema import ensure_partitions, month_of
from vigia.central.migrations import migrate

DEVICES, SITES, CAMERAS = 200, 10, 4
LABELS = ("person", "car", "bicycle", "truck", "dog", "motorcycle")
DAYS = 180                       # the events span this many days, up to now
VERDICT_SHARE = 20               # one event in this many has a verdict
GRAPHQL = """query($first: Int!, $after: String, $device: String, $site: String, $camera: String, $label: String,
    $since: DateTime, $until: DateTime, $alert: Boolean, $verdict: String) {
  events(first: $first, after: $after, device: $device, site: $site, camera: $camera, label: $label, since: $since,
         until: $until, alert: $alert, verdict: $verdict) {
    items { deviceId site eventId camera rule label alert maxScore startedAt endedAt }
    nextCursor } }"""


async def load(dsn: str, events: int, now: float) -> float:
    """Devices in sites and `events` events (a verdict on one in VERDICT_SHARE), by INSERT ... SELECT; seconds taken."""
    started = time.perf_counter()
    first = now - DAYS * 86400
    months, t = set(), first
    while t <= now + 86400:
        months.add(month_of(t))
        t += 86400 * 20
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await migrate(conn)
        await ensure_partitions(conn, months)
        await conn.execute("INSERT INTO devices (device_id, enrolled_at, last_seen_at) SELECT 'dev-' || lpad(i::text, 3, '0'),"
                           " now(), now() FROM generate_series(0, %s - 1) i", [DEVICES])
        await conn.execute("INSERT INTO dashboard_device_sites SELECT 'dev-' || lpad(i::text, 3, '0'), 'site-' || (i %% %s)"
                           " FROM generate_series(0, %s - 1) i", [SITES, DEVICES])
        # a value in [0, n) drawn from the event's number and a salt: the columns vary independently of each other
        await conn.execute("CREATE FUNCTION pg_temp._pick(i bigint, salt int, n int) RETURNS int LANGUAGE sql IMMUTABLE"
                           " AS 'SELECT ((hashint8(i * 8 + salt) % n) + n) % n'")
        chunk = 100_000
        for low in range(0, events, chunk):
            await conn.execute(
                """INSERT INTO events (device_id, event_id, seq, camera, rule, kind, zone, label, track_id, start,
                       started_at, ended_at, max_score, box, alert, path, attributes)
                   SELECT 'dev-' || lpad(pg_temp._pick(i, 1, %(devices)s)::text, 3, '0'), upper(substr(md5(i::text), 1, 26)), i,
                          'cam-' || pg_temp._pick(i, 2, %(cameras)s), 'entry', 'enter', 'door',
                          (%(labels)s::text[])[1 + pg_temp._pick(i, 3, %(n_labels)s)], i %% 1000, 1.5,
                          to_timestamp(%(first)s + (i::float8 / %(events)s) * %(span)s),
                          to_timestamp(%(first)s + (i::float8 / %(events)s) * %(span)s + 8), 0.5 + (i %% 50) / 100.0,
                          '[0.1, 0.2, 0.3, 0.4]', pg_temp._pick(i, 4, 10) = 0, '[[0, 0.5, 0.5]]', '{}'
                   FROM generate_series(%(low)s, %(high)s - 1) i""",
                {"devices": DEVICES, "cameras": CAMERAS, "labels": list(LABELS), "n_labels": len(LABELS), "first": first,
                 "events": events, "span": now - first, "low": low, "high": min(low + chunk, events)})
        job = uuid.uuid4()
        await conn.execute("INSERT INTO reanalysis_jobs (job_id, device_id, event_id, camera, reason, priority, state)"
                           " VALUES (%s, 'dev-000', 'bench', 'cam-0', 'sample', 'normal', 'done')", [job])
        await conn.execute("INSERT INTO reanalysis_results (job_id, device_id, camera, frames, duration_s, model,"
                           " detector_share, cpu_s, worker) VALUES (%s, 'dev-000', 'cam-0', 1, 1, 'bench', 1, 1, 'bench')",
                           [job])
        await conn.execute(
            """INSERT INTO reanalysis_verdicts (job_id, device_id, event_id, camera, rule, edge_label, verdict, agreement,
                   started_at)
               SELECT %s, device_id, event_id, camera, rule, label,
                      (ARRAY['confirmed', 'not_confirmed', 'label_differs'])[1 + pg_temp._pick(seq, 5, 3)], 0.9, started_at
               FROM events WHERE pg_temp._pick(seq, 6, %s) = 0""", [job, VERDICT_SHARE])
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a table that has settled
    return time.perf_counter() - started


def random_filter(rng: random.Random, now: float) -> dict:
    """Each filter present or not, at random."""
    chosen: dict = {}
    if rng.random() < 0.3:
        chosen["device"] = f"dev-{rng.randrange(DEVICES):03d}"
    elif rng.random() < 0.3:
        chosen["site"] = f"site-{rng.randrange(SITES)}"
    if rng.random() < 0.3:
        chosen["camera"] = f"cam-{rng.randrange(CAMERAS)}"
    if rng.random() < 0.4:
        chosen["label"] = rng.choice(LABELS)
    if rng.random() < 0.3:
        chosen["alert"] = rng.random() < 0.5
    if rng.random() < 0.15:
        chosen["verdict"] = rng.choice(("confirmed", "not_confirmed", "label_differs"))
    if rng.random() < 0.5:
        since = now - rng.uniform(0, DAYS) * 86400
        chosen["since"] = since
        chosen["until"] = since + rng.choice((3600, 86400, 7 * 86400, 30 * 86400))
    return chosen


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


async def _pages(session: aiohttp.ClientSession, base: str, token: str, calls: int, now: float, graphql: bool,
                 seed: int) -> list[tuple[float, bool]]:
    """Milliseconds of each call and whether it filtered by verdict; a fifth follow the cursor of the call before."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    took, cursor = [], None
    for _ in range(calls):
        chosen = random_filter(rng, now)
        after = cursor if cursor and rng.random() < 0.2 else None
        started = time.perf_counter()
        if graphql:
            variables = {**chosen, "first": 50, "after": after}
            for name in ("since", "until"):
                if name in variables:
                    variables[name] = _iso(variables[name])
            async with session.post(f"{base}/graphql", json={"query": GRAPHQL, "variables": variables},
                                    headers=headers) as answer:
                body = await answer.json()
                if answer.status != 200 or "errors" in body:
                    raise RuntimeError(f"GraphQL {answer.status}: {body}")
                page = body["data"]["events"]
                cursor = page["nextCursor"] if after is None else cursor
        else:
            params = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in chosen.items()}
            params["limit"] = "50"
            if after:
                params["cursor"] = after
            async with session.get(f"{base}/api/v1/events", params=params, headers=headers) as answer:
                body = await answer.json()
                if answer.status != 200:
                    raise RuntimeError(f"REST {answer.status}: {body}")
                cursor = body["next_cursor"] if after is None else cursor
        took.append(((time.perf_counter() - started) * 1000, "verdict" in chosen))
    return took


async def _token(session: aiohttp.ClientSession, base: str, client_id: str, secret: str) -> str:
    async with session.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                            auth=aiohttp.BasicAuth(client_id, secret)) as answer:
        return (await answer.json())["access_token"]


async def measure(stack, secrets: dict[str, str], calls: int, concurrency: int, limit: int, now: float) -> dict:
    tls = ssl.create_default_context(cafile=str(stack.ca_pem))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls, limit=concurrency * 2)) as session:
        token = await _token(session, stack.url, "bench", secrets["bench"])
        await _pages(session, stack.url, token, 20, now, False, 0)   # warm up: connections, pools, caches
        await _pages(session, stack.url, token, 20, now, True, 0)
        out = {}
        for name, graphql in (("rest", False), ("graphql", True)):
            per_worker = calls // concurrency
            runs = await asyncio.gather(*(_pages(session, stack.url, token, per_worker, now, graphql, w)
                                          for w in range(concurrency)))
            took = np.array([t for run in runs for t, _ in run])
            plain = np.array([t for run in runs for t, verdict in run if not verdict])
            out[f"{name}_p50_ms"] = round(float(np.percentile(took, 50)), 1)
            out[f"{name}_p95_ms"] = round(float(np.percentile(took, 95)), 1)
            out[f"{name}_calls"] = len(took)
            out[f"{name}_p95_ms_without_verdict_filter"] = round(float(np.percentile(plain, 95)), 1)

        limited = await _token(session, stack.url, "limited", secrets["limited"])
        ports = [instance.port for instance in stack.instances]

        async def one(i: int) -> int:
            url = f"http://127.0.0.1:{ports[i % len(ports)]}/api/v1/devices"
            async with session.get(url, params={"limit": "1"}, headers={"Authorization": f"Bearer {limited}"}) as answer:
                await answer.read()
                return answer.status

        statuses = await asyncio.gather(*(one(i) for i in range(limit * 3 // 2)))
        out["rate_limit_calls"] = len(statuses)
        out["rate_limit_allowed"] = statuses.count(200)
        out["rate_limit_refused"] = statuses.count(429)
        out["rate_limit_exact"] = statuses.count(200) == limit and statuses.count(429) == len(statuses) - limit
    return out


def run(args) -> int:
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="vigia-bench-api-") as tmp, temporary_database() as dsn, \
            redis_server() as redis_url:
        load_s = asyncio.run(load(dsn, args.events, now))

        async def add_clients() -> dict[str, str]:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                return {"bench": await clients.add_client(conn, "bench", "bench", list(clients.SCOPES), None, 1_000_000),
                        "limited": await clients.add_client(conn, "limited", "limited", ["devices:read"], None,
                                                            args.rate_limit)}

        secrets = asyncio.run(add_clients())
        with api_stack(Path(tmp), dsn, redis_url, instances=2, api_args=["--cache-seconds", "0"]) as stack:
            out = asyncio.run(measure(stack, secrets, args.calls, args.concurrency, args.rate_limit, now))
    result = {"events": args.events, "load_s": round(load_s, 1), **out,
              "load_average": [round(x, 1) for x in os.getloadavg()],  # of this machine, at the end
              "method": (
        f"{args.events} events of {DEVICES} devices in {SITES} sites over {DAYS} days (one in {VERDICT_SHARE} with a "
        f"verdict) in a temporary PostgreSQL database; two API instances behind the NGINX gateway (TLS), Redis shared, "
        f"response cache off; {args.calls} pages of 50 per API from {args.concurrency} concurrent clients, random "
        f"filters (device or site, camera, label, alert, verdict, time window), a fifth by cursor; rate limit: "
        f"{args.rate_limit} a minute, {args.rate_limit * 3 // 2} calls at once split between the instances")}
    print(json.dumps(result, indent=2))
    return 0

"""Central's PostgreSQL migrations: one runner for every set of steps (the ingest's, the dashboard's, the re-analysis',
the external API's, the alerts', the model registry's, the privacy's, the app sign-in's).

Each set keeps its own version table and advisory lock, so the sets evolve without renumbering each other
and a database migrated before keeps its versions. Every central process runs `migrate` at start; the lock
lets one apply a set's pending steps while the others wait, so several can start at once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from vigia.central.alerts import schema as alerts_schema
from vigia.central.api import schema as api_schema
from vigia.central.api import user_schema
from vigia.central.dashboard import schema as dashboard_schema
from vigia.central.dashboard import sso_schema, totp_schema
from vigia.central.ingest import schema as ingest_schema
from vigia.central.models import schema as models_schema
from vigia.central.privacy import schema as privacy_schema
from vigia.central.reanalysis import schema as reanalysis_schema
from vigia.central.software import schema as software_schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Steps:
    """A list of SQL steps; step i (from 1) brings the set to version i."""

    name: str                # in the log
    table: str               # its version table
    lock: int                # its pg_advisory_xact_lock key ("vigi" + purpose, beside the partitions' key)
    sql: tuple[str, ...]


INGEST = Steps("central database", "schema_migrations", 0x76696769_01, tuple(ingest_schema.MIGRATIONS))
DASHBOARD = Steps("dashboard tables", "dashboard_schema_migrations", 0x76696769_10, tuple(dashboard_schema.MIGRATIONS))
REANALYSIS = Steps("re-analysis tables", "reanalysis_schema_migrations", 0x76696769_20, tuple(reanalysis_schema.MIGRATIONS))
API = Steps("external API tables", "api_schema_migrations", 0x76696769_30, tuple(api_schema.MIGRATIONS))
ALERTS = Steps("alert tables", "alerts_schema_migrations", 0x76696769_40, tuple(alerts_schema.MIGRATIONS))
MODELS = Steps("model registry tables", "models_schema_migrations", 0x76696769_50, tuple(models_schema.MIGRATIONS))
USERS = Steps("app sign-in tables", "user_api_schema_migrations", 0x76696769_74, tuple(user_schema.MIGRATIONS))
PRIVACY = Steps("privacy tables", "privacy_schema_migrations", 0x76696769_60, tuple(privacy_schema.MIGRATIONS))
SSO = Steps("single sign-on tables", "sso_schema_migrations", 0x76696769_71, tuple(sso_schema.MIGRATIONS))
TOTP = Steps("dashboard second-factor tables", "totp_schema_migrations", 0x76696769_70, tuple(totp_schema.MIGRATIONS))
SOFTWARE = Steps("software release tables", "software_schema_migrations", 0x76696769_73, tuple(software_schema.MIGRATIONS))
# in this order: the later sets refer to the earlier ones' tables (single sign-on's and TOTP's to the dashboard's
# users, the software's to the models', the app's users to the dashboard's and the alerts')
SETS = (INGEST, DASHBOARD, REANALYSIS, API, ALERTS, MODELS, PRIVACY, SSO, TOTP, SOFTWARE, USERS)


async def apply(conn: psycopg.AsyncConnection, steps: Steps) -> int:
    """Apply the set's pending steps in one transaction; returns its version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [steps.lock])
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {steps.table} (version integer PRIMARY KEY, "
                           "applied_at timestamptz NOT NULL DEFAULT now())")
        cursor = await conn.execute(f"SELECT coalesce(max(version), 0) FROM {steps.table}")
        current = (await cursor.fetchone())[0]
        for version, sql in enumerate(steps.sql[current:], start=current + 1):
            await conn.execute(sql)
            await conn.execute(f"INSERT INTO {steps.table} (version) VALUES (%s)", [version])
            log.info("%s migrated to version %d", steps.name, version)
    return len(steps.sql)


async def migrate(conn: psycopg.AsyncConnection) -> int:
    """Apply every set's pending steps; returns the schema version (the ingest's: `vigia central migrate` shows it)."""
    versions = [await apply(conn, steps) for steps in SETS]
    return versions[0]

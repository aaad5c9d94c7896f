"""What is wrong with the fleet now, read from central's tables: one Finding per kind and subject.

The device and camera state is what the devices send (vigia.central.observability.fleet reads the same for
Prometheus): a device's last batch (devices.last_seen_at), its latest metrics roll-up (backlog, disk), each
camera's last reported health (camera_health records: state and since when); the false-alarm rate is
re-analysis' share of `not_confirmed` verdicts per camera (reanalysis_verdicts). Revoked and unenrolled devices are
not watched; the cameras of a device found offline are not judged (their last state is as old as its last batch,
and the device's alert says it all). `now` is passed in, so one evaluation sees one instant.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from vigia.central.alerts.config import Conditions

DEVICES_SQL = """
    SELECT d.device_id, extract(epoch FROM %(now)s - coalesce(d.last_seen_at, d.enrolled_at))::float8,
           (m.body ->> 'backlog')::float8, (m.body ->> 'disk_free_bytes')::float8,
           (m.body ->> 'disk_total_bytes')::float8
    FROM devices d
    LEFT JOIN LATERAL (SELECT r.body FROM device_records r WHERE r.device_id = d.device_id AND r.kind = 'metrics'
                       ORDER BY r.key DESC LIMIT 1) m ON true
    WHERE d.enrolled_at IS NOT NULL AND d.revoked_at IS NULL
    ORDER BY d.device_id"""

CAMERAS_SQL = """
    SELECT r.device_id, r.key, r.body ->> 'state', extract(epoch FROM %(now)s)::float8 - (r.body ->> 'since')::float8,
           r.body ->> 'last_error'
    FROM device_records r JOIN devices d USING (device_id)
    WHERE r.kind = 'camera_health' AND d.enrolled_at IS NOT NULL AND d.revoked_at IS NULL
      AND r.body ->> 'state' IS DISTINCT FROM 'online'
    ORDER BY r.device_id, r.key"""

FALSE_ALARMS_SQL = """
    SELECT device_id, camera, count(*) FILTER (WHERE verdict = 'not_confirmed'), count(*)
    FROM reanalysis_verdicts WHERE started_at >= %(since)s
    GROUP BY device_id, camera HAVING count(*) >= %(least)s
    ORDER BY device_id, camera"""


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str            # the device, or device/camera
    device_id: str
    camera: str | None
    summary: str            # one line for people
    detail: dict            # the figures behind it


async def findings(conn: psycopg.AsyncConnection, limits: Conditions, now: dt.datetime) -> list[Finding]:
    """Every condition over its limit at `now` (the kinds without a limit are not read)."""
    found = []
    for device, age, backlog, free, total in await (await conn.execute(DEVICES_SQL, {"now": now})).fetchall():
        found += _device_findings(limits, device, age, backlog, free, total)
    if limits.camera_offline_minutes is not None:
        offline = {f.device_id for f in found if f.kind == "device_offline"}
        for device, camera, state, since, error in await (await conn.execute(CAMERAS_SQL, {"now": now})).fetchall():
            if device not in offline and since is not None and since >= limits.camera_offline_minutes * 60:
                found.append(Finding("camera_offline", f"{device}/{camera}", device, camera,
                                     f"camera {camera} of {device} is {state or 'unknown'} for {_minutes(since)}",
                                     {"state": state, "for_s": round(since, 1), "last_error": error}))
    if limits.false_alarm_rate is not None:
        since = now - dt.timedelta(days=limits.false_alarm_days)
        rows = await (await conn.execute(FALSE_ALARMS_SQL, {"since": since, "least": limits.false_alarm_min_verdicts})).fetchall()
        for device, camera, false, verdicts in rows:
            rate = false / verdicts
            if rate > limits.false_alarm_rate:
                found.append(Finding("false_alarms", f"{device}/{camera}", device, camera,
                                     f"re-analysis: {rate:.0%} of camera {camera}'s events on {device} are false alarms"
                                     f" ({false} of {verdicts} in {limits.false_alarm_days:g} days)",
                                     {"rate": round(rate, 4), "not_confirmed": false, "verdicts": verdicts,
                                      "days": limits.false_alarm_days}))
    return found


def _device_findings(limits: Conditions, device: str, age: float | None, backlog: float | None, free: float | None,
                     total: float | None) -> list[Finding]:
    found = []
    if limits.device_offline_minutes is not None and age is not None and age >= limits.device_offline_minutes * 60:
        found.append(Finding("device_offline", device, device, None, f"device {device}: no batch for {_minutes(age)}",
                             {"last_batch_age_s": round(age, 1)}))
    if limits.backlog_records is not None and backlog is not None and backlog > limits.backlog_records:
        found.append(Finding("backlog", device, device, None,
                             f"device {device}: {int(backlog)} records waiting to be sent (limit {limits.backlog_records})",
                             {"backlog": int(backlog), "limit": limits.backlog_records}))
    if limits.disk_free_ratio is not None and free is not None and total:
        if free / total < limits.disk_free_ratio:
            found.append(Finding("disk_low", device, device, None,
                                 f"device {device}: {free / total:.1%} of its disk free (limit {limits.disk_free_ratio:.0%})",
                                 {"disk_free_bytes": int(free), "disk_total_bytes": int(total),
                                  "free_ratio": round(free / total, 4)}))
    return found


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"

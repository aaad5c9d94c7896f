"""What the data-protection officer reads: the record of processing (from the configuration) and the access report
(`vigia privacy report --from --to`: one HTML file, no scripts, no external resources).

The record of processing lists, per camera, what is recorded and how long it is kept, the purpose and the
controller, and the recipients: central (when enrolled) and every notification destination configured. The report
adds, over the period: who accessed footage (live view, snapshots, clips, exports), the data-subject requests and
their receipts, configuration changes, and whether the audit log's hash chain holds.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import sqlite3
from collections import Counter

from vigia.appliance import audit_log
from vigia.appliance.config import Config

ACCESS = ("live_view", "live_view_end", "snapshot_view", "clip_view", "clip_download", "export", "export_redacted",
          "privacy_export")
CONFIGURATION = ("layout_saved", "layout_restored", "camera_added", "setup_finished", "enrolled",
                 "user_created", "password_changed", "device_claimed", "config_changed")


def record_of_processing(config: Config, central_url: str | None) -> dict:
    """LGPD art. 37 / GDPR art. 30: what is processed, why, for how long, and who receives it."""
    privacy = config.privacy
    recipients = [{"recipient": "central", "url": central_url, "what": "events, thumbnails, clips asked for"}
                  ] if central_url else []
    if config.mqtt:
        recipients.append({"recipient": "mqtt", "url": config.mqtt.url, "what": "events"})
    recipients += [{"recipient": f"webhook:{name}", "url": str(hook.url), "what": "events, snapshot links"}
                   for name, hook in config.webhooks.items()]
    if config.email:
        recipients.append({"recipient": "email", "url": ", ".join(config.email.to), "what": "alerts with snapshots"})
    if config.push:
        recipients.append({"recipient": "web push", "url": "the guards' browsers", "what": "alerts"})
    recipients += [{"recipient": name, "url": None, "what": "as agreed"} for name in privacy.recipients]
    return {
        "controller": privacy.controller, "contact": privacy.contact, "purpose": privacy.purpose,
        "categories": ["video of people in the cameras' fields of view", "events (object class, time, position)",
                       "snapshots", "accounts and access log of the guards' UI"],
        "cameras": [{"name": c.name, "recording": c.record.mode, "continuous_footage_days": c.record.retain_days}
                    for c in config.cameras],
        "detected_classes": config.detector.classes,
        "event_retention_days": config.storage.event_days,
        "encryption_at_rest": config.storage.encrypt,
        "recipients": recipients,
        "copies": {"litestream_replica_days": config.storage.replica.retention / 86400,
                   "central_backup_days": privacy.backup_retention_days},
    }


def access_report(conn: sqlite3.Connection, config: Config, start: float, end: float, central_url: str | None,
                  known_head: audit_log.Head | None = None) -> str:
    """The report as HTML."""
    rows = conn.execute("SELECT id, at, username, action, target, remote, details FROM audit_log WHERE at >= ? AND"
                        " at < ? ORDER BY id", [start, end]).fetchall()
    chain = audit_log.verify(conn, known_head)
    requests = conn.execute("SELECT id, kind, camera, start, end, requested_by, reason, created_at, state, receipt"
                            " FROM privacy_requests WHERE created_at >= ? AND created_at < ? ORDER BY created_at",
                            [start, end]).fetchall()
    access = [r for r in rows if r[3] in ACCESS]
    changes = [r for r in rows if r[3] in CONFIGURATION]
    by_user = Counter((r[2] or "(system)", r[3]) for r in access)
    record = record_of_processing(config, central_url)
    parts = [f"<h1>Privacy report {_when(start)} to {_when(end)}</h1>",
             f"<p>Made {_when(dt.datetime.now(dt.timezone.utc).timestamp())}. Audit log: {chain.entries} entries;"
             f" hash chain <strong>{'holds' if chain.ok else 'BROKEN: ' + html.escape(chain.reason)}</strong>"
             f"{'' if chain.head is None else f', head {chain.head.id} {chain.head.hash[:16]}…'}"
             f"{' (matches the head central holds)' if known_head and chain.ok else ''}.</p>",
             "<h2>Record of processing</h2>", _definitions(record),
             "<h2>Access to footage</h2>", _table(("user", "action", "count"),
                                                 [(u, a, n) for (u, a), n in sorted(by_user.items())]),
             _table(("when", "user", "action", "what", "from"),
                    [(_when(r[1]), r[2] or "(system)", r[3], r[4] or "", r[5] or "") for r in access]),
             "<h2>Data-subject requests</h2>",
             _table(("when", "id", "kind", "camera", "window", "by", "reason", "state", "receipt"),
                    [(_when(r[7]), r[0], r[1], r[2], f"{_when(r[3])} to {_when(r[4])}", r[5], r[6], r[8],
                      _receipt_summary(json.loads(r[9]))) for r in requests]),
             "<h2>Configuration changes</h2>",
             _table(("when", "user", "action", "what", "from"),
                    [(_when(r[1]), r[2] or "(system)", r[3], r[4] or "", r[5] or "") for r in changes])]
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Vigia privacy report</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #999;padding:.2em .5em;text-align:left}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _receipt_summary(receipt: dict) -> str:
    if "refused" in receipt:
        return "refused: " + "; ".join(receipt["refused"])
    appliance = receipt.get("appliance") or {}
    central = receipt.get("central") or {}
    here = ", ".join(f"{k} {len(v) if isinstance(v, list) else v}" for k, v in appliance.items())
    there = central.get("state", "not enrolled") if central else "not enrolled"
    return f"appliance: {here}; central: {there}"


def _table(header: tuple, rows: list) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _definitions(record: dict) -> str:
    items = "".join(f"<dt>{html.escape(k.replace('_', ' '))}</dt><dd>{html.escape(json.dumps(v, ensure_ascii=False))}</dd>"
                    for k, v in record.items())
    return f"<dl>{items}</dl>"

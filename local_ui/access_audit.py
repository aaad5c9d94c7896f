"""Access to footage in the audit log (vigia.appliance.audit_log): who watched, viewed or downloaded what, from where.

Actions: `live_view` (a live session starts watching cameras; `details.cameras`), `live_view_end` (the session
ends: how long, which cameras), `snapshot_view`, `clip_view` and `clip_download` (once per opening of a clip: the
request that starts at its first byte, not every range a player asks for as it seeks).
"""
from __future__ import annotations

from aiohttp import web

from vigia.local_ui import accounts
from vigia.local_ui.common import API, remote_address


async def record_access(request: web.Request, username: str, action: str, target: str | None,
                        details: dict | None = None) -> None:
    await request.app[API].db(accounts.audit, action, username=username, target=target,
                              remote=remote_address(request), details=details)

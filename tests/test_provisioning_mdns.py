"""mDNS: the appliance announces itself over real multicast DNS (python-zeroconf), and a separate process
running `vigia discover --json` finds it, then sees its state change.

Both sides use the loopback interface, which exists on every machine and carries multicast here; the
same code announces on the LAN interfaces in service.
"""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest
from support.waiting import wait_for

from vigia.provisioning.identity import load_or_create_identity
from vigia.provisioning.mdns import Advertiser, Announcement, MdnsError
from vigia.provisioning.presence import LanPresence
from vigia.provisioning.state import claim, claim_code, load_setup

LOOPBACK = "127.0.0.1"


def discover_in_another_process(timeout: float = 2.5) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "discover", "--json", "--timeout", str(timeout),
                          "--interface", LOOPBACK], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ours(found: list[dict], short_id: str) -> dict | None:
    return next((f for f in found if f["name"] == f"Vigia {short_id}"), None)


def test_announced_appliance_is_discovered_and_follows_its_state(tmp_path):
    identity = load_or_create_identity(tmp_path)
    presence = LanPresence(tmp_path, port=8443, addresses=[LOOPBACK], interval=0.2)
    try:
        found = ours(discover_in_another_process(), identity.short_id)
        assert found == {"name": f"Vigia {identity.short_id}", "device_id": identity.device_id,
                         "version": version("vigia"), "state": "unclaimed",
                         "host": f"vigia-{identity.short_id}.local", "addresses": [LOOPBACK], "port": 8443}

        claim(tmp_path, identity, claim_code(identity, load_setup(tmp_path, identity)))
        assert wait_for(lambda: presence.advertiser.announcement.state == "ready", 5)
        out = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "discover", "--timeout", "2.5",
                              "--interface", LOOPBACK], capture_output=True, text=True, timeout=60, check=False)
        line = next((line for line in out.stdout.splitlines() if line.startswith(f"Vigia {identity.short_id}")), "")
        assert "ready" in line and f"vigia-{identity.short_id}.local" in line, out.stdout + out.stderr
        assert f"https://{LOOPBACK}:8443/" in line
    finally:
        presence.close()


def test_advertiser_needs_an_address():
    with pytest.raises(MdnsError, match="no address to announce"):
        Advertiser(Announcement("ef" * 32, "efefefef", "1", "ready", 1), [])

"""A data subject's package (LGPD art. 18, GDPR art. 15): the events as JSON, the footage redacted
(vigia.appliance.privacy.disclosure: everyone but the subject hidden), and `manifest.json` with each file's SHA-256."""
from __future__ import annotations

import json
import time
from pathlib import Path

from vigia.appliance.privacy.disclosure import sha256_of
from vigia.appliance.privacy.requests import Findings, Window

MANIFEST_KIND = "vigia-subject-access/1"


def write_package(out_dir: Path, window: Window, findings: Findings, footage: list[Path], requested_by: str,
                  note: str = "") -> dict:
    """`events.json` and `manifest.json` in `out_dir` (the footage already there); the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    events = out_dir / "events.json"
    events.write_text(json.dumps(findings.events, indent=2) + "\n")
    files = [events, *footage]
    manifest = {"kind": MANIFEST_KIND, **window.as_json(), "created_at": time.time(), "requested_by": requested_by,
                "events": len(findings.events), "note": note,
                "files": [{"file": f.relative_to(out_dir).as_posix(), "sha256": sha256_of(f), "size": f.stat().st_size}
                          for f in files]}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest

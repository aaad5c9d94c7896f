"""`vigia bench privacy --json`: what a disclosure export hides, and what it costs.

A cut of the clip (`--seconds`, full resolution) is redacted as `vigia export --redact persons` does (detector over
the whole frame and tiles on every frame, tracker, held and interpolated boxes). The same detector, over the whole
frame at a score of 0.5, then counts persons in the original frames and in the redacted ones:
`redaction_residual` is the second count over the first. `redaction_fps` is frames redacted per second of wall
time (both passes and the encode), against the clip's own rate in `redaction_vs_realtime`.

`erasure_residual_references` (vigia.app.bench.privacy_erasure): rows, files, objects and queue entries still naming
erased events after a data-subject erasure, on the appliance and at a real central (target 0; the count before the
erasure is the baseline). `audit_coverage` (vigia.app.bench.privacy_audit): the share of footage accesses a headless
Chromium makes that the audit log records (target 1.0). `--parts` picks which of the three run.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from vigia.app.bench.common import default_media, default_model, process_cpu
from vigia.appliance.privacy.redact import RedactionSettings, decoded_frames, plan_redaction, write_redacted
from vigia.inference.factory import create_detector
from vigia.inference.preprocess import letterbox


def persons_found(detector, path: Path) -> tuple[int, int]:
    """(frames, persons at a score of 0.5 or more, summed over the frames)."""
    frames = found = 0
    for frame, _t in decoded_frames(path):
        detections = detector.detect([letterbox(frame.to_ndarray(format="bgr24"), detector.input_size)])[0]
        found += int(((detections.class_ids == 0) & (detections.scores >= 0.5)).sum())
        frames += 1
    return frames, found


def run(args) -> int:
    media = (args.media or default_media()).resolve()
    model = (args.model or default_model()).resolve()
    parts = {p.strip() for p in args.parts.split(",")}
    unknown = parts - {"redaction", "erasure", "audit"}
    if unknown:
        raise SystemExit(f"--parts: {', '.join(sorted(unknown))}? choose among redaction, erasure, audit")
    result = redaction(args, media, model) if "redaction" in parts else {}
    if "erasure" in parts:
        from vigia.app.bench.privacy_erasure import measure as erasure
        result |= erasure(args.erasure_events)
    if "audit" in parts:
        from vigia.app.bench.privacy_audit import measure as audit
        result |= audit(media, model, args.audit_events)
    print(json.dumps(result, indent=2))
    return 0


def redaction(args, media: Path, model: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="vigia-bench-privacy-") as folder:
        cut = Path(folder) / "cut.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(media), "-an", "-t", str(args.seconds),
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(cut)], check=True)
        checker = create_detector("onnxruntime", model, score_threshold=0.5, threads=args.threads)
        finder = create_detector("onnxruntime", model, score_threshold=0.1, threads=args.threads)
        settings = RedactionSettings()
        began, cpu = time.monotonic(), process_cpu()
        plan = plan_redaction(cut, finder, settings)
        planned = time.monotonic()
        redacted = write_redacted(cut, plan, settings, Path(folder) / "redacted.mp4", verifier=finder)
        ended, cpu = time.monotonic(), process_cpu() - cpu
        wall = ended - began
        frames, before = persons_found(checker, cut)
        _, after = persons_found(checker, redacted.path)
    clip_fps = (plan.frames - 1) / plan.times[-1] if plan.times[-1] > 0 else 25.0
    return {
        "redaction_residual": round(after / before, 4) if before else None,
        "redaction_fps": round(plan.frames / wall, 3),
        "redaction_vs_realtime": round(plan.frames / wall / clip_fps, 4),
        "cpu_s_per_frame": round(cpu / plan.frames, 4),
        "plan_s": round(planned - began, 1), "write_s": round(ended - planned, 1),
        "frames": frames, "frame_size": list(plan.frame_size), "persons_original": before,
        "persons_redacted": after, "regions_hidden": redacted.regions_hidden, "tracks": len(plan.tracks),
        "threads": args.threads, "media": str(media), "seconds": args.seconds,
        "method": "persons found by the detector (whole frame, score >= 0.5) in the redacted frames / in the "
                  "original frames; fps over both passes and the encode (wall clock)",
    }

"""`vigia bench masks --json`: what privacy masks cost.

The clip (`--media`, the demo by default) is recorded as a camera records it (remuxed segments, encrypted at rest);
the whole footage is then exported twice: remuxed as recorded (the baseline: a camera without masks) and with a
privacy mask covering `--share` of the frame, decoded, painted and re-encoded H.264 (x264 veryfast, CRF 23), as
exports and event clips (those the UI plays and central receives) are for a masked camera. On the live path, the
cost is painting the analysed frame: `paint_ms` per frame, against the detector-rate frames it touches.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import av

from vigia.app.bench.common import default_media, process_cpu
from vigia.appliance.config import Record
from vigia.appliance.encryption import load_or_create_key
from vigia.appliance.privacy.masks import Masker
from vigia.appliance.recording.export import export
from vigia.appliance.recording.recorder import SegmentRecorder

T0 = 1_750_000_000.0


def record(media: Path, data_dir: Path, key: bytes) -> tuple[float, int]:
    """The clip recorded as camera `bench`, packet at stream time t arriving at T0 + t: (seconds, frames)."""
    recorder = SegmentRecorder("bench", Record(mode="continuous", segment_seconds=10), data_dir, data_dir / "vigia.db",
                               key)
    last, frames = 0.0, 0
    with av.open(str(media)) as container:
        stream = container.streams.video[0]
        first = None
        for packet in container.demux(stream):
            if not packet.size:
                continue
            first = packet.dts if first is None else first
            last = float((packet.dts - first) * stream.time_base)
            recorder.on_packet(packet, stream, T0 + last)
            frames += 1
    recorder.close()
    return last, frames


def timed(step) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of `step()`."""
    began, cpu = time.monotonic(), process_cpu()
    step()
    return time.monotonic() - began, process_cpu() - cpu


def run(args) -> int:
    media = (args.media or default_media()).resolve()
    mask = [(0.0, 0.0), (args.share, 0.0), (args.share, 1.0), (0.0, 1.0)]
    with tempfile.TemporaryDirectory(prefix="vigia-bench-masks-") as folder:
        data_dir = Path(folder)
        key = load_or_create_key(data_dir / "keys" / "media.key")
        seconds, frames = record(media, data_dir, key)
        end = T0 + seconds + 1
        remux_s, remux_cpu = timed(lambda: export(data_dir / "vigia.db", data_dir, key, "bench", T0, end,
                                                  data_dir / "remux.mp4"))
        masked_s, masked_cpu = timed(lambda: export(data_dir / "vigia.db", data_dir, key, "bench", T0, end,
                                                    data_dir / "masked.mp4", [mask]))
        sizes = {"remux": (data_dir / "remux.mp4").stat().st_size, "masked": (data_dir / "masked.mp4").stat().st_size}
        with av.open(str(media)) as container:
            decoded = [frame for _, frame in zip(range(args.paint_frames), container.decode(video=0))]
        masker = Masker([mask], (decoded[0].width, decoded[0].height))
        paint_s, _ = timed(lambda: [masker.paint_frame(frame) for frame in decoded])
        width, height = decoded[0].width, decoded[0].height
    print(json.dumps({
        "export_remux_s": round(remux_s, 3), "export_masked_s": round(masked_s, 2),
        "masked_vs_remux": round(masked_s / remux_s, 1),
        "masked_fps": round(frames / masked_s, 1), "masked_vs_realtime": round(seconds / masked_s, 2),
        "cpu_s_per_footage_s": {"remux": round(remux_cpu / seconds, 4), "masked": round(masked_cpu / seconds, 3)},
        "bytes": sizes, "paint_ms": round(1000 * paint_s / len(decoded), 3),
        "frames": frames, "footage_s": round(seconds, 1), "frame_size": [width, height], "mask_share": args.share,
        "media": str(media),
        "method": "the whole recorded clip exported remuxed (no masks) and masked (re-encoded, libx264 veryfast "
                  "CRF 23), wall and process CPU time; paint_ms: one analysed frame's copy with the mask painted",
    }, indent=2))
    return 0

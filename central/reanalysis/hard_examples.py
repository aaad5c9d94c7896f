"""Hard examples: the frames a better edge model should learn from, saved as JPEG with central's boxes as labels.

A job keeps a few frames (`MAX_PER_JOB`): where an edge event was not confirmed or had another label (at the
event's first sighting), where central saw an event the edge missed (at the track's best frame), and where central
itself was unsure (fused detections scored 0.3-0.5). Each frame goes to the bucket under
`hard-examples/<device>/<camera>/<job>/<ms>.jpg` and to `hard_examples` with its source (device, camera, time),
so a privacy erasure of someone's footage finds it. Reviewed labels (`review`) win over central's.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import cv2

from vigia.central.reanalysis.analysis import ClipAnalysis
from vigia.central.reanalysis.verdicts import CentralEventMatch, Verdict

MAX_PER_JOB = 6
SAME_FRAME_S = 0.5
JPEG_QUALITY = 90
LABEL_TOLERANCE_S = 0.1


@dataclass(frozen=True)
class Example:
    t: float                  # clip seconds
    reason: str
    jpeg: bytes
    width: int
    height: int
    labels: list[dict]        # {"label", "box": [x1, y1, x2, y2] normalised}


def pick_times(analysis: ClipAnalysis, verdicts: list[Verdict], matches: list[CentralEventMatch],
               clip_start: float) -> list[tuple[float, str]]:
    """The frames worth keeping, most telling first, at most MAX_PER_JOB, none two within SAME_FRAME_S."""
    wanted = [(v.started_at - clip_start, v.verdict) for v in verdicts if v.verdict != "confirmed"]
    tracks = {t.id: t for t in analysis.tracks}
    wanted += [(tracks[e.track_id].best_t, "missed") for m in matches if m.missed
               for e in [analysis.events[m.index]] if e.track_id in tracks]
    low = analysis.low_confidence_times
    wanted += [(low[i], "low_confidence") for i in sorted({0, len(low) // 2}) if low]
    chosen: list[tuple[float, str]] = []
    for t, reason in wanted:
        t = min(max(t, 0.0), analysis.duration)
        if all(abs(t - c) >= SAME_FRAME_S for c, _ in chosen):
            chosen.append((t, reason))
        if len(chosen) == MAX_PER_JOB:
            break
    return chosen


def labels_at(analysis: ClipAnalysis, t: float) -> list[dict]:
    width, height = analysis.frame_size
    found = []
    for track in analysis.tracks:
        box = track.box_at(t, LABEL_TOLERANCE_S)
        if box is not None:
            found.append({"label": track.label, "box": [round(box[0] / width, 4), round(box[1] / height, 4),
                                                        round(box[2] / width, 4), round(box[3] / height, 4)]})
    return found


def grab(clip: str, analysis: ClipAnalysis, times: list[tuple[float, str]]) -> list[Example]:
    """The frames at `times` (the first at or after each) as JPEG, with central's boxes there."""
    todo = sorted(times)
    examples = []
    with av.open(clip) as container:
        stream = container.streams.video[0]
        first = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            first = frame.pts if first is None else first
            t = float((frame.pts - first) * stream.time_base)
            while todo and todo[0][0] <= t + 1e-3:
                wanted, reason = todo.pop(0)
                ok, jpeg = cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if ok:
                    examples.append(Example(t, reason, jpeg.tobytes(), frame.width, frame.height, labels_at(analysis, t)))
            if not todo:
                break
    return examples


def object_key(device_id: str, camera: str, job_id: str, t: float) -> str:
    return f"hard-examples/{device_id}/{camera}/{job_id}/{round(t * 1000):07d}.jpg"

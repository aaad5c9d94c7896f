"""Central's word on what the edge said: each edge event in a clip confirmed, not confirmed (a false alarm) or
seen with another label; and each event of the camera's rules that central's tracks make but no edge event
matches: missed by the edge.

An edge event and a central track are the same object when, at the times of the event's path points (where the
object stood: its anchor, the bottom centre of its box), the track's anchor is within half the track's box
height (at least `MIN_DISTANCE` of the frame) in at least `MIN_AGREEMENT` of them. Events about a crowd (no
track, no path) match central's events of the same rule whose time overlaps theirs.
"""
from __future__ import annotations

from dataclasses import dataclass

from vigia.central.reanalysis.analysis import CentralTrack, ClipAnalysis

MIN_AGREEMENT = 0.5
MIN_DISTANCE = 0.03      # of the frame's height
TIME_TOLERANCE_S = 0.25  # a path point finds the track's nearest frame this close
OVERLAP_SLACK_S = 1.0    # crowd events: times this far apart still overlap


@dataclass(frozen=True)
class EdgeEvent:
    """An edge event as central holds it (wall-clock times, normalised path and box)."""

    event_id: str
    rule: str
    label: str
    track_id: int | None
    started_at: float
    ended_at: float | None
    path: list[tuple[float, float, float]]   # (seconds since start, x, y) of the anchor, normalised


@dataclass(frozen=True)
class Verdict:
    event_id: str
    rule: str
    edge_label: str
    verdict: str                 # confirmed, not_confirmed, label_differs
    central_label: str | None
    central_track: int | None
    agreement: float
    started_at: float


@dataclass(frozen=True)
class CentralEventMatch:
    index: int                   # in ClipAnalysis.events
    missed: bool
    matched_event_id: str | None


def agreement(event: EdgeEvent, track: CentralTrack, clip_start: float, frame_size: tuple[int, int]) -> float | None:
    """The share of the event's path points (inside the clip and the track's life) where the track stands
    with it; None when no point falls inside the clip."""
    width, height = frame_size
    inside = hits = 0
    for seconds, x, y in event.path:
        t = event.started_at + seconds - clip_start
        if t < 0:
            continue
        inside += 1
        box = track.box_at(t, TIME_TOLERANCE_S)
        if box is None:
            continue
        ax, ay = (box[0] + box[2]) / 2 / width, box[3] / height
        limit = max(0.5 * (box[3] - box[1]) / height, MIN_DISTANCE)
        hits += ((ax - x) ** 2 + (ay - y) ** 2) ** 0.5 <= limit
    return hits / inside if inside else None


def judge(analysis: ClipAnalysis, edge: list[EdgeEvent], clip_start: float) -> tuple[list[Verdict], list[CentralEventMatch]]:
    """Verdicts on the edge events the clip covers, and which of central's rule events the edge missed."""
    end = clip_start + analysis.duration
    verdicts = []
    matches: dict[str, tuple[CentralTrack, float]] = {}   # edge event id -> the track it is
    for event in edge:
        if event.started_at > end or (event.ended_at is not None and event.ended_at < clip_start):
            continue
        if event.track_id is None:
            continue  # crowd events have no object to check; they match central's crowd events below
        scored = [(a, track) for track in analysis.tracks
                  if (a := agreement(event, track, clip_start, analysis.frame_size)) is not None]
        if not scored and event.path:
            continue  # the clip does not cover where the event was seen
        best, track = max(scored, key=lambda s: s[0], default=(0.0, None))
        if track is None or best < MIN_AGREEMENT:
            verdicts.append(Verdict(event.event_id, event.rule, event.label, "not_confirmed", None, None,
                                    round(best, 3), event.started_at))
            continue
        matches[event.event_id] = (track, best)
        verdict = "confirmed" if track.label == event.label else "label_differs"
        verdicts.append(Verdict(event.event_id, event.rule, event.label, verdict, track.label, track.id,
                                round(best, 3), event.started_at))
    found = []
    for index, central in enumerate(analysis.events):
        matched = None
        for event in edge:
            if event.rule != central.rule:
                continue
            if central.track_id is None:
                central_end = central.ended_at if central.ended_at is not None else end
                event_end = event.ended_at if event.ended_at is not None else end
                if (event.track_id is None and event.started_at <= central_end + OVERLAP_SLACK_S
                        and central.started_at <= event_end + OVERLAP_SLACK_S):
                    matched = event.event_id
                    break
            elif event.event_id in matches and matches[event.event_id][0].id == central.track_id:
                matched = event.event_id
                break
        found.append(CentralEventMatch(index, matched is None, matched))
    return verdicts, found

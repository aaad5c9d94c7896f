"""ByteTrack-style multi-object tracking on timestamped detections.

Updates come at irregular times (about 5 per second, frames may be skipped), so the motion
model is continuous-time: a constant-velocity Kalman filter on the box centre and size whose
step is the real gap between updates.

Association follows ByteTrack: high-score detections are matched first to every live track
by IoU between the detection and the track's *predicted* box (Hungarian assignment, maximising
the summed IoU above the gate), then low-score detections are matched to the confirmed tracks
left over (they extend tracks through partial occlusion but never start one), and unmatched
confident detections start tentative tracks. Matching never crosses classes.

Why the IoU gate holds at 5 updates/s: a walker (~1.4 m/s, box ~1.7 m tall, ~0.4 h wide)
moves ~0.16 h = ~0.4 box widths per update. Once a track has a velocity the prediction takes
that out and what is left is the change in speed, which is small; the hard case is a tentative
track's first match, where no velocity is known yet. Two equal boxes offset sideways by `d`
box widths have IoU (1 - d) / (1 + d): 0.43 at d = 0.4, so the default gate of 0.2 accepts up to
d = 0.67 (about 2.3 m/s sideways at 5 updates/s). A runner crossing the view at that rate needs
a third detection to be picked up. Low-score detections use a stricter gate (LOW_MIN_IOU)
because they include background clutter.

What IoU cannot follow: a vehicle crossing the view does up to ~8 of its lengths per second
(130 km/h, 4.5 m), so at 5 updates/s it leaves its own box between two detections and a new
track's first match, made with no velocity known, never clears the gate. With `max_speed`
(per class, in the box's larger side per second), a third stage pairs the tentative tracks
still unmatched (one detection, no velocity) with confident detections still unclaimed, by
centre distance, within what the class can travel between the two updates; once paired, the
Kalman filter has the velocity and IoU follows again. In dense traffic such a pair can join two
different vehicles, so it is a hypothesis: the track stays tentative until a later detection
matches its velocity-borne prediction by IoU, and a wrong pair dies unreported. Confirmed tracks
never take part: their prediction already carries the velocity, and a lost one reaching that far
would take over other objects.

Objects that come towards the camera speed up in the picture (perspective), vehicles by far
the most; `accel_scale` (per class) multiplies the filter's acceleration noise for them, so the
velocity follows within a few updates instead of the prediction falling behind.

Classes a small detector confuses on the same object (car / truck / bus from one frame to the
next) can be put in one of `class_groups`: they match each other, and a track's `class_id` is
then the class with the largest summed score over its detections. Without groups matching
never crosses classes and a track keeps its first class.

Kalman filter layout: the state per track is position p = (cx, cy, w, h) and velocity v, and
because the measurement observes each coordinate separately and the noise is independent per
coordinate, the covariance is four independent 2x2 blocks [[p00, p01], [p01, p11]]. All of it
is stored as (N, 4) arrays, so predict and correct for every track are a few element-wise
numpy operations. Noise scales with the box's larger side, so the model is resolution-free.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import lap
import numpy as np

from vigia.inference.types import Detections

LOW_MIN_IOU = 0.4  # gate for the second (low-score) stage (never below min_iou); ByteTrack: 0.5 at 30 fps
MAX_SIZE_CHANGE = 2.0  # third stage: the larger sides of a track and its detection agree within this factor


def _constant(*values: float) -> np.ndarray:
    array = np.array(values, np.float64)
    array.flags.writeable = False
    return array


# Kalman noise, per coordinate (cx, cy, w, h), in units of the box's larger side (a person's
# height). A walker does ~0.8 heights/s; turning or stopping changes that by ~0.5 heights/s
# within a second, which is what ACCEL_STD says. Tuned on a synthetic 30-50 person crowd at
# 5 updates/s with skipped frames: 0.25-0.5 with MEAS_STD 0.05 did best; 0.5 leaves headroom
# for real pedestrians turning more abruptly than the simulation.
MEAS_STD = _constant(0.05, 0.05, 0.05, 0.05)       # detector box jitter (ByteTrack: 1/20)
ACCEL_STD = _constant(0.5, 0.5, 0.1, 0.1)          # white-noise acceleration, per s^1.5
INIT_VEL_STD = _constant(1.0, 1.0, 0.25, 0.25)     # unknown speed of a new track, per s
MIN_SIZE = 1.0                                     # pixels: predicted boxes never collapse


@dataclass(eq=False)
class Track:
    """One tracked object.

    The tracker mutates the same Track object in place on every update for as long as the
    track lives; copy the fields you need to keep a snapshot. Once reported in `ended` a
    track is never touched again, and its `box` is the last matched detection box; `first_box`
    is the first detection's (a track's path runs from it, tentative matches before confirmation
    included, which are never reported).
    `id` is 0 while tentative (tentative tracks are never reported); ids are handed out
    1, 2, 3... as tracks are confirmed. `class_id` is the first detection's class, or with class
    groups the best-scored class so far (it may change while the track lives).
    """

    id: int
    class_id: int
    box: np.ndarray          # x1, y1, x2, y2 float32: last matched detection, or prediction while lost
    score: float             # score of the last matched detection
    max_score: float
    first_seen: float        # t of the first detection
    last_seen: float         # t of the last matched detection
    hits: int
    state: str               # "tentative" | "confirmed" | "lost"
    _matched_box: np.ndarray = field(repr=False)   # internal: last matched detection box
    first_box: np.ndarray | None = field(default=None, repr=False)  # the first detection's box (None: `box`)
    class_scores: dict[int, float] = field(default_factory=dict, repr=False)  # summed score per class seen

    def __post_init__(self) -> None:
        if self.first_box is None:
            self.first_box = self.box.copy()
        if not self.class_scores:
            self.class_scores[self.class_id] = self.score


@dataclass
class TrackerUpdate:
    active: list[Track]      # confirmed tracks matched at this update
    lost: list[Track]        # confirmed tracks not matched now but still alive
    ended: list[Track]       # confirmed tracks that ended at this update (never seen again)


@dataclass
class _TrackArrays:
    """Struct of arrays for the live tracks; row i belongs to Tracker._tracks[i]."""

    pos: np.ndarray          # (N, 4) cx, cy, w, h
    vel: np.ndarray          # (N, 4) per second
    p00: np.ndarray          # (N, 4) covariance blocks, see module docstring
    p01: np.ndarray
    p11: np.ndarray
    class_ids: np.ndarray    # (N,) int: the class group a track matches (its class without groups)
    confirmed: np.ndarray    # (N,) bool
    lost_s: np.ndarray       # (N,) seconds observed but unmatched since the last match
    accel: np.ndarray        # (N, 1) the class's acceleration noise, as a multiple of ACCEL_STD

    @classmethod
    def empty(cls) -> _TrackArrays:
        z4 = np.zeros((0, 4))
        return cls(z4, z4, z4, z4, z4, np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0), np.zeros((0, 1)))

    @classmethod
    def start(cls, z: np.ndarray, class_ids: np.ndarray, accel: np.ndarray) -> _TrackArrays:
        """New tracks at measured boxes z (M, 4) cx, cy, w, h, with unknown velocity."""
        scale2 = _scale(z) ** 2
        return cls(
            pos=z.copy(),
            vel=np.zeros_like(z),
            p00=MEAS_STD**2 * scale2,
            p01=np.zeros_like(z),
            p11=INIT_VEL_STD**2 * scale2,
            class_ids=class_ids.astype(np.int64),
            confirmed=np.zeros(len(z), bool),
            lost_s=np.zeros(len(z)),
            accel=accel.reshape(-1, 1).astype(np.float64),
        )

    def select(self, keep: np.ndarray) -> _TrackArrays:
        return _TrackArrays(*(getattr(self, name)[keep] for name in _ARRAY_FIELDS))

    def extend(self, other: _TrackArrays) -> _TrackArrays:
        return _TrackArrays(
            *(np.concatenate([getattr(self, name), getattr(other, name)]) for name in _ARRAY_FIELDS)
        )

    def predict(self, dt: float) -> None:
        """Move every track dt seconds forward (continuous white-noise acceleration model)."""
        if dt <= 0 or len(self.pos) == 0:
            return
        q = (ACCEL_STD * self.accel) ** 2 * _scale(self.pos) ** 2
        self.pos += self.vel * dt
        np.maximum(self.pos[:, 2:], MIN_SIZE, out=self.pos[:, 2:])
        self.p00 += dt * (2.0 * self.p01 + dt * self.p11) + q * (dt**3 / 3.0)
        self.p01 += dt * self.p11 + q * (dt**2 / 2.0)
        self.p11 += q * dt

    def pair(self, rows: np.ndarray, z: np.ndarray, dt: np.ndarray) -> None:
        """Two-point start of the given rows (one earlier detection at `pos`, no velocity) with boxes z
        measured dt seconds later: velocity is the difference over dt, with the variance two
        measurements give it (a prior made for walkers would hold a speeding car back)."""
        r = MEAS_STD**2 * _scale(z) ** 2
        dt = dt[:, None]
        self.vel[rows] = (z - self.pos[rows]) / dt
        self.pos[rows] = z
        self.p00[rows] = r
        self.p01[rows] = r / dt
        self.p11[rows] = 2.0 * r / dt**2

    def correct(self, rows: np.ndarray, z: np.ndarray) -> None:
        """Kalman update of the given rows with measured boxes z (len(rows), 4) cx, cy, w, h."""
        p00, p01, p11 = self.p00[rows], self.p01[rows], self.p11[rows]
        innovation_var = p00 + MEAS_STD**2 * _scale(self.pos[rows]) ** 2
        gain_p = p00 / innovation_var
        gain_v = p01 / innovation_var
        residual = z - self.pos[rows]
        self.pos[rows] += gain_p * residual
        self.vel[rows] += gain_v * residual
        self.p00[rows] = (1.0 - gain_p) * p00
        self.p01[rows] = (1.0 - gain_p) * p01
        self.p11[rows] = p11 - gain_v * p01


_ARRAY_FIELDS = ("pos", "vel", "p00", "p01", "p11", "class_ids", "confirmed", "lost_s", "accel")


def _scale(cxcywh: np.ndarray) -> np.ndarray:
    """(N, 1) larger side of each box, the unit the noise is expressed in."""
    return np.maximum(cxcywh[:, 2:3], cxcywh[:, 3:4]).clip(min=MIN_SIZE)


def _to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = xyxy.astype(np.float64, copy=False)
    wh = np.maximum(xyxy[:, 2:] - xyxy[:, :2], MIN_SIZE)
    return np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) * 0.5, wh], axis=1)


def _to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    half = cxcywh[:, 2:] * 0.5
    return np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1).astype(np.float32)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x1, y1, x2, y2 boxes."""
    a = a.astype(np.float64, copy=False)
    b = b.astype(np.float64, copy=False)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def _associate(
    track_boxes: np.ndarray, track_classes: np.ndarray,
    det_boxes: np.ndarray, det_classes: np.ndarray, min_iou: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (track rows, det rows) maximising summed (IoU - min_iou) over pairs at or above the gate.

    This is ByteTrack's lapjv-with-cost-limit rule: a pair is only worth making when it beats
    the gate, and better overlaps win over more pairs.
    """
    if len(track_boxes) == 0 or len(det_boxes) == 0:
        return _NONE, _NONE
    gain = iou_matrix(track_boxes, det_boxes) - min_iou
    gain[(gain < 0) | (track_classes[:, None] != det_classes[None, :])] = 0.0
    return _assign(gain)


def _follow(
    track_pos: np.ndarray, reach: np.ndarray, track_classes: np.ndarray,
    det_boxes: np.ndarray, det_classes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (track rows, det rows) by centre distance, each track within its `reach` (pixels).

    The gain falls from 1 at the track's position to 0 at its reach, so nearer pairs win; sizes
    must agree within MAX_SIZE_CHANGE (a fast object is still the same object).
    """
    if len(track_pos) == 0 or len(det_boxes) == 0:
        return _NONE, _NONE
    z = _to_cxcywh(det_boxes)
    distance = np.hypot(track_pos[:, None, 0] - z[None, :, 0], track_pos[:, None, 1] - z[None, :, 1])
    gain = 1.0 - distance / np.maximum(reach, 1e-9)[:, None]
    track_size, det_size = _scale(track_pos)[:, 0], _scale(z)[:, 0]
    size_change = np.maximum(track_size[:, None], det_size[None, :]) / np.minimum(track_size[:, None], det_size[None, :])
    gain[(gain < 0) | (reach[:, None] <= 0) | (size_change > MAX_SIZE_CHANGE)
         | (track_classes[:, None] != det_classes[None, :])] = 0.0
    return _assign(gain)


_NONE = np.zeros(0, np.intp)


def _assign(gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, column) pairs of positive gain with the largest total (Hungarian)."""
    # Only rows and columns with some admissible pair take part in the assignment.
    rows = np.flatnonzero(gain.any(axis=1))
    cols = np.flatnonzero(gain.any(axis=0))
    if len(rows) == 0:
        return _NONE, _NONE
    sub = gain[np.ix_(rows, cols)]
    _, column_of_row, _ = lap.lapjv(-sub, extend_cost=True)  # the assignment of largest total gain
    r = np.flatnonzero(column_of_row >= 0)
    c = column_of_row[r]
    ok = sub[r, c] > 0
    return rows[r[ok]], cols[c[ok]]


class Tracker:
    """Multi-object tracker for one stream; call `update` once per analysed frame, in time order."""

    def __init__(
        self, *,
        high_threshold: float = 0.5,
        low_threshold: float = 0.1,
        new_track_threshold: float = 0.6,
        min_iou: float = 0.2,
        max_lost_s: float = 1.5,
        min_hits: int = 2,
        max_speed: Mapping[int, float] | None = None,
        class_groups: Sequence[Collection[int]] = (),
        accel_scale: Mapping[int, float] | None = None,
    ) -> None:
        if not 0 <= low_threshold <= high_threshold <= new_track_threshold:
            raise ValueError("need 0 <= low_threshold <= high_threshold <= new_track_threshold")
        if min_hits < 1:
            raise ValueError("min_hits must be at least 1")
        if any(speed < 0 for speed in (max_speed or {}).values()):
            raise ValueError("max_speed must not be negative")
        if any(scale <= 0 for scale in (accel_scale or {}).values()):
            raise ValueError("accel_scale must be positive")
        self._group = {}  # class id -> the class id its group matches as
        for group in class_groups:
            for class_id in group:
                if class_id in self._group:
                    raise ValueError(f"class {class_id} is in more than one class group")
                self._group[class_id] = min(group)
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.new_track_threshold = new_track_threshold
        self.min_iou = min_iou
        self.max_lost_s = max_lost_s
        self.min_hits = min_hits
        self.max_speed = dict(max_speed or {})
        self.accel_scale = dict(accel_scale or {})
        self._tracks: list[Track] = []
        self._arrays = _TrackArrays.empty()
        self._t: float | None = None
        self._last_id = 0

    def update(
        self, dets: Detections, t: float,
        observed_region: tuple[float, float, float, float] | None = None,
    ) -> TrackerUpdate:
        """Advance to time t (seconds) with the detections of that frame.

        `observed_region` (x1, y1, x2, y2 source pixels) says the detector only looked at that
        crop: tracks whose predicted centre lies outside it are predicted forward but are not
        counted as missed (their lost timer does not advance).
        """
        dt = self._advance_clock(t)
        arrays = self._arrays
        arrays.predict(dt)
        predicted = _to_xyxy(arrays.pos)

        n = len(self._tracks)
        if observed_region is None:
            observed = np.ones(n, bool)
        else:
            x1, y1, x2, y2 = observed_region
            cx, cy = arrays.pos[:, 0], arrays.pos[:, 1]
            observed = (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)

        scores = np.asarray(dets.scores)
        det_classes = self._match_keys(np.asarray(dets.class_ids))
        high = np.flatnonzero(scores >= self.high_threshold)
        low = np.flatnonzero((scores >= self.low_threshold) & (scores < self.high_threshold))

        # Stage 1: confident detections against every live track.
        t1, d1 = _associate(predicted, arrays.class_ids, dets.boxes[high], det_classes[high], self.min_iou)
        matched = np.zeros(n, bool)
        matched[t1] = True
        # Stage 2: weak detections against confirmed tracks still unmatched.
        left = np.flatnonzero(~matched & arrays.confirmed)
        low_gate = max(LOW_MIN_IOU, self.min_iou)
        t2, d2 = _associate(predicted[left], arrays.class_ids[left], dets.boxes[low], det_classes[low], low_gate)
        matched[left[t2]] = True
        # Stage 3: new tracks (one detection, no velocity) still unmatched and confident detections
        # still unclaimed, by distance.
        left3 = np.array([i for i in np.flatnonzero(~matched & ~arrays.confirmed).tolist() if self._tracks[i].hits == 1],
                         np.intp)
        spare = np.setdiff1d(high, high[d1])
        t3, d3 = _follow(arrays.pos[left3], self._reach(left3, t), arrays.class_ids[left3],
                         dets.boxes[spare], det_classes[spare]) if self.max_speed else (_NONE, _NONE)
        rows = np.concatenate([t1, left[t2], left3[t3]])
        det_rows = np.concatenate([high[d1], low[d2], spare[d3]])
        matched[rows] = True

        by_distance = len(rows) - len(t3)
        arrays.correct(rows[:by_distance], _to_cxcywh(dets.boxes[det_rows[:by_distance]]))
        first_seen = np.array([self._tracks[i].last_seen for i in left3[t3].tolist()])
        arrays.pair(left3[t3], _to_cxcywh(dets.boxes[spare[d3]]), t - first_seen)
        arrays.lost_s[rows] = 0.0
        for k, (row, det) in enumerate(zip(rows.tolist(), det_rows.tolist())):
            self._hit(row, dets.boxes[det], float(scores[det]), int(dets.class_ids[det]), t, k >= by_distance)

        # Misses: the lost timer runs only for tracks the detector actually looked at.
        missed = ~matched & observed
        arrays.lost_s[missed] += dt
        arrays.vel[~matched, 2:] = 0.0  # no size trend extrapolated while unseen (as ByteTrack)
        dead = missed & (~arrays.confirmed | (arrays.lost_s > self.max_lost_s))
        ended = [self._end(self._tracks[i]) for i in np.flatnonzero(dead & arrays.confirmed).tolist()]
        for i in np.flatnonzero(~matched & ~dead & arrays.confirmed).tolist():
            track = self._tracks[i]
            track.state = "lost"
            track.box = predicted[i]

        if dead.any():
            keep = ~dead
            self._tracks = [track for track, k in zip(self._tracks, keep.tolist()) if k]
            self._arrays = arrays.select(keep)

        # New tentative tracks from confident detections nobody claimed.
        unclaimed = np.ones(len(dets), bool)
        unclaimed[det_rows] = False
        fresh = np.flatnonzero(unclaimed & (scores >= self.new_track_threshold))
        if len(fresh):
            self._start(dets.select(fresh), t)

        active, lost = [], []
        for track in self._tracks:
            if track.state == "confirmed":  # every confirmed track left unmatched is now lost
                active.append(track)
            elif track.state == "lost":
                lost.append(track)
        return TrackerUpdate(_by_id(active), _by_id(lost), _by_id(ended))

    def flush(self, t: float) -> list[Track]:
        """End every confirmed track (the stream is over) and return them; tentative ones are dropped."""
        self._advance_clock(t)
        ended = [self._end(track) for track in self._tracks if track.state != "tentative"]
        self._tracks = []
        self._arrays = _TrackArrays.empty()
        return _by_id(ended)

    def _match_keys(self, class_ids: np.ndarray) -> np.ndarray:
        """The class each detection matches as: its group's, or its own."""
        if not self._group:
            return class_ids
        return np.array([self._group.get(c, c) for c in class_ids.tolist()], np.int64)

    def _reach(self, rows: np.ndarray, t: float) -> np.ndarray:
        """Pixels each track's object can have travelled since its last detection, at its class's top speed."""
        sizes = _scale(self._arrays.pos[rows])[:, 0]
        return np.array([
            self.max_speed.get(self._tracks[row].class_id, 0.0) * (t - self._tracks[row].last_seen)
            for row in rows.tolist()
        ]) * sizes

    def _advance_clock(self, t: float) -> float:
        if self._t is not None and t < self._t:
            raise ValueError(f"time went backwards: {t} < {self._t}")
        dt = 0.0 if self._t is None else t - self._t
        self._t = t
        return dt

    def _hit(self, row: int, box: np.ndarray, score: float, class_id: int, t: float, by_distance: bool) -> None:
        """A detection matched to the track in `row`; a pair made by distance never confirms a track by itself."""
        track = self._tracks[row]
        track.box = track._matched_box = np.array(box, np.float32)
        track.score = score
        track.class_scores[class_id] = track.class_scores.get(class_id, 0.0) + score
        track.class_id = max(track.class_scores, key=track.class_scores.__getitem__)
        track.max_score = max(track.max_score, score)
        track.last_seen = t
        track.hits += 1
        if track.state == "tentative":
            if track.hits >= self.min_hits and not by_distance:
                self._confirm(row)
        else:
            track.state = "confirmed"

    def _confirm(self, row: int) -> None:
        self._last_id += 1
        self._tracks[row].id = self._last_id
        self._tracks[row].state = "confirmed"
        self._arrays.confirmed[row] = True

    def _start(self, dets: Detections, t: float) -> None:
        first = len(self._tracks)
        accel = np.array([self.accel_scale.get(c, 1.0) for c in dets.class_ids.tolist()])
        self._arrays = self._arrays.extend(
            _TrackArrays.start(_to_cxcywh(dets.boxes), self._match_keys(dets.class_ids), accel)
        )
        for box, score, class_id in zip(dets.boxes, dets.scores.tolist(), dets.class_ids.tolist()):
            box = np.array(box, np.float32)
            self._tracks.append(Track(
                id=0, class_id=class_id, box=box, score=score, max_score=score,
                first_seen=t, last_seen=t, hits=1, state="tentative", _matched_box=box,
            ))
        if self.min_hits <= 1:
            for row in range(first, len(self._tracks)):
                self._confirm(row)

    @staticmethod
    def _end(track: Track) -> Track:
        track.box = track._matched_box
        return track


def _by_id(tracks: list[Track]) -> list[Track]:
    return sorted(tracks, key=lambda track: track.id)

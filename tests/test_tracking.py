"""Tracker behaviour on synthetic boxes sampled at ~5 updates/s."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from vigia.app.bench.capacity import crowd
from vigia.inference.class_priors import class_priors
from vigia.inference.coco import COCO_CLASSES
from vigia.inference.tracking import Track, Tracker, TrackerUpdate, iou_matrix
from vigia.inference.types import Detections

PERSON = 0
CAR = 2
W, H = 50.0, 120.0          # a person's box; walking ~0.8 heights/s
WALK = 0.8 * H              # px/s


def box_at(cx: float, cy: float, w: float = W, h: float = H) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def dets(boxes: list[list[float]], scores: list[float] | float = 0.9, classes: list[int] | int = PERSON) -> Detections:
    n = len(boxes)
    scores = [scores] * n if isinstance(scores, float) else scores
    classes = [classes] * n if isinstance(classes, int) else classes
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), np.array(classes, np.int32)
    )


def centre(box: np.ndarray) -> np.ndarray:
    return (np.asarray(box[:2]) + np.asarray(box[2:])) / 2


def ids(tracks: list[Track]) -> list[int]:
    return [t.id for t in tracks]


def test_iou_matrix_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (7, 2))
    a = np.c_[a, a + rng.uniform(1, 60, (7, 2))]
    b = rng.uniform(0, 100, (5, 2))
    b = np.c_[b, b + rng.uniform(1, 60, (5, 2))]
    got = iou_matrix(a, b)
    for i in range(7):
        for j in range(5):
            ix = max(0.0, min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]))
            iy = max(0.0, min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]))
            union = np.prod(a[i, 2:] - a[i, :2]) + np.prod(b[j, 2:] - b[j, :2]) - ix * iy
            assert got[i, j] == pytest.approx(ix * iy / union)


def test_walker_at_5hz_keeps_one_id():
    """Sideways at walking speed a box moves ~0.4 of its width per update; the track must hold."""
    rng = np.random.default_rng(1)
    tracker = Tracker()
    seen = []
    for k in range(50):
        t = k * 0.2
        jitter = rng.normal(0, 2.0, 4)
        update = tracker.update(dets([np.add(box_at(100 + WALK * t, 300), jitter).tolist()]), t)
        if k == 0:
            assert update.active == []          # tentative until min_hits
        else:
            assert len(update.active) == 1 and update.lost == [] and update.ended == []
            seen.append(update.active[0])
    assert {track.id for track in seen} == {1}
    assert all(track is seen[0] for track in seen)   # mutated in place
    track = seen[0]
    assert track.state == "confirmed" and track.hits == 50
    assert track.first_seen == 0.0 and track.last_seen == pytest.approx(49 * 0.2)


def test_prediction_carries_velocity_at_5hz():
    """A brisk crossing (1.2 heights/s = ~0.6 box widths per update) is only matchable with velocity."""
    tracker = Tracker()
    speed = 1.2 * H
    for k in range(10):
        update = tracker.update(dets([box_at(100 + speed * k * 0.2, 300)]), k * 0.2)
    assert ids(update.active) == [1]
    # One missed update: the lost box is predicted ahead, not left where it was last seen.
    update = tracker.update(Detections.empty(), 10 * 0.2)
    assert ids(update.lost) == [1]
    assert centre(update.lost[0].box)[0] == pytest.approx(100 + speed * 2.0, abs=3.0)
    update = tracker.update(dets([box_at(100 + speed * 2.2, 300)]), 2.2)
    assert ids(update.active) == [1]


@dataclass
class Step:
    """What one update reported, copied (Track objects change in place later)."""

    t: float
    active: list[int]
    lost: list[int]
    ended: list[Track]
    lost_centres: list[np.ndarray]


def run_occlusion(gap_s: float) -> list[Step]:
    """A walker seen for 2 s, hidden for gap_s, then seen again for 1 s."""
    tracker = Tracker()
    steps = []
    t = 0.0
    while t < 2.0 + gap_s + 1.0:
        visible = not (2.0 <= t < 2.0 + gap_s)
        u = tracker.update(dets([box_at(100 + WALK * t, 300)]) if visible else Detections.empty(), t)
        steps.append(Step(t, ids(u.active), ids(u.lost), u.ended, [centre(tr.box) for tr in u.lost]))
        t = round(t + 0.2, 6)
    return steps


def test_short_occlusion_keeps_id():
    steps = run_occlusion(0.8)
    during = [s for s in steps if 2.0 <= s.t < 2.8]
    assert during and all(s.lost == [1] and s.active == [] for s in during)
    # While lost the box is the prediction: it keeps walking.
    for s in during:
        assert s.lost_centres[0][0] == pytest.approx(100 + WALK * s.t, abs=3.0)
    assert all(s.active == [1] for s in steps if s.t >= 2.8)
    assert all(s.ended == [] for s in steps)


def test_lost_timer_restarts_after_each_match():
    tracker = Tracker()
    hidden = [(1.0, 2.2), (2.6, 3.8), (4.2, 5.4)]         # 1.2 s each, 3.6 s in all
    for k in range(35):
        t = round(k * 0.2, 6)
        visible = not any(a <= t < b for a, b in hidden)
        update = tracker.update(dets([box_at(100 + WALK * t, 300)]) if visible else Detections.empty(), t)
        assert update.ended == []
    assert ids(update.active) == [1]


def test_long_occlusion_ends_track_once():
    steps = run_occlusion(2.0)
    ended = [s for s in steps if s.ended]
    assert len(ended) == 1 and ids(ended[0].ended) == [1]
    track, t_end = ended[0].ended[0], ended[0].t
    # last matched at t = 1.8; gone once unmatched for more than 1.5 s
    assert track.last_seen == pytest.approx(1.8)
    assert t_end == pytest.approx(3.4)
    # An ended track reports where it was last seen, not a drifting prediction.
    assert centre(track.box)[0] == pytest.approx(100 + WALK * 1.8)
    # When the person comes back it is a new track with a new id.
    assert all(1 not in s.active + s.lost for s in steps if s.t > t_end)
    assert steps[-1].active == [2]


def test_crossing_paths_keep_ids():
    """Two people walk through each other; the one behind is not detected while mostly covered."""
    tracker = Tracker()
    owner: dict[int, set[str]] = {}
    for k in range(40):
        t = k * 0.2
        a = box_at(100 + WALK * t, 300)                      # walks right, in front
        b = box_at(100 + WALK * 8.0 - WALK * t, 310)         # walks left, behind
        covered = iou_matrix(np.array([a]), np.array([b]))[0, 0] > 0.5
        boxes, names = ([a], ["a"]) if covered else ([a, b], ["a", "b"])
        update = tracker.update(dets(boxes), t)
        for track in update.active:
            name = names[int(np.argmin([np.abs(np.subtract(track.box, bx)).sum() for bx in boxes]))]
            owner.setdefault(track.id, set()).add(name)
        if k > 1:
            assert len(update.active) + len(update.lost) == 2
    assert owner == {1: {"a"}, 2: {"b"}} or owner == {1: {"b"}, 2: {"a"}}


def test_low_score_continues_but_never_starts():
    tracker = Tracker()
    for k in range(10):                                  # weak detections only: nothing starts
        update = tracker.update(dets([box_at(100 + WALK * k * 0.2, 300)], 0.3), k * 0.2)
        assert update.active == [] and update.lost == []
    tracker.update(dets([box_at(400, 300)], 0.55), 2.0)  # high, but below new_track_threshold
    update = tracker.update(dets([box_at(400, 300)], 0.55), 2.2)
    assert update.active == []
    tracker.update(dets([box_at(700, 300)], 0.9), 2.4)   # a weak detection cannot confirm a new track
    update = tracker.update(dets([box_at(700, 300)], 0.3), 2.6)
    update = tracker.update(dets([box_at(700, 300)], 0.9), 2.8)
    assert update.active == []

    tracker = Tracker()
    for k in range(3):
        update = tracker.update(dets([box_at(100 + WALK * k * 0.2, 300)], 0.9), k * 0.2)
    for k in range(3, 8):                                # partly occluded: scores drop to 0.3
        update = tracker.update(dets([box_at(100 + WALK * k * 0.2, 300)], 0.3), k * 0.2)
        assert ids(update.active) == [1]
        assert update.active[0].score == pytest.approx(0.3)
        assert update.active[0].max_score == pytest.approx(0.9)
    # Below low_threshold a detection is ignored altogether.
    update = tracker.update(dets([box_at(100 + WALK * 1.6, 300)], 0.05), 1.6)
    assert update.active == [] and ids(update.lost) == [1]


def test_matching_is_class_aware():
    tracker = Tracker()
    for k in range(3):
        tracker.update(dets([box_at(300, 300)], 0.9, PERSON), k * 0.2)
    # Same place, other class: does not continue the person, starts a car.
    update = tracker.update(dets([box_at(300, 300)], 0.9, CAR), 0.6)
    assert update.active == [] and ids(update.lost) == [1]
    update = tracker.update(dets([box_at(300, 300), box_at(300, 300)], 0.9, [CAR, PERSON]), 0.8)
    assert sorted((t.id, t.class_id) for t in update.active) == [(1, PERSON), (2, CAR)]


def test_unobserved_track_outlives_max_lost():
    tracker = Tracker()
    for k in range(3):
        tracker.update(dets([box_at(1000, 300)]), k * 0.2)
    crop = (0.0, 0.0, 640.0, 720.0)                      # detector looked at the left half only
    t = 0.4
    for _ in range(20):                                  # 4 s, far beyond max_lost_s
        t = round(t + 0.2, 6)
        update = tracker.update(Detections.empty(), t, observed_region=crop)
        assert ids(update.lost) == [1] and update.ended == []
    # Looked at again and not there: now the lost timer runs.
    ended_at = None
    while ended_at is None:
        t = round(t + 0.2, 6)
        update = tracker.update(Detections.empty(), t)
        if update.ended:
            ended_at = t
    assert ended_at == pytest.approx(4.4 + 1.6)
    # An observed region that covers the track does not protect it.
    tracker = Tracker()
    for k in range(3):
        tracker.update(dets([box_at(300, 300)]), k * 0.2)
    ended = [ids(tracker.update(Detections.empty(), k * 0.2, observed_region=crop).ended) for k in range(3, 12)]
    assert ended.index([1]) == 7                         # t = 2.0: unmatched 1.6 s > max_lost_s


def test_observed_region_track_is_still_matchable():
    tracker = Tracker()
    for k in range(3):
        tracker.update(dets([box_at(600 + WALK * k * 0.2, 300)]), k * 0.2)
    update = tracker.update(dets([box_at(600 + WALK * 0.6, 300)]), 0.6, observed_region=(0, 0, 500, 720))
    assert ids(update.active) == [1]


def test_tentative_track_ends_when_missed_and_ids_are_not_spent():
    tracker = Tracker()
    tracker.update(dets([box_at(300, 300)]), 0.0)
    tracker.update(Detections.empty(), 0.2)              # tentative track dropped silently
    update = tracker.update(dets([box_at(300, 300)]), 0.4)
    assert update.active == [] and update.ended == []
    update = tracker.update(dets([box_at(300, 300)]), 0.6)
    assert ids(update.active) == [1]
    assert update.active[0].first_seen == pytest.approx(0.4)


def test_min_hits():
    tracker = Tracker(min_hits=3)
    states = [ids(tracker.update(dets([box_at(300, 300)]), k * 0.2).active) for k in range(4)]
    assert states == [[], [], [1], [1]]
    tracker = Tracker(min_hits=1)
    assert ids(tracker.update(dets([box_at(300, 300)]), 0.0).active) == [1]


def test_flush_ends_everything():
    tracker = Tracker()
    for k in range(3):
        tracker.update(dets([box_at(100, 300), box_at(400, 300)]), k * 0.2)
    update = tracker.update(dets([box_at(100, 300), box_at(800, 300)]), 0.6)   # 2 lost, 1 tentative
    assert ids(update.active) == [1] and ids(update.lost) == [2]
    flushed = tracker.flush(0.8)
    assert ids(flushed) == [1, 2]
    assert centre(flushed[1].box)[0] == pytest.approx(400)
    assert tracker.flush(1.0) == []
    update = tracker.update(Detections.empty(), 1.2)
    assert update == TrackerUpdate([], [], [])
    # ids stay unique for the tracker's life
    tracker.update(dets([box_at(100, 300)]), 1.4)
    assert ids(tracker.update(dets([box_at(100, 300)]), 1.6).active) == [3]


def test_irregular_intervals():
    """Skipped frames and jittery timing: the filter steps by the real gap."""
    gaps = [0.2, 0.12, 0.4, 0.6, 0.2, 0.28, 0.6, 0.12, 0.2, 0.4] * 4
    tracker = Tracker()
    t = 0.0
    for k, gap in enumerate(gaps):
        update = tracker.update(dets([box_at(100 + WALK * t, 300 + 0.3 * WALK * t)]), t)
        if k:
            assert ids(update.active) == [1]
        t = round(t + gap, 6)
    # A long gap is predicted at the speed learned, whatever the sampling was.
    t_miss = round(t + 0.5, 6)
    update = tracker.update(Detections.empty(), t_miss)
    assert ids(update.lost) == [1]
    expected = centre(np.array(box_at(100 + WALK * t_miss, 300 + 0.3 * WALK * t_miss)))
    assert np.abs(centre(update.lost[0].box) - expected).max() < 3.0


def test_time_must_not_go_backwards():
    tracker = Tracker()
    tracker.update(Detections.empty(), 5.0)
    tracker.update(Detections.empty(), 5.0)              # same time is allowed
    with pytest.raises(ValueError):
        tracker.update(Detections.empty(), 4.9)


def test_a_crowd_of_60_overlapping_people_keeps_its_tracks():
    """The crowd whose per-update cost `vigia bench capacity` measures (`tracker_update_ms`)."""
    tracker = Tracker()
    for t, detections in crowd(60):
        update = tracker.update(detections, t)
    assert len(update.active) + len(update.lost) >= 50


# -- class priors: fast objects and classes the detector confuses ---------------------------------

TRUCK, BUS = 7, 5
COCO_PRIORS = class_priors(list(COCO_CLASSES)).tracker_params()
CAR_W, CAR_H = 90.0, 60.0


def car_at(cx: float, cy: float = 400.0) -> list[float]:
    return box_at(cx, cy, CAR_W, CAR_H)


def test_class_priors_name_the_detectors_classes():
    priors = class_priors(list(COCO_CLASSES))
    assert priors.max_speed[PERSON] < priors.max_speed[CAR]
    assert priors.class_groups == [[CAR, BUS, TRUCK]]
    assert PERSON not in priors.accel_scale and priors.accel_scale[CAR] > 1
    # A model without some of those classes: only what it has, and no group of one.
    priors = class_priors(["person", "car", "dog"])
    assert priors.max_speed == {0: 4.0, 1: 8.0} and priors.class_groups == [] and list(priors.accel_scale) == [1]


def test_a_car_leaving_its_own_box_between_updates_is_followed():
    """A car at motorway speed crossing the view: 6 lengths/s is 1.2 box widths per update (IoU 0)."""
    speed = 6 * CAR_W
    frames = [dets([car_at(100 + speed * k * 0.2)], 0.8, CAR) for k in range(8)]
    plain = Tracker()
    assert all(plain.update(d, k * 0.2).active == [] for k, d in enumerate(frames))  # each detection a new tentative
    tracker = Tracker(**COCO_PRIORS)
    updates = [tracker.update(d, k * 0.2) for k, d in enumerate(frames)]
    # Paired by distance at the second detection, confirmed when the third meets the prediction.
    assert [ids(u.active) for u in updates] == [[], []] + [[1]] * 6
    assert updates[-1].active[0].hits == 8 and updates[-1].active[0].first_seen == 0.0
    # Once paired the filter has the velocity: the prediction is ahead, not where the car was.
    update = tracker.update(Detections.empty(), 8 * 0.2)
    assert centre(update.lost[0].box)[0] == pytest.approx(100 + speed * 1.6, abs=0.2 * CAR_W)


def test_distance_matching_stays_within_the_class_top_speed_and_size():
    # A person does not cover 1.2 car widths' worth of its own size per update...
    tracker = Tracker(**COCO_PRIORS)
    tracker.update(dets([box_at(100, 300)]), 0.0)
    update = tracker.update(dets([box_at(100 + 4.5 * H * 0.2, 300)]), 0.2)   # 4.5 heights/s: beyond a sprint
    assert update.active == []
    tracker = Tracker(**COCO_PRIORS)
    for k in range(3):                                                          # 3.5 heights/s: a runner
        update = tracker.update(dets([box_at(100 + 3.5 * H * 0.2 * k, 300)]), k * 0.2)
    assert ids(update.active) == [1]
    # ...nor does an object double its size between two updates, nor a car become a person.
    tracker = Tracker(**COCO_PRIORS)
    tracker.update(dets([car_at(100)], 0.8, CAR), 0.0)
    update = tracker.update(dets([box_at(200, 400, 2.5 * CAR_W, 2.5 * CAR_H)], 0.8, CAR), 0.2)  # within reach
    assert update.active == []
    tracker = Tracker(**COCO_PRIORS)
    tracker.update(dets([car_at(100)], 0.8, CAR), 0.0)
    assert tracker.update(dets([box_at(200, 400)], 0.8, PERSON), 0.2).active == []
    # Weak detections never pair by distance (they include clutter).
    tracker = Tracker(**COCO_PRIORS)
    tracker.update(dets([car_at(100)], 0.8, CAR), 0.0)
    assert tracker.update(dets([car_at(200)], 0.3, CAR), 0.2).active == []


def test_a_pair_by_distance_is_confirmed_only_by_a_detection_where_it_predicts():
    """Two cars side by side in dense traffic: a new track's distance pair can join the wrong ones;
    it is reported only once a third detection lands where the pair's velocity says."""
    tracker = Tracker(**COCO_PRIORS)
    tracker.update(dets([car_at(100)], 0.8, CAR), 0.0)
    assert tracker.update(dets([car_at(200)], 0.8, CAR), 0.2).active == []   # paired: 500 px/s to the right
    update = tracker.update(dets([car_at(120)], 0.8, CAR), 0.4)              # not at ~300: the pair was wrong
    assert update.active == [] and update.lost == [] and update.ended == []
    tracker = Tracker(**COCO_PRIORS)
    for k, x in enumerate((100, 200, 300)):
        update = tracker.update(dets([car_at(x)], 0.8, CAR), k * 0.2)
    assert ids(update.active) == [1]


def test_a_lost_track_does_not_jump_to_a_far_detection():
    """Distance matching is for a new track's first step only: a confirmed track predicts instead."""
    tracker = Tracker(**COCO_PRIORS)
    for k in range(3):
        tracker.update(dets([car_at(100)], 0.8, CAR), k * 0.2)
    update = tracker.update(dets([car_at(100 + 1.5 * CAR_W)], 0.8, CAR), 0.6)
    assert update.active == [] and ids(update.lost) == [1]


def test_vehicle_classes_the_detector_swaps_stay_one_track():
    """A van called car, truck, bus in turn: one track, labelled by its best-scored class."""
    calls = [(CAR, 0.6), (TRUCK, 0.7), (TRUCK, 0.6), (BUS, 0.5), (CAR, 0.4), (TRUCK, 0.6)]
    tracker = Tracker(**COCO_PRIORS)
    for k, (cls, score) in enumerate(calls):
        update = tracker.update(dets([car_at(300 + 20 * k)], score, cls), k * 0.2)
    assert ids(update.active) == [1]
    assert update.active[0].class_id == TRUCK and update.active[0].hits == len(calls)
    # Without groups (the default) the classes stay apart.
    tracker = Tracker()
    labels = set()
    for k, (cls, score) in enumerate(calls):
        labels |= {t.class_id for t in tracker.update(dets([car_at(300 + 20 * k)], score, cls), k * 0.2).active}
    assert TRUCK in labels and CAR not in labels and BUS not in labels
    # A person is never in a vehicle's group.
    tracker = Tracker(**COCO_PRIORS)
    for k in range(3):
        tracker.update(dets([car_at(300)], 0.8, CAR), k * 0.2)
    assert tracker.update(dets([car_at(300)], 0.8, PERSON), 0.6).active == []


def coming_closer(tracker: Tracker, speed: float = 25.0, distance: float = 50.0, updates: int = 8) -> list[list[int]]:
    """Ids reported for a car driving at the camera (m/s, m), seen by a 700 px focal length from 6 m up
    and 4 m aside: it grows and speeds up in the picture, 0.8 to 2.7 of its lengths per second."""
    reported = []
    for k in range(updates):
        t = k * 0.2
        z = distance - speed * t
        w, h, cx, cy = 700 * 4.5 / z, 700 * 1.8 / z, 640 + 700 * 4.0 / z, 200 + 700 * 6.0 / z
        reported.append(ids(tracker.update(dets([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]], 0.8, CAR), t).active))
    return reported


def test_a_vehicle_speeding_up_in_the_picture_as_it_comes_closer_keeps_its_track():
    assert coming_closer(Tracker(**COCO_PRIORS)) == [[]] + [[1]] * 7
    # With a walker's acceleration the prediction falls behind by the last update.
    assert coming_closer(Tracker(**(COCO_PRIORS | {"accel_scale": {}})))[-1] == []


def test_class_groups_must_not_overlap():
    with pytest.raises(ValueError):
        Tracker(class_groups=[[CAR, BUS], [BUS, TRUCK]])
    with pytest.raises(ValueError):
        Tracker(max_speed={CAR: -1.0})
    with pytest.raises(ValueError):
        Tracker(accel_scale={CAR: 0.0})


def test_a_crowd_keeps_its_tracks_with_the_class_priors():
    tracker = Tracker(**COCO_PRIORS)
    for t, detections in crowd(60):
        update = tracker.update(detections, t)
    assert len(update.active) + len(update.lost) >= 50

"""YOLOX decoding checked against boxes worked out by hand from a synthetic head output.

Layout for a 416x416 input: stride 8 is a 52x52 grid (cells 0..2703), stride 16 a 26x26
grid (2704..3379), stride 32 a 13x13 grid (3380..3548); cell index = start + row * cols + col.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from vigia.inference.types import DetectorInput
from vigia.inference.yolox import YoloxDecoder, cell_count

SIZE = (416, 416)
PERSON, CAR, TRUCK = 0, 2, 7


def cell(stride: int, col: int, row: int) -> int:
    start = {8: 0, 16: 52 * 52, 32: 52 * 52 + 26 * 26}[stride]
    return start + row * (416 // stride) + col


def put(raw, index, cx, cy, log_w, log_h, objectness, class_scores: dict[int, float]) -> None:
    raw[index, :5] = [cx, cy, log_w, log_h, objectness]
    for class_id, score in class_scores.items():
        raw[index, 5 + class_id] = score


@pytest.fixture()
def raw() -> np.ndarray:
    return np.zeros((3549, 85), np.float32)


def test_cell_count_matches_the_model_output() -> None:
    assert cell_count((416, 416)) == 3549
    assert cell_count((640, 384)) == 80 * 48 + 40 * 24 + 20 * 12


def test_one_box_decoded_by_hand(raw) -> None:
    # stride 16, col 5, row 3: centre ((0.5 + 5) * 16, (0.25 + 3) * 16) = (88, 52),
    # size (e^ln2 * 16, e^ln4 * 16) = (32, 64) -> x1 y1 x2 y2 = (72, 20, 104, 84).
    put(raw, cell(16, 5, 3), 0.5, 0.25, math.log(2), math.log(4), 0.9, {PERSON: 0.8})
    boxes, scores, class_ids = YoloxDecoder(SIZE).decode(raw)
    np.testing.assert_allclose(boxes, [[72, 20, 104, 84]], atol=1e-4)
    np.testing.assert_allclose(scores, [0.9 * 0.8], rtol=1e-6)
    assert class_ids.tolist() == [PERSON]
    assert boxes.dtype == np.float32 and class_ids.dtype == np.int32


def test_boxes_from_every_stride(raw) -> None:
    # stride 8, col 10, row 20, offsets 0, size e^ln4 * 8 = 32: centre (80, 160).
    put(raw, cell(8, 10, 20), 0.0, 0.0, math.log(4), math.log(4), 0.8, {CAR: 0.9})
    # stride 32, col 12, row 12 (last cell), offsets 0.5, size 32 x 64: centre (400, 400).
    put(raw, cell(32, 12, 12), 0.5, 0.5, 0.0, math.log(2), 0.7, {TRUCK: 0.9})
    boxes, scores, class_ids = YoloxDecoder(SIZE).decode(raw)
    order = np.argsort(class_ids)
    np.testing.assert_allclose(boxes[order], [[64, 144, 96, 176], [384, 368, 416, 432]], atol=1e-4)
    assert class_ids[order].tolist() == [CAR, TRUCK]
    np.testing.assert_allclose(scores[order], [0.72, 0.63], rtol=1e-6)


def test_score_is_objectness_times_class_score_against_the_threshold(raw) -> None:
    put(raw, cell(16, 1, 1), 0, 0, 0, 0, 0.9, {PERSON: 0.3})  # 0.27 < 0.3: dropped
    put(raw, cell(16, 10, 10), 0, 0, 0, 0, 0.2, {PERSON: 1.0})  # 0.2: dropped
    put(raw, cell(16, 20, 20), 0, 0, 0, 0, 0.6, {PERSON: 0.6})  # 0.36: kept
    boxes, scores, _ = YoloxDecoder(SIZE, score_threshold=0.3).decode(raw)
    np.testing.assert_allclose(scores, [0.36], rtol=1e-6)
    np.testing.assert_allclose(boxes, [[20 * 16 - 8, 20 * 16 - 8, 20 * 16 + 8, 20 * 16 + 8]], atol=1e-4)


def test_best_class_per_cell_and_class_filter(raw) -> None:
    put(raw, cell(16, 5, 5), 0, 0, 0, 0, 1.0, {PERSON: 0.5, TRUCK: 0.6})
    _, scores, class_ids = YoloxDecoder(SIZE).decode(raw)
    assert class_ids.tolist() == [TRUCK]
    np.testing.assert_allclose(scores, [0.6])
    # Asking for people only picks the best among the wanted classes.
    _, scores, class_ids = YoloxDecoder(SIZE, classes=frozenset({PERSON})).decode(raw)
    assert class_ids.tolist() == [PERSON]
    np.testing.assert_allclose(scores, [0.5])
    _, scores, _ = YoloxDecoder(SIZE, classes=frozenset({CAR})).decode(raw)
    assert len(scores) == 0


def test_nms_keeps_the_best_of_overlapping_boxes_of_one_class(raw) -> None:
    # A: (72, 20, 104, 84) score 0.72. B: stride 8 col 11 row 6 -> centre (88, 52), size
    # 32 x 48 -> (72, 28, 104, 76), inside A: IoU = 1536 / 2048 = 0.75 > 0.45, score 0.54.
    put(raw, cell(16, 5, 3), 0.5, 0.25, math.log(2), math.log(4), 0.9, {PERSON: 0.8})
    put(raw, cell(8, 11, 6), 0.0, 0.5, math.log(4), math.log(6), 0.6, {PERSON: 0.9})
    # C: same size as A, 16 px to the right: IoU = 1024 / 3072 = 1/3 < 0.45, kept.
    put(raw, cell(16, 6, 3), 0.5, 0.25, math.log(2), math.log(4), 0.5, {PERSON: 0.8})
    boxes, scores, class_ids = YoloxDecoder(SIZE, iou_threshold=0.45).decode(raw)
    np.testing.assert_allclose(boxes, [[72, 20, 104, 84], [88, 20, 120, 84]], atol=1e-4)
    np.testing.assert_allclose(scores, [0.72, 0.40], rtol=1e-6)  # best first
    # With a lower IoU threshold C is suppressed as well.
    boxes, _, _ = YoloxDecoder(SIZE, iou_threshold=0.3).decode(raw)
    np.testing.assert_allclose(boxes, [[72, 20, 104, 84]], atol=1e-4)


def test_nms_is_per_class(raw) -> None:
    # Stride 32 col 2 row 1, centre ((2 + 0.75) * 32, (1 + 0.625) * 32) = (88, 52), size
    # 32 x 64: exactly box A, but a car: both survive.
    put(raw, cell(16, 5, 3), 0.5, 0.25, math.log(2), math.log(4), 0.9, {PERSON: 0.8})
    put(raw, cell(32, 2, 1), 0.75, 0.625, 0.0, math.log(2), 0.5, {CAR: 0.7})
    boxes, scores, class_ids = YoloxDecoder(SIZE).decode(raw)
    np.testing.assert_allclose(boxes, [[72, 20, 104, 84], [72, 20, 104, 84]], atol=1e-4)
    assert class_ids.tolist() == [PERSON, CAR]
    np.testing.assert_allclose(scores, [0.72, 0.35], rtol=1e-6)


def test_mapping_to_source_pixels_with_scale_offset_and_clipping(raw) -> None:
    put(raw, cell(16, 5, 3), 0.5, 0.25, math.log(2), math.log(4), 0.9, {PERSON: 0.8})
    # Centre (0, 0), size 32: (-16, -16, 16, 16), clipped to the model canvas first.
    put(raw, cell(8, 0, 0), 0.0, 0.0, math.log(4), math.log(4), 0.9, {CAR: 0.9})
    decoder = YoloxDecoder(SIZE)
    # A crop at (100, 50) of the frame, shrunk by 2: source = model / 0.5 + offset.
    image = DetectorInput(np.zeros((416, 416, 3), np.uint8), 0.5, (100.0, 50.0))
    det = decoder.detections(raw, image)
    by_class = dict(zip(det.class_ids.tolist(), det.boxes.tolist()))
    assert by_class[PERSON] == pytest.approx([72 * 2 + 100, 20 * 2 + 50, 104 * 2 + 100, 84 * 2 + 50])
    assert by_class[CAR] == pytest.approx([100, 50, 16 * 2 + 100, 16 * 2 + 50])
    # With the frame size known, boxes end at its edge: 244..308 x 90..218 -> x2 300, y2 200.
    det = decoder.detections(raw, image, frame_size=(300, 200))
    by_class = dict(zip(det.class_ids.tolist(), det.boxes.tolist()))
    assert by_class[PERSON] == pytest.approx([244, 90, 300, 200])


def test_batched_raw_and_bad_shapes(raw) -> None:
    put(raw, cell(16, 5, 3), 0.5, 0.25, math.log(2), math.log(4), 0.9, {PERSON: 0.8})
    decoder = YoloxDecoder(SIZE)
    boxes, _, _ = decoder.decode(raw[None])  # (1, cells, 85) as the model returns it
    np.testing.assert_allclose(boxes, [[72, 20, 104, 84]], atol=1e-4)
    assert len(decoder.decode(np.zeros((3549, 85), np.float32))[0]) == 0
    with pytest.raises(ValueError, match="3549"):
        decoder.decode(np.zeros((3548, 85), np.float32))
    with pytest.raises(ValueError, match="classes"):
        YoloxDecoder(SIZE, classes=frozenset({80}))

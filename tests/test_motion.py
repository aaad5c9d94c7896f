import av
import numpy as np

from vigia.appliance.motion import MotionDetector, luma
from vigia.appliance.pipeline import FrameSelector, plan_region


def yuv_frame(grey: np.ndarray) -> av.VideoFrame:
    h, w = grey.shape
    planes = np.concatenate([grey, np.full((h // 2, w), 128, np.uint8)])
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def scene(square_at: int | None, w=640, h=360) -> av.VideoFrame:
    rng = np.random.default_rng(0)
    grey = (100 + rng.integers(0, 3, (h, w))).astype(np.uint8)  # still background with sensor noise
    if square_at is not None:
        grey[100:160, square_at:square_at + 60] = 220
    return yuv_frame(grey)


def test_luma_is_a_view_of_the_y_plane():
    frame = scene(50)
    y = luma(frame)
    assert y.shape == (360, 640)
    assert y[120, 70] == 220 and y[10, 10] <= 102


def test_still_scene_has_no_motion_and_a_moving_square_is_found():
    motion = MotionDetector((640, 360), warmup_frames=1)
    results = [motion.update(scene(None)) for _ in range(5)]
    assert results[0].warming_up and not results[-1].warming_up
    assert all(r.regions == [] for r in results[1:])
    moving = motion.update(scene(300))
    assert len(moving.regions) == 1
    x1, y1, x2, y2 = moving.regions[0]
    assert 270 <= x1 <= 300 and 360 <= x2 <= 400 and 70 <= y1 <= 100 and 160 <= y2 <= 190


def test_masked_area_is_ignored():
    mask = [[(0.4, 0.0), (0.7, 0.0), (0.7, 1.0), (0.4, 1.0)]]  # x 256..448 px
    motion = MotionDetector((640, 360), warmup_frames=1, masks=mask)
    for _ in range(3):
        motion.update(scene(None))
    assert motion.update(scene(300)).regions == []
    assert len(motion.update(scene(50)).regions) >= 1


def test_frame_selector_keeps_the_detect_rate():
    selector = FrameSelector(5.0)
    picked = [i for i in range(250) if selector.due(i / 25)]  # 10 s of 25 fps
    assert len(picked) == 50 and picked[:3] == [0, 5, 10]
    odd = FrameSelector(7.0)
    assert sum(odd.due(i / 30) for i in range(300)) in (69, 70, 71)
    jump = FrameSelector(5.0)
    assert jump.due(0.0) and jump.due(100.0) and not jump.due(100.04)  # a jump in time restarts the clock


def test_plan_region_crops_small_motion_and_goes_full_frame_for_large():
    size, model = (1920, 1080), (416, 416)
    crop = plan_region([(900, 500, 960, 620)], size, model)
    assert crop is not None
    x1, y1, x2, y2 = crop
    assert x2 - x1 >= 416 and y2 - y1 >= 416 and x1 <= 900 and x2 >= 960 and y1 <= 500 and y2 >= 620
    assert plan_region([(0, 0, 100, 100), (1800, 900, 1900, 1000)], size, model) is None
    edge = plan_region([(0, 0, 50, 50)], size, model)
    assert edge == (0, 0, 416, 416)


def test_region_at_a_lower_detect_resolution_maps_back_to_source_pixels():
    from vigia.appliance.config import Detect
    from vigia.appliance.pipeline import detector_input

    grey = np.full((1080, 1920), 100, np.uint8)
    grey[400:700, 1000:1200] = 230  # a bright block in source pixels
    frame = yuv_frame(grey)
    region = (800, 300, 1400, 900)
    native = detector_input(frame, (416, 416), region, Detect())
    halved = detector_input(frame, (416, 416), region, Detect(width=960))
    for inp in (native, halved):
        ys, xs = np.nonzero(inp.image[:, :, 0] > 200)
        x1, y1 = xs.min() / inp.scale + inp.offset[0], ys.min() / inp.scale + inp.offset[1]
        x2, y2 = (xs.max() + 1) / inp.scale + inp.offset[0], (ys.max() + 1) / inp.scale + inp.offset[1]
        assert abs(x1 - 1000) <= 6 and abs(y1 - 400) <= 6 and abs(x2 - 1200) <= 6 and abs(y2 - 700) <= 6
    assert halved.scale == native.scale  # the same crop, one pass less detail: 600 px of source into 416 either way

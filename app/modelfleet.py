"""A fleet for model rollouts on this machine, for `vigia bench rollout` and the tests: central behind NGINX with
an S3 protocol server (moto) for the registry, and enrolled devices, each a process of its own
(`python -m vigia.app.modelfleet`) with a real detector on frames of the demo clip, its model slot, its roll-ups and
its uploader taking commands through NGINX; plus the ONNX edits that make test models (class scores scaled, another
input shape)."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import onnx
from onnx import helper, numpy_helper

from vigia.app.devstack import CentralStack, central_stack, free_port
from vigia.appliance.encryption import load_or_create_key
from vigia.appliance.metrics import Metrics
from vigia.appliance.model_slot import MODEL_SLOT_DIR, ModelSlot
from vigia.appliance.rollups import MetricsRollups
from vigia.appliance.storage import EventWriter
from vigia.central.ingest.media import MediaSettings, init_bucket
from vigia.inference.factory import create_detector
from vigia.inference.preprocess import letterbox_frame
from vigia.inference.swappable import SwappableDetector
from vigia.inference.types import DetectorInput
from vigia.inference.yolox import cell_count
from vigia.kit.files import write_atomic
from vigia.sync.commands import CommandHandlers, Commands
from vigia.sync.identity import client_context, enrol
from vigia.sync.media import MediaSource
from vigia.sync.uploader import Uploader, UploadSettings

BUCKET = "vigia-models"
RUNNING_FILE = "running-model"   # a device process writes the model its detector runs here
FACTORY_MODEL = "yolox_nano"
SETTINGS = UploadSettings(batch_records=500, backoff_initial_s=0.05, backoff_max_s=0.5, idle_s=0.1, timeout_s=10,
                          commands_poll_s=0.3)


def edited_model(source: Path, dest: Path, *, class_scale: float | None = None, input_size: int | None = None) -> Path:
    """A copy of a YOLOX ONNX model with its class scores multiplied by `class_scale` (0: a model that sees nothing)
    and/or its declared input (and output) shape changed to `input_size` square."""
    model = onnx.load(source)
    graph = model.graph
    out = graph.output[0]
    if class_scale is not None:
        width = out.type.tensor_type.shape.dim[2].dim_value
        mask = np.ones(width, np.float32)
        mask[5:] = class_scale
        raw = out.name + "_unscaled"
        for node in graph.node:
            node.output[:] = [raw if name == out.name else name for name in node.output]
        graph.initializer.append(numpy_helper.from_array(mask, "vigia_class_scale"))
        graph.node.append(helper.make_node("Mul", [raw, "vigia_class_scale"], [out.name]))
    if input_size is not None:
        dims = graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value = dims[3].dim_value = input_size
        out.type.tensor_type.shape.dim[1].dim_value = cell_count((input_size, input_size))
    onnx.save(model, dest)
    return dest


def demo_frames(clip: Path, size: tuple[int, int], count: int = 12, every: int = 10) -> list[DetectorInput]:
    """`count` letterboxed frames of `clip`, one in `every`."""
    frames = []
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                frames.append(letterbox_frame(frame, size, None))
            if len(frames) == count:
                break
    return frames


class FleetDevice:
    """An enrolled device: detector on a loop of frames (`fps`), model slot, roll-ups every `rollup_s`, uploader."""

    def __init__(self, root: Path, enrolment: Enrolment, device_id: str, model: Path, clip: Path, *, fps: float = 3.0,
                 rollup_s: float = 1.0):
        self.root, self.device_id, self.fps = root, device_id, fps
        root.mkdir(parents=True, exist_ok=True)
        self.identity = asyncio.run(enrol(root / "sync", enrolment.url, enrolment.token, enrolment.ca_pem)).identity
        opener = functools.partial(create_detector, "onnxruntime", score_threshold=0.3)
        self.detector = SwappableDetector(opener(model), FACTORY_MODEL)
        self.slot = ModelSlot(self.detector, root / MODEL_SLOT_DIR, opener, model)
        self.frames = demo_frames(clip, self.detector.input_size)
        self.database = root / "vigia.db"
        self.writer = EventWriter(self.database, outbox=True, linger_s=0.01).start()
        self.rollups = MetricsRollups(Metrics.create(), self.database, root, self.writer.put_record, rollup_s,
                                      model=FACTORY_MODEL, model_health=self._health)
        handlers = CommandHandlers(self._no_camera, self._no_camera, privacy_masks=lambda _camera: [],
                                   models=lambda: self.slot)
        self.uploader = Uploader(self.database, device_id, self.identity.central_url, client_context(self.identity),
                                 SETTINGS, media=MediaSource(root, load_or_create_key(root / "keys" / "media.key")),
                                 commands=Commands(self.identity, handlers))
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._feed, name=f"{device_id}-feed", daemon=True),
                         threading.Thread(target=self._upload, name=f"{device_id}-upload", daemon=True)]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._upload_stop: asyncio.Event | None = None

    def _no_camera(self, camera: str, *args):
        raise KeyError(camera)

    def _health(self, now: float) -> dict:
        return {**self.detector.take_health(now), "events": self.slot.events}

    def start(self) -> FleetDevice:
        self.rollups.start()
        for thread in self._threads:
            thread.start()
        return self

    def _feed(self) -> None:
        i, shown = 0, None
        while not self._stop.wait(1.0 / self.fps):
            with contextlib.suppress(Exception):  # a failing model is counted in its health, and the feed goes on
                self.detector.detect([self.frames[i % len(self.frames)]])
            i += 1
            if self.detector.model_id != shown:
                shown = self.detector.model_id
                write_atomic(self.root / RUNNING_FILE, shown.encode())

    def _upload(self) -> None:
        async def main():
            self._loop, self._upload_stop = asyncio.get_running_loop(), asyncio.Event()
            await self.uploader.run(self._upload_stop)
        asyncio.run(main())

    def stop(self) -> None:
        self._stop.set()
        self.rollups.close()
        if self._loop is not None and self._upload_stop is not None:
            self._loop.call_soon_threadsafe(self._upload_stop.set)
        for thread in self._threads:
            thread.join(30)
        self.writer.close()
        self.uploader.close()
        self.slot.close()
        self.detector.close()


@dataclass(frozen=True)
class Enrolment:
    """What a device needs to enrol: central's URL (NGINX), a one-time token, the CA certificate."""

    url: str
    token: str
    ca_pem: bytes


class DeviceProcess:
    """A FleetDevice in a process of its own; `model_id` is the model its detector runs, as it last wrote it."""

    def __init__(self, root: Path, stack: CentralStack, device_id: str, model: Path, clip: Path, *, fps: float,
                 rollup_s: float):
        self.root, self.device_id = root, device_id
        root.mkdir(parents=True, exist_ok=True)
        (root / "ca.pem").write_bytes(stack.ca_pem)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigia.app.modelfleet", str(root), device_id, stack.url, str(model), str(clip),
             str(fps), str(rollup_s)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=(root / "device.log").open("ab"))
        self.process.stdin.write(stack.token(device_id).encode() + b"\n")   # the token, not in the process list
        self.process.stdin.close()

    @property
    def model_id(self) -> str | None:
        try:
            return (self.root / RUNNING_FILE).read_text()
        except FileNotFoundError:
            return None

    def wait_started(self, timeout: float) -> None:
        if not wait_until(lambda: self.model_id is not None or self.process.poll() is not None, timeout):
            raise TimeoutError(f"{self.device_id} did not start within {timeout} s (see {self.root / 'device.log'})")
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.device_id} exited with {self.process.returncode}: see {self.root / 'device.log'}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def device_main(argv: list[str]) -> int:
    """A device process: ROOT DEVICE_ID CENTRAL_URL MODEL CLIP FPS ROLLUP_S, the enrolment token on stdin; runs
    until SIGTERM."""
    root, device_id, url, model, clip, fps, rollup_s = argv
    enrolment = Enrolment(url, sys.stdin.readline().strip(), (Path(root) / "ca.pem").read_bytes())
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    device = FleetDevice(Path(root), enrolment, device_id, Path(model), Path(clip), fps=float(fps),
                         rollup_s=float(rollup_s)).start()
    try:
        stopped.wait()
    finally:
        device.stop()
    return 0


@dataclass
class ModelFleet:
    stack: CentralStack
    s3_endpoint: str
    devices: list[DeviceProcess]

    @property
    def bucket(self) -> MediaSettings:
        return MediaSettings(self.s3_endpoint, BUCKET)

    def central_args(self) -> list[str]:
        """The bucket options of `vigia central models ...`."""
        return ["--s3-endpoint", self.s3_endpoint, "--bucket", BUCKET]


@contextlib.contextmanager
def model_fleet(root: Path, devices: int, model: Path, clip: Path, *, fps: float = 3.0, rollup_s: float = 1.0,
                instances: int = 2, rollout_interval: float = 0.5) -> Iterator[ModelFleet]:
    """moto S3 (test credentials in this process's environment, which central's processes inherit), central
    (`instances` processes, moving rollouts on every `rollout_interval` s) with its bucket behind NGINX, and
    `devices` enrolled devices named fleet-01..., started."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "vigia-test-key")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "vigia-test-secret")
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    started: list[DeviceProcess] = []
    try:
        init_bucket(MediaSettings(endpoint, BUCKET))
        with central_stack(root / "central", instances, ["--s3-endpoint", endpoint, "--bucket", BUCKET,
                                                         "--rollout-interval", str(rollout_interval)]) as stack:
            try:
                for i in range(devices):
                    started.append(DeviceProcess(root / f"fleet-{i + 1:02d}", stack, f"fleet-{i + 1:02d}", model,
                                                 clip, fps=fps, rollup_s=rollup_s))
                for device in started:
                    device.wait_started(180)
                yield ModelFleet(stack, endpoint, started)
            finally:
                for device in started:
                    device.stop()
    finally:
        moto.stop()


def wait_until(check, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


if __name__ == "__main__":
    sys.exit(device_main(sys.argv[1:]))

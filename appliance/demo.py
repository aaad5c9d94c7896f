"""The demo: the shared crowd clip as a looping camera, with zones and rules drawn for it."""
from __future__ import annotations

import os
from pathlib import Path

from vigia.appliance.config import Config, parse_config

# Zones and lines are drawn for the overhead concourse of crowd-720p.avi.
DEMO_CONFIG = """\
cameras:
  - name: concourse
    url: {clip}
    loop: true
    zones:
      - name: centre
        polygon: [[0.35, 0.35], [0.65, 0.35], [0.65, 0.75], [0.35, 0.75]]
        classes: [person]
      - name: meeting-point
        polygon: [[0.10, 0.40], [0.30, 0.40], [0.30, 0.68], [0.10, 0.68]]
      - name: hall
        polygon: [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    lines:
      - name: midline
        points: [[0.0, 0.55], [1.0, 0.55]]
    rules:
      - {{name: centre-entry, type: enter, zone: centre}}
      - {{name: lingering, type: loiter, zone: centre, seconds: 3}}
      - {{name: meeting, type: loiter, zone: meeting-point, seconds: 4, alert: true}}
      - {{name: southbound, type: cross, line: midline, direction: left_to_right}}
      - {{name: crowded, type: count, zone: hall, count: 15, alert: true}}
detector:
  model: yolox_nano
  classes: [person, bicycle, car, motorcycle, bus, truck]
storage:
  data_dir: {data_dir}
http:
  port: {port}
"""


def default_clip() -> Path:
    shared = Path(os.environ.get("VIGIA_SHARED", "../shared"))
    return Path(os.environ.get("VIGIA_DEMO_CLIP", shared / "media" / "crowd-720p.avi")).resolve()


def demo_config_text(clip: Path, data_dir: Path, port: int) -> str:
    return DEMO_CONFIG.format(clip=clip, data_dir=data_dir, port=port)


def demo_config(clip: Path, data_dir: Path, port: int) -> Config:
    return parse_config(demo_config_text(clip, data_dir, port), source="demo config")

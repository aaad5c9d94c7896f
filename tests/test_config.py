import subprocess
import sys
import textwrap

import pytest

from vigia.appliance.config import ConfigError, parse_config
from vigia.inference.backends import backend_names


def test_smallest_config_is_one_camera_url():
    config = parse_config("cameras:\n  - url: rtsp://10.0.0.5/stream1\n")
    camera = config.cameras[0]
    assert camera.name == "camera1"
    assert camera.detect.fps == 5
    assert config.detector.backend == "auto"
    assert "person" in config.detector.classes


def test_every_registered_detector_back_end_is_a_valid_choice():
    for name in backend_names():
        assert parse_config(f"detector:\n  backend: {name}\n").detector.backend == name


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), source="site.yml")
    return [str(issue) for issue in caught.value.issues]


def test_every_error_is_reported_with_line_and_field_path():
    issues = errors_of("""\
        cameras:
          - name: gate
            url: rtsp://10.0.0.5/stream1
            detect:
              fps: -3
            zones:
              - name: yard
                polygon: [[0.1, 0.1], [0.5, 0.1]]
              - name: road
                polygon: [[0.1, 0.1], [1.7, 0.1], [0.5, 0.5]]
        detector:
          backend: cuda
          score_treshold: 0.4
        """)
    joined = "\n".join(issues)
    assert "line 5: cameras[0].detect.fps: Input should be greater than 0" in joined
    assert "line 8: cameras[0].zones[0].polygon: a polygon needs at least 3 points, got 2" in joined
    assert "line 10: cameras[0].zones[1].polygon[1][0]: Input should be less than or equal to 1" in joined
    assert "line 12: detector.backend:" in joined and "'onnxruntime'" in joined
    assert "line 13: detector.score_treshold: unknown field" in joined
    assert len(issues) == 5


def test_bad_polygons_are_named():
    flat = errors_of("""\
        cameras:
          - url: /dev/video0
            zones:
              - name: flat
                polygon: [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]
        """)
    assert flat == ["line 5: cameras[0].zones[0].polygon: polygon has no area (its points are on one line)"]
    bowtie = errors_of("""\
        cameras:
          - url: /dev/video0
            zones:
              - name: bowtie
                polygon: [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
        """)
    assert bowtie == ["line 5: cameras[0].zones[0].polygon: polygon edges cross each other"]


def test_rules_must_have_their_parameters():
    issues = errors_of("""\
        cameras:
          - url: rtsp://cam/1
            zones:
              - {name: door, polygon: [[0, 0], [1, 0], [1, 1]]}
            rules:
              - {name: a, type: loiter, zone: door}
              - {name: b, type: cross}
        """)
    assert issues == [
        "line 6: cameras[0].rules[0]: rule type 'loiter' needs seconds",
        "line 7: cameras[0].rules[1]: rule type 'cross' needs line",
    ]


def test_rule_errors_name_the_field_whatever_the_kind():
    issues = errors_of("""\
        cameras:
          - url: rtsp://cam/1
            zones:
              - {name: door, polygon: [[0, 0], [1, 0], [1, 1]]}
            rules:
              - {name: a}
              - {name: b, type: sit}
              - name: c
                type: loiter
                zone: door
                seconds: -2
                colour: red
              - {name: d, type: enter, zone: door, line: null, direction: any, seconds: null, count: null}
        """)
    assert issues == [
        "line 6: cameras[0].rules[0].type: Field required",
        "line 7: cameras[0].rules[1].type: Input should be 'enter', 'loiter', 'cross', 'count' or 'present'",
        "line 11: cameras[0].rules[2].seconds: Input should be greater than 0",
        "line 12: cameras[0].rules[2].colour: unknown field (check the spelling)",
    ]


def test_rules_must_name_existing_zones():
    issues = errors_of("""\
        cameras:
          - url: rtsp://cam/1
            zones:
              - {name: door, polygon: [[0, 0], [1, 0], [1, 1]]}
            rules:
              - {name: b, type: enter, zone: window}
        """)
    assert issues == ["line 2: cameras[0]: rule 'b' names zone 'window', which this camera does not have"]


def test_rule_upload_clip_is_off_unless_asked_and_must_be_a_flag():
    rules = parse_config("cameras:\n  - url: rtsp://cam/1\n    rules:\n      - {name: a, type: present}\n"
                         "      - {name: b, type: present, upload_clip: true}\n").cameras[0].rules
    assert [rule.upload_clip for rule in rules] == [False, True]
    issues = errors_of("cameras:\n  - url: rtsp://cam/1\n    rules:\n      - {name: a, type: present, upload_clip: maybe}\n")
    assert len(issues) == 1 and issues[0].startswith("line 4: cameras[0].rules[0].upload_clip:"), issues


def test_yaml_syntax_error_has_a_line():
    issues = errors_of("cameras:\n  - url: rtsp://x/1\n    name: [unclosed\n")
    assert issues[0].startswith("line 4: (top level): not valid YAML") or issues[0].startswith("line 3")


def test_unknown_class_and_url_scheme():
    issues = errors_of("""\
        cameras:
          - url: http://10.0.0.9/mjpeg
        detector:
          classes: [person, dragon]
        """)
    assert any("line 2: cameras[0].url: url must be rtsp://" in i for i in issues)
    assert any("line 4: detector.classes: unknown class 'dragon'" in i for i in issues)


def test_duplicate_camera_names():
    issues = errors_of("cameras:\n  - {name: a, url: /x.mp4}\n  - {name: a, url: /y.mp4}\n")
    assert issues == ["line 1: (top level): duplicate camera name 'a'"]


def test_cli_config_check(tmp_path):
    good = tmp_path / "good.yml"
    good.write_text("cameras:\n  - url: rtsp://10.0.0.5/stream1\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("cameras:\n  - url: rtsp://10.0.0.5/stream1\n    detect: {fps: 0}\n")
    ok = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "config", "check", str(good)],
                      capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "ok (1 cameras, 1 enabled)" in ok.stdout
    fail = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "config", "check", str(bad)],
                        capture_output=True, text=True)
    assert fail.returncode == 2
    assert f"{bad}: line 3: cameras[0].detect.fps: Input should be greater than 0" in fail.stderr


def test_record_mode_off_unquoted():
    config = parse_config("cameras:\n  - url: rtsp://cam/1\n    record: {mode: off}\n")
    assert config.cameras[0].record.mode == "off"


def test_sync_settings_reach_the_uploader_and_bad_ones_are_named():
    from vigia.sync.uploader import UploadSettings, upload_settings

    config = parse_config("cameras: []\nsync:\n  batch_records: 500\n  bandwidth_bytes_per_s: 20000\n"
                          "  outbox_max_records: 10000\n  commands_poll_s: 5\n")
    settings = upload_settings(config.sync)
    assert (settings.batch_records, settings.bandwidth_bytes_per_s, settings.outbox_max_records,
            settings.commands_poll_s) == (500, 20000, 10000, 5)
    defaults = upload_settings(parse_config("cameras: []").sync)
    assert (defaults.batch_records, defaults.outbox_max_records) == (UploadSettings().batch_records,
                                                                     UploadSettings().outbox_max_records)
    assert errors_of("""\
        sync:
          batch_records: 0
          bandwidth_bytes_per_s: -5
          outbox_max: 10
        """) == ["line 2: sync.batch_records: Input should be greater than or equal to 1",
                 "line 3: sync.bandwidth_bytes_per_s: Input should be greater than 0",
                 "line 4: sync.outbox_max: unknown field (check the spelling)"]

# Vigia: `make demo` and `make test` work on a fresh machine; setup installs what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VIGIA_SHARED ?= $(abspath ../shared)
export VIGIA_SHARED
export VIGIA_DATA_DIR ?= $(abspath var)

.PHONY: setup system-packages venv demo test bench clean

setup: system-packages venv

# System packages: FFmpeg, GStreamer's RTSP server (the tests' camera) and the system python's gi bindings.
SYSTEM_PACKAGES := ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gir1.2-gst-rtsp-server-1.0 python3-gi python3-venv
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python
	@$(BIN)/pip install -q -e '.[dev]'

demo: setup
	$(BIN)/vigia models import $(VIGIA_SHARED)/models/yolox_nano.onnx
	$(BIN)/vigia demo --clip $(VIGIA_SHARED)/media/crowd-720p.avi

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/vigia bench capacity --json
	$(BIN)/vigia bench fidelity --json
	$(BIN)/vigia bench storage --json

clean:
	rm -rf $(VENV) var test-artifacts *.egg-info

# Vigia: `make demo` and `make test` work on a fresh machine; setup installs what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VIGIA_SHARED ?= $(abspath ../shared)
export VIGIA_SHARED
export VIGIA_DATA_DIR ?= $(abspath var)

.PHONY: setup system-packages venv lock audit ui dashboard test-oidc-provider mobile mobile-web mobile-test demo lint test bench image clean

setup: system-packages venv ui dashboard test-oidc-provider mobile-web

# System packages: FFmpeg, GStreamer's RTSP server (the tests' camera) and the system python's gi bindings,
# Chromium (the browser tests drive Debian's, never a downloaded one), Node.js for building the web UI.
SYSTEM_PACKAGES := ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gir1.2-gst-rtsp-server-1.0 python3-gi python3-venv \
	chromium
# Provisioning tests: test sticks (FAT and ext4 images on loop devices), systemd-analyze for the unit files.
SYSTEM_PACKAGES += dosfstools mtools e2fsprogs mount systemd
# Sync tests: NGINX in front of two central instances, PostgreSQL (started by the tests when it is down).
SYSTEM_PACKAGES += nginx postgresql
# Notification tests: their own Mosquitto broker (started by the tests on a free port).
SYSTEM_PACKAGES += mosquitto
# Device images: debootstrap for the x86 root filesystem, zstd for its tarball.
SYSTEM_PACKAGES += debootstrap zstd
# Central on Kubernetes (deploy/k8s): `kubectl kustomize` renders the overlays for the manifest tests. Debian's
# kubectl (kubernetes-client) unless a kubectl is installed already (another vendor's owns /usr/bin/kubectl).
SYSTEM_PACKAGES += $(if $(shell command -v kubectl),,kubernetes-client)
# Central's monitoring tests: Prometheus (promtool test rules, a real scrape), Alertmanager (amtool check-config).
SYSTEM_PACKAGES += prometheus prometheus-alertmanager
# Central's database backups and point-in-time recovery: pgBackRest (WAL archiving, full/incremental backups
# into encrypted S3 repositories); the tests run it against a cluster of their own.
SYSTEM_PACKAGES += pgbackrest
# Central's external API: Redis shared by its instances (tests use the local one, else start their own).
SYSTEM_PACKAGES += redis-server
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

# Python packages from requirements.lock (every one pinned, with its hashes: a device and CI run what was tested),
# then Vigia itself without dependencies. `make lock` rewrites the lock from pyproject.toml (uv), keeping the
# versions installed here; `make audit` checks the locked set against PyPI's advisories (pip-audit).
# The [train] extra (central's model training, and its tests) stays outside the lock: torch==2.13.0 is a different
# wheel per machine (on this project's machines pip takes the CPU build from local disk; elsewhere set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu, as PyPI's default torch wheel is a multi-GB CUDA build).
TORCH_INDEX ?=
TRAIN_PACKAGES := torch==2.13.0 'pycocotools>=2.0.8,<3'
venv: $(BIN)/python
	@$(BIN)/pip install -q --require-hashes -r requirements.lock
	@$(BIN)/pip install -q --no-deps -e .
	@$(BIN)/pip install -q $(TRAIN_PACKAGES) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))

lock: $(BIN)/python
	$(BIN)/pip freeze --exclude-editable | grep -v '^uv==' > $(VENV)/installed.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
		-c $(VENV)/installed.txt --no-header -q -o requirements.lock

audit: venv
	$(BIN)/uv tool run pip-audit --require-hashes --disable-pip -r requirements.lock

# The front ends: one npm workspace (package.json at the root): the guards' UI (local_ui/web), central's
# dashboard (central/web) and what they share (web-common: i18n, API client, base CSS, Vite and TypeScript
# settings, API types generation). `npm ci` installs it into ./node_modules when the lock file or a package.json changes.
WEB_COMMON := web-common
WEB_PACKAGES := package.json $(WEB_COMMON)/package.json local_ui/web/package.json central/web/package.json
WEB_COMMON_SOURCES := $(shell find $(WEB_COMMON)/src -type f 2>/dev/null) $(WEB_COMMON)/tsconfig.app.json \
	$(WEB_COMMON)/tsconfig.node.json
node_modules/.package-lock.json: package-lock.json $(WEB_PACKAGES)
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The tests' OpenID provider (tests/support/oidc: panva's oidc-provider, OpenID Certified), a package of its own
# with its own lock, outside the front ends' workspace: `npm ci` there when its lock changes.
OIDC_PROVIDER := tests/support/oidc
test-oidc-provider: $(OIDC_PROVIDER)/node_modules/.package-lock.json
$(OIDC_PROVIDER)/node_modules/.package-lock.json: $(OIDC_PROVIDER)/package-lock.json $(OIDC_PROVIDER)/package.json node_modules/.package-lock.json
	npm ci --prefix $(OIDC_PROVIDER) --no-audit --no-fund --loglevel=error
	touch $@

# The guards' web UI: React + TypeScript built by Vite into local_ui/web/dist (served by the appliance),
# rebuilt when a source changes; every text file also gzipped, as the server sends it.
UI := local_ui/web
UI_SOURCES := $(shell find $(UI)/src $(UI)/public $(UI)/scripts -type f 2>/dev/null) $(UI)/index.html \
	$(UI)/vite.config.ts $(UI)/tsconfig.json $(UI)/tsconfig.node.json $(WEB_COMMON_SOURCES)
ui: $(UI)/dist/index.html
$(UI)/dist/index.html: node_modules/.package-lock.json $(UI_SOURCES)
	npm run typecheck -w $(UI) && npm run build -w $(UI)
	find $(UI)/dist -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.webmanifest' -o -name '*.svg' \) \
		-exec gzip -k -9 -f {} \;
	touch $@

# Central's fleet dashboard: the same stack, built into central/web/dist (served by `vigia central dashboard`).
DASHBOARD := central/web
DASHBOARD_SOURCES := $(shell find $(DASHBOARD)/src $(DASHBOARD)/public -type f 2>/dev/null) $(DASHBOARD)/index.html \
	$(DASHBOARD)/vite.config.ts $(DASHBOARD)/tsconfig.json $(DASHBOARD)/tsconfig.node.json $(WEB_COMMON_SOURCES)
dashboard: $(DASHBOARD)/dist/index.html
$(DASHBOARD)/dist/index.html: node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	npm run typecheck -w $(DASHBOARD) && npm run build -w $(DASHBOARD)
	touch $@

# The mobile app (mobile/: Expo SDK 57, React Native, TypeScript): a lock of its own, installed by `npm ci` there
# when it changes (React Native pins its React; the web apps' workspace keeps theirs). Its API types come from
# central's OpenAPI document like the web apps' (`npm run api-types`). `mobile-web` is its web build (react-native-web),
# which tests/test_browser_mobile.py drives in Chromium; `mobile-test` type-checks and runs its jest tests.
MOBILE := mobile
MOBILE_SOURCES := $(shell find $(MOBILE)/src -type f 2>/dev/null) $(MOBILE)/index.ts $(MOBILE)/app.json
$(MOBILE)/node_modules/.package-lock.json: $(MOBILE)/package-lock.json $(MOBILE)/package.json
	cd $(MOBILE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@
mobile: $(MOBILE)/node_modules/.package-lock.json
mobile-web: $(MOBILE)/dist/index.html
$(MOBILE)/dist/index.html: $(MOBILE)/node_modules/.package-lock.json $(MOBILE_SOURCES)
	cd $(MOBILE) && npx tsc --noEmit && npx expo export --platform web --output-dir dist
	touch $@
mobile-test: mobile
	cd $(MOBILE) && npx tsc --noEmit && npx jest --ci

demo: setup
	$(BIN)/vigia models import $(VIGIA_SHARED)/models/yolox_nano.onnx
	$(BIN)/vigia demo --clip $(VIGIA_SHARED)/media/crowd-720p.avi

lint: venv
	$(BIN)/ruff check .

test: setup lint mobile-test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=30

bench: setup
	$(BIN)/vigia bench capacity --json
	$(BIN)/vigia bench fidelity --json
	$(BIN)/vigia bench storage --json
	$(BIN)/vigia bench ui --json
	$(BIN)/vigia bench sync --json

# The x86 device image (as root, about 2 minutes): $(IMAGE_OUT)/rootfs and vigia-x86-<version>.tar.zst.
IMAGE_OUT := build/image-x86
image: setup
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO rm -rf $(IMAGE_OUT) && $$SUDO images/x86/build.sh $(IMAGE_OUT) --tar

clean:
	rm -rf $(VENV) var test-artifacts *.egg-info node_modules $(WEB_COMMON)/node_modules \
	$(UI)/dist $(UI)/node_modules $(DASHBOARD)/dist $(DASHBOARD)/node_modules $(MOBILE)/dist $(MOBILE)/node_modules

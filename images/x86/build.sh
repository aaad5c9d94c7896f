#!/usr/bin/env bash
# Build the x86 Vigia appliance's root filesystem: Debian bookworm (debootstrap, minbase), Vigia and its
# dependencies (extra `replica`: litestream) in /opt/vigia/venv, then images/install.sh (user, units, first-boot
# setup), DHCP on wired interfaces and no machine id (each device makes its own).
# Usage: images/x86/build.sh OUT [--tar]  (as root). Writes OUT/rootfs and, with --tar,
# OUT/vigia-x86-<version>.tar.zst. VIGIA_MIRROR overrides the Debian mirror (default: this machine's),
# VIGIA_FLEET_KEY bakes a fleet public key into /etc/vigia/fleet.pub, PYTHON is the Python that downloads
# the wheels (default: the checkout's .venv; it must be 3.11, as bookworm's python3 is).
set -euo pipefail

SUITE=bookworm
PACKAGES=systemd,systemd-sysv,udev,dbus,systemd-timesyncd,python3,python3-venv,ca-certificates,mtools

die() { echo "build.sh: $*" >&2; exit 1; }
step() { echo "== $*" >&2; }

case "$#:${2:-}" in 1: | 2:--tar) ;; *) die "usage: images/x86/build.sh OUT [--tar]" ;; esac
OUT=$(realpath -m "$1")
TAR=${2:-}
ROOT=$OUT/rootfs
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-$([ -x "$REPO/.venv/bin/python" ] && echo "$REPO/.venv/bin/python" || echo python3)}

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
for tool in debootstrap unshare git zstd; do
	command -v $tool >/dev/null || die "$tool is missing: apt-get install debootstrap zstd git (make setup installs them)"
done
[ ! -e "$ROOT" ] || die "$ROOT exists: remove it or choose another output folder"
[ -f "$REPO/local_ui/web/dist/index.html" ] || die "the web UI is not built: run make ui"  # before a long build

# The Debian mirror this machine's apt uses (one-line or deb822 sources), else Debian's own.
host_mirror() {
	local sources=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
	awk '/^deb /{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}} /^URIs:/{print $2}' \
		"${sources[@]}" 2>/dev/null | grep -m1 -E '/debian/?$' || echo http://deb.debian.org/debian
}
MIRROR=${VIGIA_MIRROR:-$(host_mirror)}

# Run a command inside the root filesystem: its own mount and PID namespaces (/proc mounted, gone when
# it exits) and a clean environment, so nothing of this machine's (PIP_* settings...) leaks in.
in_root() {
	unshare --mount --pid --fork --mount-proc="$ROOT/proc" chroot "$ROOT" \
		/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

step "debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
	|| { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

host_py=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
root_py=$(in_root python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$host_py" = "$root_py" ] || die "$PYTHON is Python $host_py but $SUITE has $root_py: the wheels would not fit (set PYTHON)"

step "wheels: Vigia (from a copy of the checkout) and its dependencies, at the versions installed here"
mkdir -p "$WORK/src" "$ROOT/tmp/wheels"
(cd "$REPO" && git ls-files -co --exclude-standard | while read -r f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
	| xargs -0 cp --parents -t "$WORK/src")  # building in a copy leaves the checkout untouched (no build/)
"$PYTHON" -m pip freeze --exclude-editable >"$WORK/constraints.txt"
"$PYTHON" -m pip wheel -q --no-deps -w "$ROOT/tmp/wheels" "$WORK/src"
# binary wheels where they exist; the few pure-Python packages published as source only (http-ece) built here
"$PYTHON" -m pip wheel -q --prefer-binary -c "$WORK/constraints.txt" -w "$ROOT/tmp/wheels" \
	"$(echo "$ROOT"/tmp/wheels/vigia-*.whl)[replica]"

step "Vigia into /opt/vigia/venv"
in_root python3 -m venv /opt/vigia/venv
in_root /opt/vigia/venv/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check \
	--find-links /tmp/wheels 'vigia[replica]'
rm -rf "$ROOT/tmp/wheels"
in_root /opt/vigia/venv/bin/python -c 'import av, cv2, lap, numpy, onnxruntime' \
	|| die "Vigia's native dependencies do not load in the image (a system library missing?)"

step "the appliance: web UI, vigia user, units, first-boot setup"
"$REPO/images/install.sh" "$ROOT"
cat >"$ROOT/etc/systemd/network/80-dhcp.network" <<'EOF'
# Every wired interface asks for an address by DHCP (the appliance is then found by mDNS).
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF
systemctl --root="$ROOT" --quiet enable systemd-networkd.service
echo vigia >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvigia\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
: >"$ROOT/etc/machine-id"   # empty: each device makes its own at first boot
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*

VERSION=$(in_root /usr/bin/vigia --version 2>/dev/null | awk '{print $2}')
[ -n "$VERSION" ] || die "vigia --version fails in the image"
if [ "$TAR" = --tar ]; then
	step "vigia-x86-$VERSION.tar.zst"
	tar --numeric-owner --xattrs --acls -C "$ROOT" -c . | zstd -q -T0 -f -o "$OUT/vigia-x86-$VERSION.tar.zst"
fi
step "done: $ROOT (vigia $VERSION, $(du -sh "$ROOT" | cut -f1))"

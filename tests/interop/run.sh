#!/bin/bash
# run.sh — Linux-guest interoperability test of a 9P server (`make interop`).
#
# Usage: tests/interop/run.sh [BUILD_DIR]        (default BUILD_DIR: build)
#
# Boots a Debian kernel under QEMU (TCG, no KVM) with a busybox initramfs whose
# /init mounts a 9P server running on this host through Linux's own 9p client
# (trans=tcp to 10.0.2.2, which QEMU user networking maps to 127.0.0.1) and
# runs tests/interop/guest-test.sh once per configuration (dialect:cache).
# Results come back as TAP on the guest's second serial port. Then the
# exported directory is checked from the host side, and this prints the TAP,
# "1..N" and a final "N passed, N failed"; the exit status is 1 on failure.
#
# Steps: (1) ensure Debian packages (qemu-system-x86, busybox-static, cpio,
# kmod, gcc, libc6-dev; diod for the diod preset); fetch the kernel package
# named by linux-image-amd64 with `apt-get download` and `dpkg -x` it into the
# cache (never installed); (2) compile guest-helper.c with gcc -static;
# (3) build the initramfs; (4) start the server in its own process group on
# a free port; (5) boot the guest, stream its TAP; (6) host-side checks,
# server log excerpts for failed checks; kill QEMU and the server by process
# group.
#
# Environment:
#   BOXFS_INTEROP_SERVER   auto (default) | export | ram | diod | a command
#                          template with {PORT}, {DIR}, {BOXFS}. auto is
#                          export when `boxfs serve --help` lists --export,
#                          else ram.
#   BOXFS_INTEROP_ANAME    aname for a template server ({DIR} allowed); "".
#   BOXFS_INTEROP_CONFIGS  space-separated VERSION:CACHE list; default
#                          "9p2000.L:none 9p2000.L:mmap 9p2000.u:mmap 9p2000:none"
#                          (diod: the two 9p2000.L ones).
#   BOXFS_INTEROP_CACHE    downloads and the extracted kernel
#                          (default /var/tmp/boxfs-interop).
#   BOXFS_INTEROP_WORK     per-run files: initramfs, logs, the export
#                          directory (default BUILD_DIR/interop).
#   BOXFS_INTEROP_TIMEOUT  seconds the guest may run (default 480).
#   BOXFS_INTEROP_TEST_TIMEOUT  seconds per check inside the guest (150).
#   BOXFS_INTEROP_BIGMB    size of the big file in MiB (default 8).
#   BOXFS_INTEROP_KERNEL_PKG  Debian kernel package to use instead of the one
#                          linux-image-amd64 depends on.
#   BOXFS_INTEROP_MOUNT_OPTS  extra 9p mount options (e.g. msize=65536).
#   BOXFS_INTEROP_KEEP=1   keep the export directory after the run.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-build}" && pwd) || { echo "interop: no build directory ${1:-build}" >&2; exit 2; }
BOXFS=$BUILD/tools/boxfs
CACHE=${BOXFS_INTEROP_CACHE:-/var/tmp/boxfs-interop}
WORK=${BOXFS_INTEROP_WORK:-$BUILD/interop}
TIMEOUT=${BOXFS_INTEROP_TIMEOUT:-480}
TEST_TIMEOUT=${BOXFS_INTEROP_TEST_TIMEOUT:-150}
BIGMB=${BOXFS_INTEROP_BIGMB:-8}
SERVER=${BOXFS_INTEROP_SERVER:-auto}
ALL_CONFIGS="9p2000.L:none 9p2000.L:mmap 9p2000.u:mmap 9p2000:none"
T0=$(date +%s)

say() { echo "# interop: $*"; }
die() { echo "interop: $*" >&2; exit 2; }

SRV_PID=""
QEMU_PID=""
EXPORT_DIR=""
# kill_group PID: TERM the process group PID leads, KILL it if it lingers
kill_group() {
	local pid=$1
	kill -TERM -- "-$pid" 2>/dev/null || return 0
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
cleanup() {
	[ -n "$QEMU_PID" ] && kill_group "$QEMU_PID"
	[ -n "$SRV_PID" ] && kill_group "$SRV_PID"
	QEMU_PID=""
	SRV_PID=""
	if [ -n "$EXPORT_DIR" ] && [ "${BOXFS_INTEROP_KEEP:-0}" != 1 ]; then
		rm -rf "$EXPORT_DIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ the server
[ -x "$BOXFS" ] || die "no $BOXFS: build first (make build)"
if [ "$SERVER" = auto ]; then
	if "$BOXFS" serve --help 2>&1 | grep -q -- '--export'; then
		SERVER="export"
	else
		SERVER=ram
		say "boxfs serve has no --export yet: testing the RAM tree"
	fi
fi
HOSTCHECK=1
CONFIGS=$ALL_CONFIGS
case $SERVER in
export)
	TEMPLATE='{BOXFS} serve --debug --export {DIR} -l tcp!127.0.0.1!{PORT}'
	ANAME_T=""
	;;
ram)
	TEMPLATE='{BOXFS} serve --debug -l tcp!127.0.0.1!{PORT}'
	ANAME_T=""
	HOSTCHECK=0
	;;
diod)
	TEMPLATE='diod -f -n -l 127.0.0.1:{PORT} -e {DIR} -L stderr -c /dev/null'
	ANAME_T='{DIR}'
	CONFIGS="9p2000.L:none 9p2000.L:mmap" # diod refuses 9P2000 and 9P2000.u
	;;
*)
	TEMPLATE=$SERVER
	ANAME_T=${BOXFS_INTEROP_ANAME:-}
	case $TEMPLATE in *'{DIR}'*) ;; *) HOSTCHECK=0 ;; esac
	SERVER=custom
	;;
esac
CONFIGS=${BOXFS_INTEROP_CONFIGS:-$CONFIGS}

# ------------------------------------------------------------ 1. packages
APT_UPDATED=0
apt_install() {
	local missing="" p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "need root to install:$missing"
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	if [ $APT_UPDATED = 0 ]; then
		apt-get update -qq >/dev/null 2>&1
		APT_UPDATED=1
	fi
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		die "apt-get install$missing failed"
}
pkgs="qemu-system-x86 busybox-static cpio kmod gcc libc6-dev python3"
[ "$SERVER" = diod ] && pkgs="$pkgs diod"
# shellcheck disable=SC2086
apt_install $pkgs
BUSYBOX=/bin/busybox
[ -x $BUSYBOX ] || die "no $BUSYBOX (busybox-static)"

# The kernel: the package linux-image-amd64 depends on, downloaded and
# extracted once into $CACHE, reused afterwards (also when apt is offline).
mkdir -p "$CACHE" || die "cannot create $CACHE"
KPKG=${BOXFS_INTEROP_KERNEL_PKG:-}
if [ -z "$KPKG" ]; then
	KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
	if [ -z "$KPKG" ] && [ $APT_UPDATED = 0 ]; then
		apt-get update -qq >/dev/null 2>&1
		APT_UPDATED=1
		KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
	fi
	if [ -z "$KPKG" ]; then # offline: the newest kernel already extracted
		KPKG=$(ls -d "$CACHE"/linux-image-*/.ready 2>/dev/null | sort -V | tail -n 1)
		KPKG=$(basename "$(dirname "$KPKG")")
		[ -n "$KPKG" ] && [ "$KPKG" != . ] || die "cannot find a linux-image-*-amd64 package"
	fi
fi
KDIR=$CACHE/$KPKG
if [ ! -e "$KDIR/.ready" ]; then
	say "fetching $KPKG into $CACHE"
	rm -rf "$KDIR" "$KDIR.tmp" "$CACHE/deb"
	mkdir -p "$CACHE/deb"
	(cd "$CACHE/deb" && apt-get download "$KPKG" 2>&1 | grep -v 'unsandboxed') >/dev/null
	deb=$(ls "$CACHE"/deb/"$KPKG"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || die "apt-get download $KPKG failed"
	dpkg -x "$deb" "$KDIR.tmp" || die "dpkg -x $deb failed"
	kv=$(ls "$KDIR.tmp/lib/modules" | head -n 1)
	depmod -b "$KDIR.tmp" "$kv" || die "depmod failed"
	touch "$KDIR.tmp/.ready"
	mv "$KDIR.tmp" "$KDIR"
	rm -rf "$CACHE/deb"
fi
KVER=$(ls "$KDIR/lib/modules" | head -n 1)
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
[ -f "$VMLINUZ" ] || die "no $VMLINUZ"

# ------------------------------------------------------------ 2. helper
mkdir -p "$WORK" || die "cannot create $WORK"
gcc -static -O2 -Wall -o "$WORK/guest-helper" "$HERE/guest-helper.c" ||
	die "cannot compile guest-helper.c (gcc -static)"

# ------------------------------------------------------------ 3. initramfs
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ $HOSTCHECK = 1 ] || [ "$SERVER" = diod ] || [ "$SERVER" = custom ]; then
	EXPORT_DIR=$(mktemp -d "$WORK/export.XXXXXX")
	chmod 755 "$EXPORT_DIR" # mktemp makes 0700; 9P2000/.u creates inherit it
fi
subst() { # subst TEMPLATE: fill {PORT}, {DIR}, {BOXFS}
	local s=$1
	s=${s//\{PORT\}/$PORT}
	s=${s//\{DIR\}/$EXPORT_DIR}
	s=${s//\{BOXFS\}/$BOXFS}
	printf '%s' "$s"
}
ANAME=$(subst "$ANAME_T")
SERVER_CMD=$(subst "$TEMPLATE")

ROOT=$WORK/initramfs.d
rm -rf "$ROOT"
mkdir -p "$ROOT/bin" "$ROOT/lib/modules" "$ROOT/etc" || die "mkdir $ROOT"
cp "$BUSYBOX" "$ROOT/bin/busybox"
cp "$WORK/guest-helper" "$ROOT/bin/guest-helper"
install -m 755 "$HERE/guest-init.sh" "$ROOT/init"
install -m 755 "$HERE/guest-test.sh" "$ROOT/guest-test.sh"
# The modules, in load order: each wanted module after its dependencies.
# virtio_pci is the bus virtio_net sits on; it is no dependency of it.
for m in 9p 9pnet_fd virtio_pci virtio_net; do
	modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" || die "modprobe --show-depends $m failed"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$WORK/modules.list"
: >"$ROOT/lib/modules/load-order"
while read -r ko; do
	name=$(basename "$ko")
	case $name in
	*.ko.xz) xz -dc "$ko" >"$ROOT/lib/modules/${name%.xz}"; name=${name%.xz} ;;
	*.ko.zst) zstd -qdc "$ko" >"$ROOT/lib/modules/${name%.zst}"; name=${name%.zst} ;;
	*.ko.gz) gzip -dc "$ko" >"$ROOT/lib/modules/${name%.gz}"; name=${name%.gz} ;;
	*) cp "$ko" "$ROOT/lib/modules/$name" ;;
	esac
	echo "$name" >>"$ROOT/lib/modules/load-order"
done <"$WORK/modules.list"
grep -q '^9pnet_fd.ko$' "$ROOT/lib/modules/load-order" || die "9pnet_fd.ko not found in $KPKG"
cat >"$ROOT/etc/interop.conf" <<EOF
PORT='$PORT'
ANAME='$ANAME'
CONFIGS='$CONFIGS'
BIGMB='$BIGMB'
TEST_TIMEOUT='$TEST_TIMEOUT'
EXTRA_OPTS='${BOXFS_INTEROP_MOUNT_OPTS:-}'
EOF
# One newc archive (no appended second archive, so no alignment concerns).
(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$WORK/initramfs.gz" ||
	die "cannot build the initramfs"

# ------------------------------------------------------------ 4. server
SRV_LOG=$WORK/server.log
say "server ($SERVER): $SERVER_CMD"
say "kernel $KPKG ($KVER); configurations: $CONFIGS; aname '${ANAME}'"
setsid bash -c "exec $SERVER_CMD" </dev/null >"$SRV_LOG" 2>&1 &
SRV_PID=$!
up=0
for _ in $(seq 1 100); do
	if ss -ltnH "sport = :$PORT" 2>/dev/null | grep -q .; then up=1; break; fi
	kill -0 "$SRV_PID" 2>/dev/null || break
	sleep 0.1
done
if [ $up = 0 ]; then
	echo "not ok 1 - the server did not start listening on 127.0.0.1:$PORT"
	sed 's/^/#   server: /' "$SRV_LOG" | tail -n 20
	echo "1..1"
	echo "0 passed, 1 failed"
	exit 1
fi

# ------------------------------------------------------------ 5. the guest
RAW=$WORK/results.raw
CONSOLE=$WORK/console.log
: >"$RAW"
: >"$CONSOLE"
setsid qemu-system-x86_64 -accel tcg -cpu max -m 768 -smp 1 \
	-nodefaults -display none -no-reboot \
	-kernel "$VMLINUZ" -initrd "$WORK/initramfs.gz" \
	-append "console=ttyS0 loglevel=4 panic=-1" \
	-nic user,model=virtio-net-pci \
	-serial "file:$CONSOLE" -serial "file:$RAW" \
	</dev/null >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!
# Stream the results while the guest runs.
shown=0
done_at=""
finished=0
while :; do
	lines=$(tr -d '\r' <"$RAW" | wc -l)
	if [ "$lines" -gt "$shown" ]; then
		tr -d '\r' <"$RAW" | sed -n "$((shown + 1)),${lines}p" | grep -v '^# host\(check\|count\|link\) '
		shown=$lines
	fi
	if grep -q '^# interop-done' "$RAW"; then
		finished=1
		[ -z "$done_at" ] && done_at=$(date +%s)
	fi
	kill -0 "$QEMU_PID" 2>/dev/null || break
	now=$(date +%s)
	[ -n "$done_at" ] && [ $((now - done_at)) -gt 20 ] && break # no power-off: stop it
	[ $((now - T0)) -gt "$TIMEOUT" ] && break
	sleep 1
done
tr -d '\r' <"$RAW" | sed -n "$((shown + 1)),\$p" | grep -v '^# host\(check\|count\|link\) '
kill_group "$QEMU_PID"
QEMU_PID=""
GUEST_SECS=$(($(date +%s) - T0))

# ------------------------------------------------------------ 6. host side
RESULTS=$(tr -d '\r' <"$RAW")
N=$(printf '%s\n' "$RESULTS" | sed -n 's/^\(not \)\{0,1\}ok \([0-9]*\).*/\2/p' | sort -n | tail -n 1)
N=${N:-0}
HOSTTAP=""
hosttap() { # hosttap ok|not DESCRIPTION [DETAIL...]
	N=$((N + 1))
	local s=$1 d=$2
	shift 2
	if [ "$s" = ok ]; then
		HOSTTAP+="ok $N - [host] $d"$'\n'
	else
		HOSTTAP+="not ok $N - [host] $d"$'\n'
		local x
		for x in "$@"; do HOSTTAP+=$(printf '%s\n' "$x" | sed 's/^/#   /')$'\n'; done
	fi
}
if [ $finished = 0 ]; then
	hosttap not "the guest ran every check (no '# interop-done' after $(($(date +%s) - T0))s; limit ${TIMEOUT}s)" "last console lines:" \
		"$(tail -n 25 "$CONSOLE" | tr -d '\r' | sed 's/^/  console: /')"
fi
if kill -0 "$SRV_PID" 2>/dev/null; then
	hosttap ok "the server is still running after the guest run"
else
	hosttap not "the server is still running after the guest run" "server log tail:" \
		"$(tail -n 20 "$SRV_LOG" | sed 's/^/  server: /')"
fi
if [ $HOSTCHECK = 1 ]; then
	while read -r _ kind rel want; do
		f=$EXPORT_DIR/$rel
		case $kind in
		hostcheck)
			got=$(sha256sum "$f" 2>&1 | cut -d' ' -f1)
			if [ "$got" = "$want" ]; then
				hosttap ok "$rel in the export has the guest's sha256"
			else
				hosttap not "$rel in the export has the guest's sha256" "got $got ($(ls -l "$f" 2>&1))" "want $want"
			fi
			;;
		hostcount)
			got=$(ls -A "$f" 2>&1 | wc -l)
			if [ "$got" = "$want" ]; then
				hosttap ok "$rel in the export has $want entries"
			else
				hosttap not "$rel in the export has $want entries" "got $got"
			fi
			;;
		hostlink)
			got=$(readlink "$f" 2>&1)
			if [ "$got" = "$want" ]; then
				hosttap ok "$rel in the export is a symlink to $want"
			else
				hosttap not "$rel in the export is a symlink to $want" "got '$got'"
			fi
			;;
		esac
	done < <(printf '%s\n' "$RESULTS" | grep '^# host\(check\|count\|link\) ')
fi
printf '%s' "$HOSTTAP"
cleanup

# The server's debug log around each failed guest check: the guest stats
# /mnt/.interop-mark-N before check N, so check N is what lies between the
# walks to .interop-mark-N and .interop-mark-N+1.
FAILED=$(printf '%s\n' "$RESULTS" | sed -n 's/^not ok \([0-9]*\).*/\1/p')
if [ -n "$FAILED" ] && grep -q "interop-mark-" "$SRV_LOG" 2>/dev/null; then
	for n in $FAILED; do
		echo "# server log for check $n ($SRV_LOG):"
		awk -v n="$n" '
			/\.interop-mark-[0-9]+'\''/ {
				match($0, /\.interop-mark-[0-9]+/)
				k = substr($0, RSTART + 14, RLENGTH - 14) + 0
				if (k >= n + 1) exit
				if (k <= n) { cnt = 0; delete buf; errs = 0; delete err }
				next
			}
			{
				buf[++cnt] = $0
				# error replies, but not the ENOENT of lookups before a create
				if ($0 ~ / <- R(l)?error / && $0 !~ /(ecode|errno) 2$/)
					err[++errs] = (cnt > 1 ? buf[cnt - 1] "\n" : "") $0
			}
			END {
				printf "#   %d lines; error replies other than ENOENT: %d\n", cnt, errs
				for (i = 1; i <= errs && i <= 12; i++) { gsub(/\n/, "\n#     ", err[i]); print "#     " err[i] }
				print "#   last lines:"
				for (i = (cnt > 12 ? cnt - 11 : 1); i <= cnt; i++) print "#     " substr(buf[i], 1, 300)
			}' "$SRV_LOG"
	done
fi

ALL=$(printf '%s\n%s' "$RESULTS" "$HOSTTAP")
PASS=$(printf '%s\n' "$ALL" | grep -E '^ok [0-9]+' | grep -vc '# SKIP')
SKIP=$(printf '%s\n' "$ALL" | grep -E '^ok [0-9]+' | grep -c '# SKIP')
FAIL=$(printf '%s\n' "$ALL" | grep -cE '^not ok [0-9]+')
echo "1..$N"
say "server $SERVER, $((GUEST_SECS))s in all; logs in $WORK (server.log, console.log, results.raw)"
echo "# $SKIP skipped"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ] && [ $((PASS + SKIP + FAIL)) = "$N" ] && [ "$N" -gt 0 ]

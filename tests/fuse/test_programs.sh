#!/bin/bash
# test_programs.sh — ordinary programs on `boxfs mount`: the fsx-style
# checker (fsx.c: $FSX_OPS operations, default 100000, on the default mount;
# a quarter of that on the others) in several cache modes, cp -a of the source tree
# in and out with equal checksums and metadata, a tar round trip, git
# init/add/commit/gc/fsck, and sqlite3 databases with 3000 transactions, on
# the RAM tree and on a host export; and the daemon mode (`boxfs mount`
# without -f returns with the directory usable). Skips when /dev/fuse or
# fusermount3 is missing. Whatever it mounts is unmounted when it ends, also
# when it fails or is killed (the foreground bridges share its process
# group, and unmount on SIGTERM).
#
# Usage: test_programs.sh PATH-TO-boxfs PATH-TO-fsx SOURCE-ROOT. Speaks TAP.
set -u

B=${1:?usage: test_programs.sh PATH-TO-boxfs PATH-TO-fsx SOURCE-ROOT}
FSX=${2:?}
SRC=${3:?}
OPS=${FSX_OPS:-100000}

if ! { exec 9<>/dev/fuse; } 2>/dev/null || ! command -v fusermount3 >/dev/null; then
	echo "1..0 # SKIP /dev/fuse or fusermount3 is not available"
	exit 0
fi
exec 9>&-

SCRATCH=boxfs-progs
# shellcheck source=../lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

mounts=()
mounted() { grep -q " $1 fuse" /proc/mounts; }
cleanup_more() {
	local m
	for m in "${mounts[@]+"${mounts[@]}"}"; do
		mounted "$m" && { "$B" umount "$m" 2>/dev/null || umount -l "$m"; }
	done
}

# mount_fg NAME ADDR [OPTIONS...]: a foreground bridge on $T/NAME
mount_fg() {
	local dir=$T/$1 addr=$2
	shift 2
	mkdir -p "$dir"
	"$B" mount -f "$@" "$addr" "$dir" 2>"$T/mount-$(basename "$dir").err" &
	pids+=($!)
	mounts+=("$dir")
	for _ in $(seq 200); do
		mounted "$dir" && return 0
		sleep 0.05
	done
	echo "Bail out! $dir did not mount: $(cat "$T/mount-$(basename "$dir").err")"
	exit 1
}

echo "1..14"
mkdir -p "$T/export" "$T/s1" "$T/s2"
start_server -l "unix!$T/s1/sock" || exit 1
start_server -l "unix!$T/s2/sock" --export "$T/export" || exit 1
RAM="unix!$T/s1/sock"
EXP="unix!$T/s2/sock"

mkdir -p "$T/daemon"
mounts+=("$T/daemon")
daemon() {
	"$B" mount "$RAM" "$T/daemon" >"$T/out" 2>"$T/err" && mounted "$T/daemon" &&
		echo hi >"$T/daemon/hi" && [ "$(cat "$T/daemon/hi")" = hi ] &&
		"$B" umount "$T/daemon" && ! mounted "$T/daemon"
}
t "daemon mode: mount returns with the directory usable, umount ends it" daemon

mount_fg ram "$RAM"
mount_fg full "$RAM" --cache full
mount_fg none "$RAM" --cache none
mount_fg exp "$EXP"

fsx_run() { # fsx_run DIR OPS SEED
	mkdir -p "$1/fsx" && "$FSX" -N "$2" -S "$3" "$1/fsx/file-$3" >"$T/out" 2>"$T/err" &&
		sed 's/^/# /' "$T/out"
}
t "fsx: $OPS operations, --cache attr (RAM tree)" "fsx_run $T/ram $OPS 1"
t "fsx: $((OPS / 4)) operations, --cache full" "fsx_run $T/full $((OPS / 4)) 2"
t "fsx: $((OPS / 4)) operations, host export" "fsx_run $T/exp $((OPS / 4)) 3"

sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }
meta() { # names, types, modes, mtimes; sizes and link targets but of directories
	(cd "$1" && find . \( -type d -printf '%P d %m %T@\n' \) -o -printf '%P %y %m %s %T@ %l\n' |
		LC_ALL=C sort)
}
mkdir -p "$T/tree"
for d in include src tools tests docs man scripts; do cp -a "$SRC/$d" "$T/tree/"; done
cp -a "$SRC/README.md" "$SRC/meson.build" "$SRC/Makefile" "$T/tree/"
ln -s README.md "$T/tree/link-to-readme"
sums "$T/tree" >"$T/tree.sums"
meta "$T/tree" >"$T/tree.meta"

cp_in() {
	cp -a "$T/tree" "$T/$1/tree" >"$T/out" 2>"$T/err" && sums "$T/$1/tree" >"$T/sums.$1" &&
		cmp "$T/tree.sums" "$T/sums.$1" && meta "$T/$1/tree" >"$T/meta.$1" &&
		diff "$T/tree.meta" "$T/meta.$1" >"$T/out"
}
cp_out() {
	cp -a "$T/$1/tree" "$T/out-$1" >"$T/out" 2>"$T/err" && sums "$T/out-$1" >"$T/sums.out-$1" &&
		cmp "$T/tree.sums" "$T/sums.out-$1" && diff -r "$T/tree" "$T/out-$1" >"$T/out"
}
for m in ram exp; do
	t "cp -a in ($m): equal checksums, types, modes, sizes, mtimes, links" "cp_in $m"
	t "cp -a out ($m): equal checksums" "cp_out $m"
done

tar_trip() {
	tar -C "$T/tree" -cf "$T/ram/t.tar" . 2>"$T/err" && mkdir "$T/ram/untar" &&
		tar -C "$T/ram/untar" -xf "$T/ram/t.tar" 2>"$T/err" &&
		diff -r "$T/tree" "$T/ram/untar" >"$T/out" &&
		[ "$(tar -tf "$T/ram/t.tar" | wc -l)" -gt 100 ]
}
t "tar round trip on the mount" tar_trip

git_use() {
	(
		cd "$T/ram/tree" && git init -q && git add -A &&
			git -c user.name=t -c user.email=t@example.org commit -qm tree &&
			echo change >>README.md &&
			git -c user.name=t -c user.email=t@example.org commit -qam change &&
			git fsck --strict && [ "$(git rev-list --count HEAD)" = 2 ] &&
			[ -z "$(git status --porcelain)" ] && git gc -q && git fsck --strict
	) >"$T/out" 2>"$T/err"
}
t "git init, add, commit, gc, fsck on the mount" git_use

sqlite_run() { # sqlite_run DIR JOURNAL_MODE: 3000 transactions, then checks
	local i
	{
		echo "PRAGMA journal_mode=$2; CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);"
		for i in $(seq 3000); do
			echo "BEGIN; INSERT INTO t(v) VALUES ('row $i'); UPDATE t SET v = v || '.' WHERE k = $((i / 2 + 1)); COMMIT;"
		done
	} >"$T/sql"
	sqlite3 "$1/db.sqlite" <"$T/sql" >"$T/out" 2>"$T/err" &&
		[ "$(sqlite3 "$1/db.sqlite" 'SELECT count(*) FROM t;')" = 3000 ] &&
		[ "$(sqlite3 "$1/db.sqlite" 'SELECT length(v) FROM t WHERE k = 2;')" = 7 ] &&
		[ "$(sqlite3 "$1/db.sqlite" 'PRAGMA integrity_check;')" = ok ]
}
if command -v sqlite3 >/dev/null; then
	t "sqlite3: 3000 transactions (rollback journal, RAM tree)" "sqlite_run $T/ram DELETE"
	mkdir -p "$T/exp/wal"
	t "sqlite3: 3000 transactions (WAL, host export)" "sqlite_run $T/exp/wal WAL"
else
	echo "ok $((n + 1)) # SKIP sqlite3 is not installed"
	echo "ok $((n + 2)) # SKIP sqlite3 is not installed"
	n=$((n + 2))
fi

t "another mount of the server (--cache none) sees a write at once" \
	'echo fresh >"$T/ram/shared" && [ "$(cat "$T/none/shared")" = fresh ]'

unmount_all() {
	local m
	for m in ram full none exp; do
		"$B" umount "$T/$m" 2>>"$T/err" || return 1
	done
	for m in ram full none exp; do
		! mounted "$T/$m" || return 1
	done
}
t "boxfs umount unmounts every mount" unmount_all

#!/bin/bash
# `make bench`, last part: fio on `boxfs mount` of `boxfs serve --export DIR`
# and on DIR itself, in the same run, each job reported as a ratio to the
# native figure: sequential read and write in 1 MiB blocks, 4 KiB random
# reads, and small files (create, stat, delete) through fio's filecreate,
# filestat and filedelete engines. Uses the default cache mode (attr); the
# page cache is dropped before each read job on both sides. Skips, saying
# so, without fio, /dev/fuse or fusermount3. Reported, never enforced.
#
# Usage: scripts/bench-mount.sh [BUILD_DIR]   (FIO_SIZE=256M FIO_RUNTIME=10)
set -eu
build=${1:-build}
B=$build/tools/boxfs
size=${FIO_SIZE:-256M}
runtime=${FIO_RUNTIME:-10}

echo
echo "== boxfs mount (FUSE) against the exported directory itself (fio) =="
if ! command -v fio >/dev/null; then
	echo "skipped: fio is not installed (scripts/install-deps.sh installs it)"
	exit 0
fi
if ! { exec 9<>/dev/fuse; } 2>/dev/null || ! command -v fusermount3 >/dev/null; then
	echo "skipped: /dev/fuse or fusermount3 is not available"
	exit 0
fi
exec 9>&-

T=$(mktemp -d /tmp/boxfs-benchmnt-XXXXXX)
spid='' mpid=''
cleanup() {
	grep -q " $T/mnt fuse" /proc/mounts && { "$B" umount "$T/mnt" || umount -l "$T/mnt"; }
	[ -n "$mpid" ] && wait "$mpid" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -p "$T/export" "$T/mnt"
"$B" serve -l "unix!$T/sock" --export "$T/export" >/dev/null &
spid=$!
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
"$B" mount -f "unix!$T/sock" "$T/mnt" &
mpid=$!
for _ in $(seq 200); do grep -q " $T/mnt fuse" /proc/mounts && break; sleep 0.05; done
grep -q " $T/mnt fuse" /proc/mounts || { echo "boxfs mount did not mount"; exit 1; }

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

# job NAME DIR FIO-ARGS...: fio's JSON in $T/NAME.json
job() {
	local name=$1 dir=$2
	shift 2
	case $name in *read*) drop ;; esac
	fio --output-format=json --output="$T/$name.json" --directory="$dir" --name="$name" \
		--group_reporting "$@" >/dev/null
}
io="--ioengine=psync --size=$size --runtime=$runtime --time_based=0"
for side in native mount; do
	dir=$T/export/$side
	[ $side = mount ] && dir=$T/mnt/$side
	mkdir -p "$dir"
	# shellcheck disable=SC2086
	job "$side-seqwrite" "$dir" $io --rw=write --bs=1M --filename=seq --end_fsync=1
	# shellcheck disable=SC2086
	job "$side-seqread" "$dir" $io --rw=read --bs=1M --filename=seq
	# shellcheck disable=SC2086
	job "$side-randread" "$dir" $io --rw=randread --bs=4k --filename=seq --runtime=$runtime \
		--time_based=1
	# shellcheck disable=SC2016 # fio expands $filenum
	job "$side-create" "$dir" --ioengine=filecreate --nrfiles=2000 --filesize=4k \
		--openfiles=1 --filename_format='f.$filenum' --create_on_open=1
	# shellcheck disable=SC2016
	job "$side-stat" "$dir" --ioengine=filestat --nrfiles=2000 --filesize=4k \
		--openfiles=1 --filename_format='f.$filenum'
	# shellcheck disable=SC2016
	job "$side-delete" "$dir" --ioengine=filedelete --nrfiles=2000 --filesize=4k \
		--openfiles=1 --filename_format='f.$filenum'
done

python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
def get(side, name):
    j = json.load(open(f"{t}/{side}-{name}.json"))["jobs"][0]
    rw = "write" if name == "seqwrite" else "read"
    if name in ("create", "stat", "delete"):
        # the file engines count one "read" I/O per file operation
        ios = j["read"]["total_ios"] or j["write"]["total_ios"]
        secs = (j["read"]["runtime"] or j["write"]["runtime"] or j["job_runtime"]) / 1000.0
        return ios / secs if secs else 0.0, "files/s"
    if name == "randread":
        return j[rw]["iops"], "IOPS"
    return j[rw]["bw_bytes"] / 2**20, "MiB/s"
rows = [("seqwrite", "sequential write, 1 MiB"), ("seqread", "sequential read, 1 MiB"),
        ("randread", "random read, 4 KiB"), ("create", "create small files"),
        ("stat", "stat small files"), ("delete", "delete small files")]
print(f"{'job':26} {'native':>12} {'mount':>12} {'unit':>8} {'ratio':>7}")
ratios = []
for key, label in rows:
    n, unit = get("native", key)
    m, _ = get("mount", key)
    r = m / n if n else 0.0
    ratios.append(r)
    print(f"{label:26} {n:12.1f} {m:12.1f} {unit:>8} {r:7.3f}")
print("summary: mount/native ratios " + ", ".join(f"{k} {r:.2f}" for (k, _), r in zip(rows, ratios)))
PY

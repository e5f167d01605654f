#!/bin/sh
# `make bench`: builds boxfs-bench in a build directory and runs it directly
# (not through `meson test --benchmark`, which would filter its output).
#
# boxfs-bench (bench/main.c) measures the core 9P server's Tgetattr round
# trip and its 1 MiB Tread throughput, each next to a raw Unix-socket floor
# measured in the same run, and prints them as a table of ratios ending with
# a one-line summary. Then `boxfs-bench -o memfile` (bench/memfile.c) times
# memfile critical sections (lock, change a byte, unlock: a pure lock, and
# 1 KiB to 1 MiB segments in ship and shared mode) through the client library
# against `boxfs serve` speaking smdish, beside two-round-trip socket floors
# and a process-shared mutex, with the one-round-trip figures published for
# Phoenix's memory server and contention between processes (under a minute).
# Then `boxfs-bench -o rio` (bench/rio.c) reads a 1 GiB host file through a
# rio door, by VMOFILE and by READ messages, against a native read of the
# same file, interleaved run by run (target: VMOFILE at least 0.9x native).
# Then `boxfs-bench -o op` (bench/op.c) moves a 64 MiB box whole with
# GETMEM and PUTMEM series against the same bytes streamed over a Unix
# socket.
# Then `boxfs-bench -o synth` (bench/synth.c) times a 4 KiB read of a
# synthetic file and a 64-byte event's round trip through an event file
# against a 4 KiB read of a RAM file, through the client library.
# Then `boxfs-bench -o export` (bench/export.c) compares `boxfs serve -e DIR`
# with diod serving the same directory over TCP (about two minutes; skipped,
# saying so, when diod is not installed). Each group ends with a one-line
# summary. Targets are reported, never enforced: the exit status is non-zero
# only when a measurement could not run.
#
# Usage: scripts/run-bench.sh [BUILD_DIR [BENCH_OPTIONS...]]
#        make bench BENCH_ARGS='-v -r 5'     (boxfs-bench -h lists the options)
# Options with -o run only what -o names (-o memfile, -o export: only that
# group).
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build" bench/boxfs-bench tools/boxfs >/dev/null
# shellcheck disable=SC2086
"$build/bench/boxfs-bench" ${BENCH_ARGS:-} "$@"
case " ${BENCH_ARGS:-} $* " in
*" -o"*) ;;
*)
	case " ${BENCH_ARGS:-} $* " in
	*" -x"*)
		echo "memfile group skipped: -x names a 9P server" \
			"(-o memfile -x ADDR: an smdish one)"
		;;
	*)
		# shellcheck disable=SC2086
		"$build/bench/boxfs-bench" ${BENCH_ARGS:-} "$@" -o memfile
		# shellcheck disable=SC2086
		"$build/bench/boxfs-bench" ${BENCH_ARGS:-} "$@" -o rio
		# shellcheck disable=SC2086
		"$build/bench/boxfs-bench" ${BENCH_ARGS:-} "$@" -o idl
		# shellcheck disable=SC2086
		"$build/bench/boxfs-bench" ${BENCH_ARGS:-} "$@" -o op
		# shellcheck disable=SC2086
		"$build/bench/boxfs-bench" ${BENCH_ARGS:-} "$@" -o synth
		;;
	esac
	# shellcheck disable=SC2086
	"$build/bench/boxfs-bench" ${BENCH_ARGS:-} "$@" -o export
	;;
esac
# Last, `boxfs mount` (FUSE) against the exported directory itself, with fio
# (scripts/bench-mount.sh); not with -o, which runs only what it names.
case " ${BENCH_ARGS:-} $* " in
*" -o"*) ;;
*) "$(dirname "$0")/bench-mount.sh" "$build" ;;
esac

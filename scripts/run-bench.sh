#!/bin/sh
# `make bench`: builds boxfs-bench in a build directory and runs it directly
# (not through `meson test --benchmark`, which would filter its output).
#
# boxfs-bench (bench/main.c) measures the core 9P server's Tgetattr round
# trip and its 1 MiB Tread throughput, each next to a raw Unix-socket floor
# measured in the same run, and prints them as a table of ratios ending with
# a one-line summary. Then `boxfs-bench -o export` (bench/export.c) compares
# `boxfs serve -e DIR` with diod serving the same directory over TCP (about
# two minutes; skipped, saying so, when diod is not installed). Targets are
# reported, never enforced: the exit status is non-zero only when a
# measurement could not run.
#
# Usage: scripts/run-bench.sh [BUILD_DIR [BENCH_OPTIONS...]]
#        make bench BENCH_ARGS='-v -r 5'     (boxfs-bench -h lists the options)
# Options with -o run only what -o names (-o export: only the comparison).
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
	# shellcheck disable=SC2086
	exec "$build/bench/boxfs-bench" ${BENCH_ARGS:-} "$@" -o export
	;;
esac

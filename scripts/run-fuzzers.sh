#!/bin/bash
# Runs every libFuzzer harness of a fuzz build for N seconds each, starting
# from the seed corpus (generated from the golden vectors) plus whatever
# earlier runs found. Fails when a fuzzer finds a crash, leak or mismatch.
set -u
build=${1:-build-fuzz}
secs=${2:-60}
corpus_root=${FUZZ_CORPUS:-$build/corpus}
seeds=$build/seeds
mkdir -p "$corpus_root" "$seeds"
# The golden-vector tests write every vector as a seed when asked.
if [ -x "$build/tests/unit/test_9p_golden" ]; then
	BOXFS_CORPUS_DIR=$seeds "$build/tests/unit/test_9p_golden" >/dev/null 2>&1 || true
fi
# The smdish door test writes request streams for the door fuzzer.
if [ -x "$build/tests/door/test_smdish" ]; then
	BOXFS_CORPUS_DIR=$seeds "$build/tests/door/test_smdish" >/dev/null 2>&1 || true
fi
# The op door test writes every request it sends, for both op fuzzers.
if [ -x "$build/tests/door/test_op" ]; then
	BOXFS_CORPUS_DIR=$seeds "$build/tests/door/test_op" >/dev/null 2>&1 || true
fi
status=0
for f in "$build"/tests/fuzz/fuzz_*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	name=$(basename "$f")
	mkdir -p "$corpus_root/$name"
	seed_dir=$seeds/$name
	mkdir -p "$seed_dir"
	echo "== $name: ${secs}s"
	if ! "$f" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$build/$name-" \
		"$corpus_root/$name" "$seed_dir" >"$build/$name.log" 2>&1; then
		echo "!! $name failed; see $build/$name.log"
		tail -n 30 "$build/$name.log"
		status=1
	else
		grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$build/$name.log" |
			tr '\n' ' '
		echo
	fi
done
exit $status

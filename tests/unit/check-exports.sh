#!/bin/sh
# Every symbol libboxfs exports must belong to a public header's namespace.
# Speaks TAP: one line for the check.
lib=$1
echo "1..1"
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ { print $3 }' |
	grep -v -E '^(p9_|smd_|rio_|op_|boxfs_)' || true)
if [ -n "$bad" ]; then
	echo "not ok 1 - exported symbols outside the public API: $bad" | tr '\n' ' '
	echo
	exit 1
fi
count=$(nm -D --defined-only "$lib" | awk '$2 == "T"' | wc -l)
echo "ok 1 - $count exported functions, all in the public namespaces"

#!/bin/sh
# `make run`: starts the default boxfs server from a build directory.
build=${1:-build}
if [ ! -x "$build/tools/boxfs" ]; then
	echo "boxfs: this build has no server yet; the 9P codec library is in $build/." >&2
	exit 1
fi
exec "$build/tools/boxfs" serve

#!/bin/sh
# `make run`: starts the default boxfs server from a build directory: a RAM
# tree served over 9P on the default Unix socket, until Ctrl-C.
build=${1:-build}
echo "boxfs: starting the default server; in another terminal try:"
echo "  echo hello | $build/tools/boxfs write /greeting && $build/tools/boxfs ls -l"
echo "(Ctrl-C stops it)"
exec "$build/tools/boxfs" serve

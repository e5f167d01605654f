#!/bin/sh
# `make run`: starts the default boxfs server from a build directory: a RAM
# tree served over 9P, with memfiles at /mem also served over smdish and
# Resea's services (/srv, /task, /dev) over idl, on the default Unix
# sockets, until Ctrl-C.
build=${1:-build}
echo "boxfs: starting the default server; in another terminal try:"
echo "  echo hello | $build/tools/boxfs write /greeting && $build/tools/boxfs ls -l"
echo "  $build/tools/boxfs mem hold counter 8 &  $build/tools/boxfs mem list"
echo "  $build/tools/boxfs cat /dev/time;  $build/tools/boxfs idl call benchmark.nop value=7"
echo "(Ctrl-C stops it)"
exec "$build/tools/boxfs" serve

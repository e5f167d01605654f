#!/bin/sh
# `make bench`: runs every benchmark of a build directory.
build=${1:-build}
exec meson test -C "$build" --benchmark --verbose

#!/bin/bash
# test_examples.sh — the examples of docs/synth.md, each built exactly as a
# user would, `cc x.c $(pkg-config --cflags --libs boxfs)` against the build
# tree (its uninstalled pkg-config file), then run on a Unix socket and read
# and written with the boxfs command.
#
# Usage: test_examples.sh PATH-TO-boxfs BUILD-DIR SOURCE-DIR. Speaks TAP.
set -u
B=$1
BUILD=$2
SRC=$3
SCRATCH=boxfs-examples
# shellcheck source=../lib/tap.sh
. "$SRC/tests/lib/tap.sh"
export PKG_CONFIG_PATH=$BUILD/meson-uninstalled
export LD_LIBRARY_PATH=$BUILD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "1..13"

build() { # NAME: builds examples/NAME.c into $T/NAME
	# shellcheck disable=SC2046
	cc "$SRC/examples/$1.c" $(pkg-config --cflags --libs boxfs) -o "$T/$1" 2>"$T/cc-$1.err"
}

start() { # NAME: runs $T/NAME on $T/NAME.sock until it answers
	"$T/$1" "unix!$T/$1.sock" 2>"$T/serve.err" &
	pids+=($!)
	for _ in $(seq 100); do
		[ -S "$T/$1.sock" ] && return 0
		sleep 0.05
	done
	return 1
}

t "hello builds with cc and pkg-config" 'build hello'
t "hello starts" 'start hello'
run -a "unix!$T/hello.sock" cat /hello
t "hello serves /hello" '[ "$st" -eq 0 ] && [ "$(out)" = "hello, world" ]'

t "ctl builds with cc and pkg-config" 'build ctl'
t "ctl starts" 'start ctl'
A="unix!$T/ctl.sock"
run -a "$A" xwrite /ctl set 41
run -a "$A" xwrite /ctl inc
run -a "$A" cat /value
t "ctl: set and inc reach the counter" '[ "$st" -eq 0 ] && [ "$(out)" = 42 ]'
run -a "$A" xwrite /ctl frob
t "ctl: an unknown command fails the write" '[ "$st" -eq 1 ]'
run -a "$A" xwrite /ctl dec
run -a "$A" cat /value
t "ctl: dec" '[ "$(out)" = 41 ]'
run -a "$A" ls /
t "ctl: ls lists both files" 'out | grep -qx ctl && out | grep -qx value'

t "events builds with cc and pkg-config" 'build events'
t "events starts" 'start events'
# (cat never ends on an event file: stopped after a second, line-buffered)
timeout 1 stdbuf -oL "$B" -a "unix!$T/events.sock" cat /event >"$T/ev.out" 2>/dev/null
t "events: a reader gets ticks as they come" \
	'[ "$(wc -l <"$T/ev.out")" -ge 3 ] && head -1 "$T/ev.out" | grep -q "^tick [0-9]*$"'
t "events: no thread beside main" \
	'[ "$(ls /proc/"${pids[-1]}"/task | wc -l)" -eq 1 ]'

#!/usr/bin/env bash
# test_ixpsrv.sh — examples/ixpsrv.c, a libixp program, built with
# cc ixpsrv.c $(pkg-config --cflags --libs libixp) against boxfs's libixp
# (the build's meson-uninstalled pkg-config files) and driven by the boxfs
# command's client verbs on a Unix socket and on TCP.
# Arguments: the boxfs command, the build directory, the source directory.
set -u
B=$1
BUILD=$2
SRC=$3
SCRATCH=boxfs-ixpsrv
# shellcheck source=../lib/tap.sh
. "$SRC/tests/lib/tap.sh"

echo "1..9"
export PKG_CONFIG_PATH=$BUILD/meson-uninstalled
export LD_LIBRARY_PATH=$BUILD/src/ixp:$BUILD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
flags=$(pkg-config --cflags --libs libixp 2>"$T/err")
t "pkg-config knows libixp" '[ -n "$flags" ]'
# shellcheck disable=SC2086
(cd "$SRC/examples" && cc -o "$T/ixpsrv" ixpsrv.c $flags) >"$T/out" 2>&1
st=$?
t "ixpsrv builds with pkg-config's libixp flags" '[ $st = 0 ] && [ -x "$T/ixpsrv" ]'

start_ixpsrv() {
	"$T/ixpsrv" "$1" >"$T/srv.out" 2>"$T/srv.err" &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 100); do
		run -a "$1" ls / && return 0
		sleep 0.1
	done
	return 1
}

start_ixpsrv "unix!$T/sock"
t "ls lists the program's files" 'grep -qx hello "$T/out" && grep -qx note "$T/out"'
run -a "unix!$T/sock" cat /hello
t "cat reads a file" '[ $st = 0 ] && [ "$(cat "$T/out")" = "hello from a libixp program" ]'
input "boxfs was here"
run -a "unix!$T/sock" write /note
t "write stores through the program's write" '[ $st = 0 ]'
rm -f "$T/in"
run -a "unix!$T/sock" cat /note
t "cat reads it back" '[ "$(cat "$T/out")" = "boxfs was here" ]'
run -a "unix!$T/sock" cat /missing
t "a missing file fails" '[ $st != 0 ]'
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null

port=$((20000 + RANDOM % 20000))
start_ixpsrv "tcp!127.0.0.1!$port"
t "ls over TCP" 'grep -qx hello "$T/out"'
run -a "tcp!127.0.0.1!$port" cat /hello
t "cat over TCP" '[ "$(cat "$T/out")" = "hello from a libixp program" ]'

#!/bin/bash
# test_diod_tools.sh — a boxfs server read by another implementation's
# 9P2000.L client: starts `boxfs serve -l tcp!127.0.0.1!0`, learns its port
# from the line it prints, fills it with the boxfs command, then lists it with
# Debian diod's diodls and reads it with diodcat (exact contents, a 1 MiB file
# by checksum, at the default and at a small msize).
#
# Usage: test_diod_tools.sh PATH-TO-boxfs. Speaks TAP; every check is skipped
# when /usr/sbin/diodls or /usr/sbin/diodcat is missing.
set -u

B=${1:?usage: test_diod_tools.sh PATH-TO-boxfs}
DIODLS=${DIODLS:-/usr/sbin/diodls}
DIODCAT=${DIODCAT:-/usr/sbin/diodcat}
NCHECKS=25

if [ ! -x "$DIODLS" ] || [ ! -x "$DIODCAT" ]; then
	echo "1..$NCHECKS"
	for i in $(seq "$NCHECKS"); do
		echo "ok $i # SKIP diod not installed"
	done
	exit 0
fi

SCRATCH=boxfs-diodtools
# shellcheck source=../lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"
echo "1..$NCHECKS"

# bx ARGS...: the boxfs command against the server, output in $T/out, err.
bx() {
	local verb=$1
	shift
	timeout 20 "$B" "$verb" -a "$ADDR" "$@" >"$T/out" 2>"$T/err"
	st=$?
}

# dls ARGS... / dcat ARGS...: diod's tools against the server.
dls() {
	timeout 20 "$DIODLS" -t 10 -s "127.0.0.1:$PORT" "$@" >"$T/out" 2>"$T/err"
	st=$?
}
dcat() {
	timeout 20 "$DIODCAT" -t 10 -s "127.0.0.1:$PORT" "$@" >"$T/out" 2>"$T/err"
	st=$?
}

names() { grep -vxE '\.|\.\.' "$T/out" | sort | tr '\n' ' '; }
sum() { sha256sum <"$1" | cut -d' ' -f1; }

# ---- the server ----

start_server -l 'tcp!127.0.0.1!0'
ADDR=$(served 9p 'tcp!')
PORT=${ADDR##*!}
t "serve on port 0 prints the port it got" \
	'[ -n "$ADDR" ] && [ "${ADDR%!*}" = "tcp!127.0.0.1" ] && [ "$PORT" -gt 0 ] 2>/dev/null'

# ---- fill it with the boxfs command ----

bx mkdir -p /top/sub/deep /top/many
st0=$st
printf 'hello from boxfs\nsecond line\n' >"$T/hello"
timeout 20 "$B" write -a "$ADDR" /top/hello <"$T/hello" >"$T/out" 2>"$T/err"
st1=$?
head -c 1048576 /dev/urandom >"$T/big"
timeout 20 "$B" write -a "$ADDR" /top/big <"$T/big" >"$T/out" 2>"$T/err"
st2=$?
bx create /top/sub/empty /top/sub/deep/word
st3=$st
bx xwrite /top/sub/deep/word deep
st4=$st
many=()
for i in $(seq -w 1 300); do
	many+=("/top/many/entry-$i")
done
bx create "${many[@]}"
t "the boxfs command filled the tree" \
	'[ "$st0$st1$st2$st3$st4$st" = 000000 ]'

# ---- diodls ----

dls -a / /
t "diodls / shows the top directory and the memfiles" \
	'[ $st -eq 0 ] && [ "$(names)" = "dev mem srv task top " ]'
dls -a / /top
t "diodls lists a directory's names" '[ $st -eq 0 ] && [ "$(names)" = "big hello many sub " ]'
dls -a / -l /top
t "diodls -l shows hello's size" \
	'[ $st -eq 0 ] && grep -qE "^-rw-r--r--\.? +1 .* $(wc -c <"$T/hello") .* hello$" "$T/out"'
t "diodls -l shows the 1 MiB file's size" 'grep -qE "^-.* 1048576 .* big$" "$T/out"'
t "diodls -l marks the directories" \
	'grep -qE "^d.* sub$" "$T/out" && grep -qE "^d.* many$" "$T/out"'
dls -a / -l /top/sub
t "diodls -l shows an empty file with size 0" \
	'[ $st -eq 0 ] && grep -qE "^-.* 0 .* empty$" "$T/out" && grep -qE "^d.* deep$" "$T/out"'
dls -a / /top/many
t "diodls lists 300 entries" '[ $st -eq 0 ] && [ "$(grep -c "^entry-" "$T/out")" -eq 300 ]'
t "each exactly once" '[ "$(grep "^entry-" "$T/out" | sort -u | wc -l)" -eq 300 ]'
dls -a / -m 4096 /top/many
t "diodls at msize 4096 lists the same 300 entries" \
	'[ $st -eq 0 ] && [ "$(grep "^entry-" "$T/out" | sort -u | wc -l)" -eq 300 ] &&
	[ "$(grep -c "^entry-" "$T/out")" -eq 300 ]'
dls -a /top -l /
t "diodls with aname /top sees the subtree" \
	'[ $st -eq 0 ] && grep -qE " hello$" "$T/out" && ! grep -qE " top$" "$T/out"'
dls -a / /nothere
t "diodls of a missing directory fails" '[ $st -ne 0 ]'

# ---- diodcat ----

dcat -a / /top/hello
t "diodcat prints the exact content" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/hello"'
dcat -a / /top/big
t "diodcat reads the 1 MiB file (sha256)" \
	'[ $st -eq 0 ] && [ "$(sum "$T/out")" = "$(sum "$T/big")" ]'
dcat -a / -m 4096 /top/big
t "diodcat at msize 4096 reads it too" \
	'[ $st -eq 0 ] && [ "$(sum "$T/out")" = "$(sum "$T/big")" ]'
dcat -a / -m 1000000 /top/big
t "diodcat at msize 1000000 reads it too" \
	'[ $st -eq 0 ] && [ "$(sum "$T/out")" = "$(sum "$T/big")" ]'
dcat -a / /top/sub/empty
t "diodcat of an empty file prints nothing" '[ $st -eq 0 ] && [ ! -s "$T/out" ]'
dcat -a / /top/sub/deep/word
t "diodcat reads what xwrite wrote" '[ $st -eq 0 ] && [ "$(cat "$T/out")" = deep ]'
dcat -a / /top/hello /top/sub/deep/word
{ cat "$T/hello"; printf deep; } >"$T/want"
t "diodcat of two files concatenates them" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/want"'
dcat -a /top/sub deep/word
t "diodcat with aname /top/sub" '[ $st -eq 0 ] && [ "$(cat "$T/out")" = deep ]'
dcat -a / /top/nothere
t "diodcat of a missing file fails, naming it" '[ $st -ne 0 ] && grep -q nothere "$T/err"'

# ---- afterwards ----

bx cat /top/hello
t "the server still serves the boxfs command" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/hello"'
kill -TERM "$spid"
sst=hung
for _ in $(seq 100); do
	if ! kill -0 "$spid" 2>/dev/null; then
		wait "$spid"
		sst=$?
		spid=
		break
	fi
	sleep 0.1
done
t "serve exits 0 on SIGTERM" '[ "$sst" = 0 ]'
t "serve left nothing on stderr" '[ ! -s "$T/serve.err" ]'
[ "$n" -eq "$NCHECKS" ] || echo "# BUG IN THIS TEST: $n checks ran, $NCHECKS planned"

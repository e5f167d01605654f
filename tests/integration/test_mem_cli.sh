#!/bin/bash
# test_mem_cli.sh — `boxfs mem` as a user drives it: starts
# `boxfs serve -l smdish=unix!DIR/mem -l unix!DIR/9p` and runs the memfile
# verbs (list, cat, write, hold, lock, session) against it, checking output,
# errors and exit statuses (0 done, 1 an operation failed, 2 bad usage), the
# ways of giving the address, and that what smdish clients write is what 9P
# reads at /mem.
#
# Usage: test_mem_cli.sh PATH-TO-boxfs. Speaks TAP.
set -u

B=${1:?usage: test_mem_cli.sh PATH-TO-boxfs}
SCRATCH=boxfs-memcli
# shellcheck source=../lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

mrun() { run mem -a "$M" "$@"; } # boxfs mem against the server
finput() { printf "$@" >"$T/in"; } # input with a printf format
# bg NAME ARGS...: boxfs mem ARGS in the background until it printed a line.
bg() {
	local out=$T/bg-$1
	shift
	"$B" mem -a "$M" "$@" >"$out" 2>&1 &
	bpid=$!
	pids+=("$bpid")
	for _ in $(seq 100); do
		[ -s "$out" ] && return 0
		sleep 0.05
	done
	return 1
}
stop() { kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null; }

start_server -l "smdish=unix!$T/mem" -l "unix!$T/9p"
M=unix!$T/mem
P=unix!$T/9p
touch "$T/out" "$T/err"

# ---- usage ----
"$B" mem --help >"$T/out" 2>"$T/err"
st=$?
t "mem --help prints the verbs" '[ $st -eq 0 ] && grep -q session "$T/out"'
mrun frobnicate
t "an unknown verb is a usage error" '[ $st -eq 2 ] && grep -q "unknown verb" "$T/err"'
mrun cat
t "cat without a name is a usage error" '[ $st -eq 2 ]'
"$B" mem -a "unix!$T/nobody" list >"$T/out" 2>"$T/err"
st=$?
t "no server: status 1, saying so" '[ $st -eq 1 ] && grep -q "cannot connect" "$T/err"'

# ---- list, hold, write, cat ----
mrun list
t "an empty server lists nothing" '[ $st -eq 0 ] && [ ! -s "$T/out" ]'
bg hold hold seg 16
hold=$bpid
t "hold keeps a memfile" 'grep -qx "holding seg" "$T/bg-hold"'
mrun list
t "list shows its size and that it is free" '[ $st -eq 0 ] && grep -Eq "^ +16 - +seg$" "$T/out"'
finput hello
mrun write seg
t "write replaces the segment" '[ $st -eq 0 ]'
mrun cat seg
t "cat prints the segment, zero-filled after the input" \
	'[ $st -eq 0 ] && [ "$(od -An -c "$T/out" | tr -s " \n" " ")" = " h e l l o \\0 \\0 \\0 \\0 \\0 \\0 \\0 \\0 \\0 \\0 \\0 " ]'
"$B" -a "$P" cat /mem/seg >"$T/9p.out" 2>"$T/err"
st=$?
t "9P reads the same bytes at /mem/seg" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/9p.out"'
finput '%020d' 0
mrun write seg
t "input larger than the segment fails" '[ $st -eq 1 ] && grep -q "larger than the segment" "$T/err"'
bg pure hold pure
pure=$bpid
finput x
mrun write pure
t "a pure lock has no segment to write" '[ $st -eq 1 ] && grep -q "has no segment" "$T/err"'
mrun cat "$(printf '%0256d' 0)"
t "a 256-byte name is too long" '[ $st -eq 1 ] && grep -q "too long" "$T/err"'
mrun cat a/b
t "a name with a slash is refused" '[ $st -eq 1 ] && grep -q "Invalid argument" "$T/err"'

# ---- lock ----
mrun lock seg -- sh -c 'exit 3'
t "lock runs the command and answers its status" '[ $st -eq 3 ]'
mrun lock seg -- "$B" mem -a "$M" lock --try seg true
t "--try fails while another client holds the lock" \
	'[ $st -eq 1 ] && grep -q "seg is locked by another client" "$T/err"'
mrun lock --try seg true
t "the lock is free once the command ended" '[ $st -eq 0 ]'
bg locker lock seg
locker=$bpid
mrun list
t "list shows a held lock" 'grep -Eq "^ +16 locked +seg$" "$T/out"'
mrun cat --try seg
t "cat --try fails while it is held" '[ $st -eq 1 ]'
stop "$locker"
mrun cat --try seg
t "an interrupted lock holder releases the lock" '[ $st -eq 0 ]'

# ---- session ----
finput 'open seg\nmmap 0 16\nlock 0\npeek 0 0 5\npoke 0 0 HELLO world\nunlock 0\nopen seg\ntrylock 1\nmmap 1 17\nbogus\n'
mrun session
printf 'ok 0\nok 0\nok 0\nok hello\nok 11\nok 0\nok 1\nok 0\nerror EINVAL: Invalid argument\nerror EINVAL: not a request: bogus\n' >"$T/want"
t "session answers each request" '[ $st -eq 1 ] && cmp -s "$T/out" "$T/want"'
mrun cat seg
t "what a session unlocked is the segment" '[ "$(tr -d "\\0" <"$T/out")" = "HELLO world" ]'

# ---- addresses ----
"$B" -a "$M" mem list >"$T/out" 2>"$T/err"
st=$?
t "-a before mem" '[ $st -eq 0 ] && grep -q " seg$" "$T/out"'
BOXFS_MEM_ADDRESS=$M "$B" mem list >"$T/out" 2>"$T/err"
st=$?
t "\$BOXFS_MEM_ADDRESS" '[ $st -eq 0 ] && grep -q " seg$" "$T/out"'

# ---- lifetime ----
stop "$hold"
stop "$pure"
mrun list
t "a memfile dies with its last holder" '[ $st -eq 0 ] && [ ! -s "$T/out" ]'

echo "1..$n"

# tap.sh — what boxfs's shell tests share; sourced by a bash script that has
# set B (the boxfs command) and, before sourcing, may set SCRATCH (the scratch
# directory's name prefix). It gives:
#
#   T                  the scratch directory
#   pids               processes stopped at exit (start_server adds to it)
#   t NAME CONDITION   one TAP line; a failing one shows the status, output and
#                      the server's last errors
#   run ARGS...        boxfs ARGS, 20 s at most, stdin from $T/in when it
#                      exists (see input); $st, $T/out and $T/err
#   input TEXT, out, err, fails TEXT (status 1, no output, TEXT in the errors)
#   start_server ARGS  boxfs serve ARGS, until it printed its addresses in
#                      $T/serve.out; $spid
#   stop_server PID    SIGTERM, SIGKILL after 15 s; $sst (status) and $ssecs
#   forget PID         not ours to stop any more
#
# Only the script itself cleans up (stops its processes, removes T): a
# subshell that is signalled (a command substitution, a server not yet
# started) must not take the scratch directory and the servers with it. A
# script with more to undo defines cleanup_more.
# shellcheck shell=bash

T=$(mktemp -d "/tmp/${SCRATCH:-boxfs-test}-XXXXXX") || exit 1
pids=()
n=0

cleanup() {
	local p
	declare -F cleanup_more >/dev/null && cleanup_more
	for p in "${pids[@]+"${pids[@]}"}"; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
main_shell=$BASHPID
trap '[ "$BASHPID" = "$main_shell" ] && cleanup' EXIT
trap '[ "$BASHPID" = "$main_shell" ] && exit 1' INT TERM HUP

t() {
	n=$((n + 1))
	if eval "$2"; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		diag
	fi
}

diag() {
	echo "#   status: ${st-}"
	sed 's/^/#   stdout: /' "$T/out" 2>/dev/null | head -20
	sed 's/^/#   stderr: /' "$T/err" 2>/dev/null | head -20
	sed 's/^/#   serve.err: /' "$T/serve.err" 2>/dev/null | tail -5
}

run() {
	local in=/dev/null
	[ -e "$T/in" ] && in=$T/in
	timeout 20 "$B" "$@" <"$in" >"$T/out" 2>"$T/err"
	st=$?
	rm -f "$T/in"
}

# input TEXT: the next run's standard input (no printf format applied).
input() { printf '%s' "$1" >"$T/in"; }
out() { cat "$T/out"; }
err() { cat "$T/err"; }
fails() { [ "$st" -eq 1 ] && [ ! -s "$T/out" ] && grep -qF -- "$1" "$T/err"; }

start_server() {
	"$B" serve "$@" >"$T/serve.out" 2>"$T/serve.err" &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 100); do
		grep -q '^boxfs: serving ' "$T/serve.out" 2>/dev/null && return 0
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	echo "# boxfs serve $* did not start; its output and errors:"
	sed 's/^/#   /' "$T/serve.out" "$T/serve.err"
	return 1
}

stop_server() {
	local t0=$SECONDS
	kill -TERM "$1"
	sst=
	for _ in $(seq 150); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			sst=$?
			break
		fi
		sleep 0.1
	done
	if [ -z "$sst" ]; then
		kill -KILL "$1" 2>/dev/null
		wait "$1"
		sst=killed
	fi
	# shellcheck disable=SC2034 # read by the scripts
	ssecs=$((SECONDS - t0))
	forget "$1"
}

forget() {
	local keep=() p
	for p in "${pids[@]}"; do
		[ "$p" != "$1" ] && keep+=("$p")
	done
	pids=("${keep[@]+"${keep[@]}"}")
}

# served DOOR PREFIX: the address of the first DOOR listener on PREFIX
# ("unix!", "tcp!", "tls!") that the server printed.
served() {
	sed -n "s/^boxfs: serving $1 on \\($2.*\\)\$/\\1/p" "$T/serve.out" | head -1
}

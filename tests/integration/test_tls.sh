#!/bin/bash
# test_tls.sh — 9P over TLS 1.3 (tls!host!port) as a user drives it: makes a
# throwaway CA, a server certificate for IP 127.0.0.1 and client
# certificates with the openssl command, starts `boxfs serve` on
# tls!127.0.0.1!0 and checks that the client verbs work through it
# (BOXFS_TLS_* variables); that clients trusting another CA, TLS 1.2-only
# clients and plaintext clients are turned away while the server keeps
# serving; that --tls-ca requires a client certificate from that CA; that a
# TLS client counts as remote (--no-trust-uname) and against --max-conns;
# that the server stops promptly with TLS connections open; and that bad
# options and files are refused with clear messages.
#
# Usage: test_tls.sh PATH-TO-boxfs. Speaks TAP.
set -u

B=${1:?usage: test_tls.sh PATH-TO-boxfs}
if ! command -v openssl >/dev/null; then
	echo "1..0 # SKIP the openssl command is not installed"
	exit 0
fi
SCRATCH=boxfs-tls
# shellcheck source=../lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"
cleanup_more() { exec 4>&- 2>/dev/null; }

unset BOXFS_ADDRESS BOXFS_TLS_CA BOXFS_TLS_CERT BOXFS_TLS_KEY

# start_tls ARGS...: start_server, and $A (the tls! address it printed) and
# $P (its port).
start_tls() {
	start_server "$@" || return 1
	A=$(served 9p 'tls!')
	P=${A##*!}
}

# alive: the server still runs and serves a TLS client.
alive() {
	kill -0 "$spid" 2>/dev/null &&
		BOXFS_TLS_CA=$T/ca.pem BOXFS_TLS_CERT=$T/cli.pem BOXFS_TLS_KEY=$T/cli.key \
			timeout 20 "$B" cat -a "$A" /f >"$T/alive" 2>&1 &&
		[ "$(cat "$T/alive")" = "over tls" ]
}

# ---- certificates ----

# key NAME: an EC P-256 key in $T/NAME.key.
key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$1.key" 2>/dev/null
}
# ca NAME: a self-signed CA, $T/NAME.pem and $T/NAME.key.
ca() {
	key "$1" && openssl req -x509 -new -key "$T/$1.key" -out "$T/$1.pem" -days 2 \
		-subj "/CN=boxfs test $1" 2>/dev/null
}
# cert NAME CA [EXTENSIONS]: $T/NAME.pem signed by CA.
cert() {
	key "$1" && openssl req -new -key "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$1" 2>/dev/null &&
		printf '%s\n' "${3:-basicConstraints=CA:FALSE}" >"$T/$1.ext" &&
		openssl x509 -req -in "$T/$1.csr" -CA "$T/$2.pem" -CAkey "$T/$2.key" \
			-CAcreateserial -out "$T/$1.pem" -days 2 -extfile "$T/$1.ext" 2>/dev/null
}

ca ca && ca otherca &&
	cert srv ca "subjectAltName=IP:127.0.0.1" &&
	cert cli ca && cert stranger otherca
t "the openssl command makes a CA and certificates" \
	'[ -s "$T/srv.pem" ] && [ -s "$T/cli.pem" ] && [ -s "$T/stranger.pem" ]'
SRV=(--tls-cert "$T/srv.pem" --tls-key "$T/srv.key")

# ---- 9P over TLS ----

start_tls -l "tls!127.0.0.1!0" -l "unix!$T/sock" "${SRV[@]}"
t "serve prints its tls! address" '[[ "$A" == tls!127.0.0.1![1-9]* ]]'
export BOXFS_TLS_CA=$T/ca.pem
input "over tls"
run write -a "$A" /f
t "write over TLS" '[ $st -eq 0 ] && [ ! -s "$T/out" ] && [ ! -s "$T/err" ]'
run cat -a "$A" /f
t "cat over TLS reads it back" '[ $st -eq 0 ] && [ "$(out)" = "over tls" ]'
run cat -a "unix!$T/sock" /f
t "the same file through the Unix socket" '[ $st -eq 0 ] && [ "$(out)" = "over tls" ]'
head -c 3000000 /dev/urandom >"$T/big"
cp "$T/big" "$T/in"
run write -a "$A" /big
run cat -a "$A" /big
t "3 MB both ways over TLS arrive intact" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/big"'

# trust
BOXFS_TLS_CA=$T/otherca.pem run cat -a "$A" /f
t "a client trusting another CA refuses the server" \
	'fails "cannot connect" && grep -q "did not verify" "$T/err"'
BOXFS_TLS_CA='' run cat -a "$A" /f
t "so does one trusting only the system's CAs" 'fails "did not verify"'
run cat -a "tls!localhost!$P" /f
t "and one dialing a name the certificate does not hold" 'fails "did not verify"'
t "the server keeps serving" alive

# protocol versions
timeout 10 openssl s_client -connect "127.0.0.1:$P" -tls1_2 -CAfile "$T/ca.pem" \
	</dev/null >"$T/s12" 2>&1
# shellcheck disable=SC2034 # read by the checks
s12=$?
timeout 10 openssl s_client -connect "127.0.0.1:$P" -tls1_3 -CAfile "$T/ca.pem" \
	</dev/null >"$T/s13" 2>&1
# shellcheck disable=SC2034 # read by the checks
s13=$?
t "a TLS 1.3 openssl client completes the handshake" \
	'[ $s13 -eq 0 ] && grep -q "^New, TLSv1.3, Cipher is TLS_" "$T/s13"'
t "a TLS 1.2-only openssl client fails it" \
	'[ $s12 -ne 0 ] && grep -q "^New, (NONE), Cipher is (NONE)" "$T/s12" ||
	 { sed "s/^/#   s_client: /" "$T/s12" | head; false; }'
t "the server keeps serving" alive

# plaintext clients
run cat -a "tcp!127.0.0.1!$P" /f
t "a plaintext 9P client is turned away" 'fails "cannot connect"'
# (well within the 10 s a handshake may take: 0 when the server closed it,
# 124 when it was still open after 5 s)
# shellcheck disable=SC2016
timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 99
	printf "GET / HTTP/1.0\r\n\r\n" >&3 2>/dev/null
	cat <&3 >/dev/null 2>&1
	exit 0' _ "$P"
# shellcheck disable=SC2034 # read by the check
pst=$?
t "a plaintext client's connection is closed at once" '[ $pst -eq 0 ] || { echo "#   $pst"; false; }'
t "the server keeps serving" alive
stop_server "$spid"
t "the server exits 0 on SIGTERM" '[ "$sst" = 0 ]'

# a TLS client is remote: with --no-trust-uname it acts as nobody, never as
# the server's own user (the peer of the socketpair behind it)
start_tls -l "tls!127.0.0.1!0" -l "unix!$T/sock" "${SRV[@]}" --no-trust-uname
run create -a "$A" /mine
t "a TLS client is remote: --no-trust-uname makes it nobody" \
	'fails /mine && grep -q "Permission denied" "$T/err"'
run create -a "unix!$T/sock" /mine
t "while a Unix client creating the same file is itself" '[ $st -eq 0 ]'
stop_server "$spid"
t "that server exits 0 on SIGTERM too" '[ "$sst" = 0 ]'

# ---- client certificates ----

start_tls -l "tls!127.0.0.1!0" "${SRV[@]}" --tls-ca "$T/ca.pem" --max-conns 3
input "over tls"
BOXFS_TLS_CERT=$T/cli.pem BOXFS_TLS_KEY=$T/cli.key run write -a "$A" /f
t "--tls-ca: a client with a certificate from that CA is served" '[ $st -eq 0 ]'
run cat -a "$A" /f
t "--tls-ca: a client without a certificate is refused" 'fails "cannot connect"'
BOXFS_TLS_CERT=$T/stranger.pem BOXFS_TLS_KEY=$T/stranger.key run cat -a "$A" /f
t "--tls-ca: a client whose certificate another CA signed is refused" \
	'fails "cannot connect"'
t "the server keeps serving" alive

# --max-conns 3: two idle TLS sessions and a connection that never starts
# its handshake fill it
mkfifo "$T/hold"
sleep 30 >"$T/hold" &
holder=$!
pids+=("$holder")
for i in 1 2; do
	openssl s_client -connect "127.0.0.1:$P" -CAfile "$T/ca.pem" -cert "$T/cli.pem" \
		-key "$T/cli.key" <"$T/hold" >"$T/conn$i" 2>&1 &
	pids+=("$!")
	for _ in $(seq 100); do
		grep -q "Verify return code" "$T/conn$i" && break
		sleep 0.1
	done
done
exec 4<>"/dev/tcp/127.0.0.1/$P"
sleep 0.3 # for the loop to accept it
BOXFS_TLS_CERT=$T/cli.pem BOXFS_TLS_KEY=$T/cli.key run cat -a "$A" /f
t "--max-conns counts TLS connections, handshaken or not: a fourth is refused" \
	'fails "cannot connect"'
stop_server "$spid"
t "the server stops at once with TLS connections open" \
	'[ "$sst" = 0 ] && [ "$ssecs" -le 5 ] || { echo "#   status $sst after $ssecs s"; false; }'
exec 4>&-
kill "$holder" 2>/dev/null
wait 2>/dev/null
pids=()

# ---- bad options and files ----

run serve -l "tls!127.0.0.1!0"
t "tls! without --tls-cert and --tls-key is a usage error" \
	'[ $st -eq 2 ] && grep -qF "tls!127.0.0.1!0 needs --tls-cert and --tls-key" "$T/err"'
run serve -l "tls!127.0.0.1!0" --tls-cert "$T/srv.pem"
t "--tls-cert without --tls-key is a usage error" \
	'[ $st -eq 2 ] && grep -qF -- "--tls-cert needs --tls-key" "$T/err"'
run serve -l "tls!127.0.0.1!0" --tls-cert "$T/srv.pem" --tls-key "$T/missing.key"
t "a missing key file fails, naming it" \
	'fails "$T/missing.key" && grep -q "No such file" "$T/err"'
echo "not a key" >"$T/bad.key"
run serve -l "tls!127.0.0.1!0" --tls-cert "$T/srv.pem" --tls-key "$T/bad.key"
t "a bad key file fails, naming it and OpenSSL's reason" \
	'fails "key $T/bad.key: " && grep -q "routines)" "$T/err"'
run serve -l "tls!127.0.0.1!0" --tls-cert "$T/srv.pem" --tls-key "$T/cli.key"
t "a key that is not the certificate's fails" 'fails "$T/cli.key" && grep -q "mismatch" "$T/err"'
run serve -l "tls!127.0.0.1!0" --tls-cert "$T/srv.key" --tls-key "$T/srv.key"
t "a certificate file that holds none fails, naming it" 'fails "certificate $T/srv.key: "'
run serve -l "tls!127.0.0.1!0" "${SRV[@]}" --tls-ca "$T/bad.key"
t "a bad CA file fails, naming it" 'fails "CA file $T/bad.key: "'
BOXFS_TLS_CERT=$T/cli.pem BOXFS_TLS_KEY=$T/nope.key run ls -a "tls!127.0.0.1!1"
t "a client's missing key file fails, naming it" 'fails "$T/nope.key"'

echo "1..$n"

#!/bin/sh
# test_idlc.sh IDLC INTERFACE.IDL — the IDL compiler: the ids of Resea's
# interfaces (one counter, MSG_OOL 1<<29, MSG_STR 1<<30), the code it
# generates compiles, and each kind of bad input gets "FILE:LINE: error:".
idlc=$1
idl=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

"$idlc" -l "$idl" >"$tmp/list" 2>"$tmp/err" || notok "compiles interface.idl: $(cat "$tmp/err")"
ool=536870912
str=1073741824
for want in "fs.open $((48 + ool + str)) 49" "benchmark.nop 21 22" \
	"benchmark.nop_with_ool $((23 + ool)) $((24 + ool))" \
	"discovery.lookup $((29 + ool + str)) 30" "shm.close 74 75" \
	"task.exited 41" "notifications 1" "fs.read 54 $((55 + ool))" \
	"blk.write $((62 + ool)) 63" "time.gettimeofday 68 69" "rtc.read 66 67"; do
	set -- $want
	got=$(awk -v n="$1" '$1 == n { print $1, $3, $4 }' "$tmp/list" | sed 's/ *$//')
	if [ "$got" = "$want" ]; then ok "id $want"; else notok "id $want (got '$got')"; fi
done
if [ "$(wc -l <"$tmp/list")" -eq 43 ]; then ok "43 messages"; else notok "43 messages"; fi

# the generated C compiles on its own
mkdir -p "$tmp/inc/boxfs"
if "$idlc" -H "$tmp/idl_gen.h" -C "$tmp/idl_gen.c" "$idl" && [ -s "$tmp/idl_gen.h" ] &&
	grep -q '#define FS_OPEN_MSG 1610612784' "$tmp/idl_gen.h" &&
	grep -q 'struct idl_server_ops' "$tmp/idl_gen.h" &&
	grep -q 'idl_call_benchmark_nop' "$tmp/idl_gen.h"; then
	ok "header and C written"
else
	notok "header and C written"
fi

# bad input: the message and its line
bad() { # NAME LINE PATTERN TEXT
	printf '%b' "$4" >"$tmp/bad.idl"
	if "$idlc" "$tmp/bad.idl" 2>"$tmp/err"; then
		notok "$1: accepted"
		return
	fi
	if grep -q "^$tmp/bad.idl:$2: error: .*$3" "$tmp/err"; then
		ok "$1"
	else
		notok "$1: $(cat "$tmp/err")"
	fi
}
bad "two ool fields" 3 "second str/bytes" 'namespace a {\n  rpc f(x: int,\n    b: bytes, s: str) -> ();\n}\n'
bad "two ool in a reply" 1 "second str/bytes" 'rpc f() -> (a: str, b: bytes);\n'
bad "unknown type" 2 "unknown type 'widget'" '\nrpc f(x: widget) -> ();\n'
bad "missing arrow" 1 "expected '->'" 'rpc f(x: int) (y: int);\n'
bad "missing semicolon" 2 "expected ';'" 'oneway f(x: int)\noneway g();\n'
bad "unclosed namespace" 3 "not closed" 'namespace a {\n oneway f();\n'
bad "duplicate message" 2 "already defined" 'oneway f();\noneway f();\n'
bad "duplicate field" 1 "appears twice" 'oneway f(a: int, a: int);\n'
bad "fixed part too big" 1 "exceed 256" 'oneway f(a: uint8[200], b: uint64[8]);\n'
bad "array of str" 1 "cannot be an array" 'oneway f(a: str[2]);\n'
bad "unknown declaration" 1 "unknown declaration 'struct'" 'struct x {};\n'
bad "bad character" 1 "unexpected character" 'oneway f() @;\n'
bad "missing include" 1 "cannot read" 'include "nope.idl";\n'
printf 'oneway g(x: size);\n' >"$tmp/inc.idl"
printf '/// doc\ntype t = uint32[2];\nconst K: int = 5;\nenum e { A = 1, B = 2 };\ninclude "inc.idl";\nnamespace n {\n  async oneway f(a: t, b: e);\n  rpc r(s: str) -> (d: bytes);\n}\n' >"$tmp/good.idl"
if "$idlc" -l "$tmp/good.idl" >"$tmp/out" 2>"$tmp/err" &&
	grep -q '^g oneway 1$' "$tmp/out" && grep -q '^n.f async-oneway 2$' "$tmp/out" &&
	grep -q "^n.r rpc $((3 + ool + str)) $((4 + ool))$" "$tmp/out"; then
	ok "type, const, enum, include, async"
else
	notok "type, const, enum, include, async: $(cat "$tmp/out" "$tmp/err")"
fi
echo "1..$n"
[ "$fails" -eq 0 ]

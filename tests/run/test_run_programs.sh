#!/bin/bash
# test_run_programs.sh — unmodified programs under `boxfs run`: ls -l, cat,
# cp -r, mv, rm -r, mkdir -p, find, du, tar c/x, sort of a large file,
# python3 and sqlite3, each run on a served host export and on a served RAM
# tree, over rio and over 9P (through libboxfs-preload.so), and on a local
# directory, with the outputs compared. Also: paths outside the mounts stay
# the system's, a descriptor of a served file survives dup2, and after
# fork the child reads on at the parent's offset (rio and 9P). And memfiles
# as files under an smdish mount: ls, cat, writes, flock.
#
# Usage: test_run_programs.sh PATH-TO-boxfs. Speaks TAP.
set -u

B=${1:?usage: test_run_programs.sh PATH-TO-boxfs}
SCRATCH=boxfs-run
# shellcheck source=../lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

echo "1..52"
mkdir -p "$T/exp" "$T/exp9" "$T/local" "$T/src/sub/deeper"
start_server -l "rio=unix!$T/rio" -l "unix!$T/9p" -l "smdish=unix!$T/mem" --export "host=$T/exp" \
	--export "host9=$T/exp9" || exit 1
# the RAM tree's work directories (one per protocol), then the mounts: host
# exports, RAM trees
cat >"$T/ns0" <<NS
$T/setup unix!$T/rio rio
$T/setup9 unix!$T/9p
NS
"$B" run --ns "$T/ns0" -- mkdir "$T/setup/ram" "$T/setup9/ram9" || echo "# cannot make /ram"
cat >"$T/ns" <<NS
# prefix address aname protocol
$T/shost unix!$T/rio host rio
$T/sram unix!$T/rio ram rio
$T/s9host unix!$T/9p host9
$T/s9ram unix!$T/9p ram9 9p
NS

# the source tree, made locally
for i in $(seq 1 30); do
	seq "$i" $((i * 200)) >"$T/src/f$i.txt"
done
head -c 300000 /dev/urandom >"$T/src/sub/blob.bin"
echo deep >"$T/src/sub/deeper/d.txt"
seq 1 200000 | awk '{ print ($1 * 7919) % 100003 }' >"$T/big"

R() { timeout 60 "$B" run --ns "$T/ns" -- "$@"; }

# what each directory D shows after the same programs: written to $T/res.D
programs() {
	local D=$1 out=$2
	{
		R cp -r "$T/src" "$D/tree" && echo cp ok
		# (a directory's size is its file system's business: left out)
		R ls -l --time-style=+ "$D/tree" | grep -v '^total' | awk '/^d/ { $5 = "-" } 1'
		R cat "$D/tree/f7.txt" | md5sum
		R mkdir -p "$D/a/b/c" && echo mkdir ok
		R mv "$D/tree/f1.txt" "$D/tree/sub/moved.txt" && echo mv ok
		R find "$D" | sed "s|^$D||" | sort
		R sh -c "cd '$D/tree' && find . -type f -print0 | du -b --files0-from=- | sort -k2"
		R tar cf "$T/tar.$out" -C "$D" tree && tar tf "$T/tar.$out" | sort
		R mkdir "$D/x" && R tar xf "$T/tar.$out" -C "$D/x" && echo tar x ok
		R sh -c "cd '$D/x/tree' && find . -type f | sort | xargs md5sum"
		R cp "$T/big" "$D/big" && R sort -n "$D/big" -o "$D/big.sorted" && echo sort ok
		R md5sum "$D/big.sorted" | cut -d' ' -f1
		R python3 -c "
import os, sys
d = sys.argv[1]
with open(os.path.join(d, 'py.txt'), 'w') as f:
    for i in range(1000): f.write('line %d\n' % i)
with open(os.path.join(d, 'py.txt')) as f:
    lines = f.readlines()
print(len(lines), lines[-1].strip(), sorted(os.listdir(d))[:4], os.path.getsize(os.path.join(d, 'py.txt')))
" "$D"
		R sqlite3 "$D/db.sqlite" "create table t(a integer, b text);
insert into t select value, 'row ' || value from generate_series(1, 500);
create index ib on t(b);
select count(*), sum(a), max(b) from t where a % 3 = 0;" 2>&1
		R sqlite3 "$D/db.sqlite" "pragma integrity_check; select count(*) from t;" 2>&1
		R rm -r "$D/tree" "$D/a" && echo rm ok
		R ls "$D"
	} >"$T/res.$out" 2>&1
}

programs "$T/local" local
programs "$T/shost" host
programs "$T/sram" ram
programs "$T/s9host" 9host
programs "$T/s9ram" 9ram

# compares one section (lines FROM..TO of each result) across the three
check() {
	local name=$1 from=$2 to=$3
	sed -n "${from},${to}p" "$T/res.local" >"$T/a"
	sed -n "${from},${to}p" "$T/res.$4" >"$T/b"
	t "$name ($4)" "cmp -s '$T/a' '$T/b' || { diff '$T/a' '$T/b' | head -20 | sed 's/^/# /'; false; }"
}

for where in host ram 9host 9ram; do
	t "results exist ($where)" "[ -s '$T/res.$where' ]"
	t "whole run matches a local directory ($where)" \
		"cmp -s '$T/res.local' '$T/res.$where' || { diff '$T/res.local' '$T/res.$where' | head -40 | sed 's/^/# /'; false; }"
done
# the pieces, so that a failure says which program
L=$T/res.local
t "cp -r worked locally" "grep -q '^cp ok' '$L'"
t "sort sorted" "grep -q '^sort ok' '$L'"
t "sqlite3 answered" "grep -q '^166|' '$L'"
t "python3 answered" "grep -q '^1000 line 999' '$L'"
for where in host ram 9host 9ram; do
	R=$T/res.$where
	t "cp -r ($where)" "grep -q '^cp ok' '$R'"
	t "mkdir -p, mv ($where)" "grep -q '^mkdir ok' '$R' && grep -q '^mv ok' '$R'"
	t "tar x ($where)" "grep -q '^tar x ok' '$R'"
	t "sort ($where)" "grep -q '^sort ok' '$R'"
	t "sqlite3 ($where)" "grep -q '^166|' '$R' && grep -q '^ok\$' '$R'"
	t "python3 ($where)" "grep -q '^1000 line 999' '$R'"
	t "rm -r ($where)" "grep -q '^rm ok' '$R'"
done
# the export's files are on the host, and the RAM tree's are not
t "host export holds the files" "[ -s '$T/exp/big.sorted' ] && [ -s '$T/exp/db.sqlite' ]"
t "host export holds the files (9P)" "[ -s '$T/exp9/big.sorted' ] && [ -s '$T/exp9/db.sqlite' ]"
t "nothing leaked to the local prefixes" \
	"[ ! -e '$T/shost' ] && [ ! -e '$T/sram' ] && [ ! -e '$T/s9host' ] && [ ! -e '$T/s9ram' ]"
# paths outside the mounts are the system's, in the same process
echo outside >"$T/outside.txt"
t "outside paths untouched" "[ \"\$(R cat '$T/outside.txt')\" = outside ]"
# dup2 onto a served descriptor, then fork: the child reads on
fork_reads_on() {
	[ "$(R python3 -c "
import os
fd = os.open('$1/big', os.O_RDONLY)
os.read(fd, 6)
os.dup2(fd, 42)
pid = os.fork()
if pid == 0:
    os._exit(0 if os.read(42, 6) == b'5838\\n2' else 1)
_, st = os.waitpid(pid, 0)
print('ok' if st == 0 else 'bad %d' % st)
")" = ok ]
}
t "dup2 and fork keep offsets" "fork_reads_on '$T/shost'"
t "dup2 and fork keep offsets (9P)" "fork_reads_on '$T/s9host'"

# memfiles under an smdish mount
M=unix!$T/mem
echo "$T/smem $M smdish" >"$T/nsmem"
RM() { timeout 60 "$B" run --ns "$T/nsmem" -- "$@"; }
for h in "seg 16" "plain"; do
	# shellcheck disable=SC2086 # name and size
	"$B" mem -a "$M" hold $h >"$T/hold.${h%% *}" 2>&1 &
	pids+=($!)
done
for _ in $(seq 100); do
	[ -s "$T/hold.seg" ] && [ -s "$T/hold.plain" ] && break
	sleep 0.05
done
printf hello | "$B" mem -a "$M" write seg
t "ls lists the memfiles (smdish)" "[ \"\$(RM ls '$T/smem' | tr '\n' ' ')\" = 'plain seg ' ]"
t "cat prints a segment (smdish)" \
	"[ \"\$(RM cat '$T/smem/seg' | tr -d '\\0')\" = hello ] && [ \"\$(RM stat -c %s '$T/smem/seg')\" = 16 ]"
RM python3 -c "
import errno, os
fd = os.open('$T/smem/seg', os.O_RDWR)
os.pwrite(fd, b'WORLD', 5)
def err(f):
    try:
        f()
    except OSError as e:
        return errno.errorcode[e.errno]
print(err(lambda: os.pwrite(fd, b'x', 16)), err(lambda: os.unlink('$T/smem/seg')),
      err(lambda: os.write(os.open('$T/smem/plain', os.O_WRONLY), b'x')))
" >"$T/smem.out" 2>&1
t "python3 writes a segment (smdish)" \
	"[ \"\$('$B' mem -a '$M' cat seg | tr -d '\\0')\" = helloWORLD ]"
t "EFBIG, EPERM, ENOSPC (smdish)" "grep -qx 'EFBIG EPERM ENOSPC' '$T/smem.out'"
t "flock takes the memfile lock (smdish)" \
	"RM flock '$T/smem/seg' sh -c \"'$B' mem -a '$M' lock --try seg true 2>/dev/null; echo \\\$? >'$T/try'\" && [ \"\$(cat '$T/try')\" = 1 ] && '$B' mem -a '$M' lock --try seg true"
t "server still running" "kill -0 $spid"

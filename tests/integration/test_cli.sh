#!/bin/bash
# test_cli.sh — the boxfs command as a user drives it: starts
# `boxfs serve -l unix!DIR/sock` and runs every client verb (ls, stat, cat,
# write, append, xwrite, create, mkdir, rm, mv, ln) against it, checking
# standard output, standard error and exit statuses (0 done, 1 an operation
# failed, 2 bad usage), the ways of giving the address (-a before or after the
# verb, $BOXFS_ADDRESS, the default socket), each dialect (-D), and that
# `boxfs serve` exits 0 on SIGTERM and removes nothing it should keep.
#
# Usage: test_cli.sh PATH-TO-boxfs. Speaks TAP.
set -u

B=${1:?usage: test_cli.sh PATH-TO-boxfs}
SCRATCH=boxfs-cli
# shellcheck source=../lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

# is_usage: status 2 and a usage text on stderr, nothing on stdout.
is_usage='[ $st -eq 2 ] && grep -q "^usage:" "$T/err" && [ ! -s "$T/out" ]'

# ---- the server ----

start_server -l "unix!$T/sock"
t "serve prints its address" 'grep -qxF "boxfs: serving 9p on unix!$T/sock" "$T/serve.out"'
A="unix!$T/sock"
S=$spid

# ---- mkdir ----

run mkdir -a "$A" -p /a/b/c
t "mkdir -p makes the parents" '[ $st -eq 0 ] && [ ! -s "$T/out" ] && [ ! -s "$T/err" ]'
run ls -a "$A" /a/b
t "ls shows the new directory" '[ $st -eq 0 ] && [ "$(out)" = c ]'
run mkdir -a "$A" -p /a/b/c
t "mkdir -p of an existing directory succeeds" '[ $st -eq 0 ]'
run mkdir -a "$A" /a/b
t "mkdir of an existing directory fails, naming it" 'fails /a/b && grep -q "File exists" "$T/err"'
run mkdir -a "$A" /x/y
t "mkdir without -p in a missing directory fails" 'fails /x/y && grep -q "No such file" "$T/err"'
run mkdir -a "$A" /m1 /m2
t "mkdir makes several directories" '[ $st -eq 0 ]'
run ls -a "$A" /
t "ls / lists sorted names" '[ "$(out | tr "\n" " ")" = "a dev m1 m2 mem srv task " ]'

# ---- write, cat, append, xwrite, create ----

input $'hello\nworld\n'
run write -a "$A" /a/f
t "write copies standard input" '[ $st -eq 0 ] && [ ! -s "$T/out" ]'
run cat -a "$A" /a/f
printf 'hello\nworld\n' >"$T/want"
t "cat prints exactly what was written" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/want"'
input "short"
run write -a "$A" /a/f
run cat -a "$A" /a/f
t "write replaces the whole file" '[ "$(out)" = short ]'
input $'+more\n'
run append -a "$A" /a/f
t "append succeeds" '[ $st -eq 0 ]'
run cat -a "$A" /a/f
printf 'short+more\n' >"$T/want"
t "append adds at the end" 'cmp -s "$T/out" "$T/want"'
input "new"
run append -a "$A" /a/new
run cat -a "$A" /a/new
t "append creates a missing file" '[ "$(out)" = new ]'
run xwrite -a "$A" /a/new one two "three  four"
run cat -a "$A" /a/new
printf 'one two three  four' >"$T/want"
t "xwrite writes its words joined by spaces" 'cmp -s "$T/out" "$T/want"'
run xwrite -a "$A" /a/absent data
t "xwrite to a missing file fails" 'fails /a/absent'
run create -a "$A" /a/e1 /a/e2
t "create makes empty files" '[ $st -eq 0 ] && [ ! -s "$T/out" ]'
run create -a "$A" /a/new
run cat -a "$A" /a/new
t "create leaves an existing file alone" '[ "$(out)" = "one two three  four" ]'
run create -a "$A" /a/b
t "create on a directory fails" 'fails /a/b'
head -c 1048576 /dev/urandom >"$T/big"
cp "$T/big" "$T/in"
run write -a "$A" /a/big
run cat -a "$A" /a/big
t "1 MiB of binary data survives write and cat" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/big"'
run cat -a "$A" /a/new /a/e1 /a/f
printf 'one two three  fourshort+more\n' >"$T/want"
t "cat of several files concatenates them" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/want"'
run cat -a "$A" /a/new /a/missing /a/f
t "cat goes on after a missing file and fails at the end" \
	'[ $st -eq 1 ] && cmp -s "$T/out" "$T/want" && grep -q "/a/missing" "$T/err"'
run cat -a "$A" /a/b
t "cat of a directory fails" '[ $st -eq 1 ] && grep -q "/a/b" "$T/err"'

# ---- ls, stat ----

run ls -a "$A" /a
t "ls lists a directory's names, sorted" \
	'[ $st -eq 0 ] && [ "$(out | tr "\n" " ")" = "b big e1 e2 f new " ]'
run ls -a "$A" -l /a
t "ls -l shows sizes" \
	'[ $st -eq 0 ] && out | grep -qE "^-rw-r--r-- +1 .* 11 [0-9-]+ [0-9:]+ f$" &&
	out | grep -qE "^-.* 1048576 .* big$" && out | grep -qE "^-.* 0 .* e1$"'
t "ls -l marks directories" 'out | grep -qE "^drwxr-xr-x .* b$"'
t "ls -l prints one line per entry" '[ "$(out | wc -l)" -eq 6 ]'
run ls -a "$A" /a/f
t "ls of a file prints its path" '[ $st -eq 0 ] && [ "$(out)" = /a/f ]'
run ls -a "$A" /a/b /m1
t "ls of several directories prints headers" \
	'[ $st -eq 0 ] && [ "$(out | tr "\n" " ")" = "/a/b: c  /m1: " ]'
run stat -a "$A" /a/f
t "stat shows type, mode and size" \
	'[ $st -eq 0 ] && out | grep -qE "^/a/f: -rw-r--r-- mode 0644 size 11 ino [0-9]+ nlink 1 "'
run stat -a "$A" /a/b /a/f
t "stat of several paths prints a line each" \
	'[ $st -eq 0 ] && [ "$(out | wc -l)" -eq 2 ] &&
	out | head -1 | grep -q "^/a/b: drwxr-xr-x mode 0755 "'

# ---- mv ----

run mv -a "$A" /a/f /a/g
t "mv renames a file" '[ $st -eq 0 ] && [ ! -s "$T/out" ]'
run cat -a "$A" /a/g
t "the renamed file has the old content" '[ "$(out)" = short+more ]'
run cat -a "$A" /a/f
t "the old name is gone" 'fails /a/f'
run mv -a "$A" /a/g /a/b/g
t "mv moves a file across directories" '[ $st -eq 0 ]'
run mv -a "$A" /m1 /a/b/m1
t "mv moves a directory across directories" '[ $st -eq 0 ]'
run ls -a "$A" /a/b
t "both arrived" '[ "$(out | tr "\n" " ")" = "c g m1 " ]'
run mv -a "$A" /a/nothere /a/x
t "mv of a missing path fails, naming it" 'fails /a/nothere'

# ---- ln ----

run ln -a "$A" /a/b/g /a/h
t "ln makes a hard link" '[ $st -eq 0 ]'
run stat -a "$A" /a/h
t "the hard link shows nlink 2" 'out | grep -q " nlink 2 "'
run cat -a "$A" /a/h
t "the hard link reads the same content" '[ "$(out)" = short+more ]'
run ln -a "$A" -s b/g /a/s
t "ln -s makes a symbolic link" '[ $st -eq 0 ]'
run ls -a "$A" -l /a
t "ls -l shows the symbolic link's arrow" 'out | grep -qE "^l.* s -> b/g$"'
run cat -a "$A" /a/s
t "cat follows the symbolic link" '[ "$(out)" = short+more ]'
run stat -a "$A" /a/s
t "stat shows the link itself" 'out | grep -qE "^/a/s: lrwxrwxrwx .* size 3 "'
run ln -a "$A" -s b/g /a/s
t "ln -s over an existing name fails" 'fails /a/s && grep -q "File exists" "$T/err"'
run ln -a "$A" /a/nothere /a/h2
t "ln of a missing target names the target" 'fails /a/nothere'
t "ln of a missing target fails" '[ $st -eq 1 ] && [ -s "$T/err" ]'
run ln -a "$A" /a/b /a/b2
t "ln of a directory fails" 'fails /a/b2'

# ---- rm ----

run rm -a "$A" /a/b
t "rm of a directory without -r fails with a message" \
	'fails /a/b && grep -q "Is a directory" "$T/err"'
run ls -a "$A" /a/b
t "the directory is still there" '[ "$(out | tr "\n" " ")" = "c g m1 " ]'
run rm -a "$A" /a/h /a/s
t "rm removes files and links" '[ $st -eq 0 ]'
run cat -a "$A" /a/b/g
t "rm of a symbolic link leaves its target" '[ "$(out)" = short+more ]'
run rm -a "$A" /a/h
t "rm of a missing file fails, naming it" 'fails /a/h && grep -q "No such file" "$T/err"'
run rm -a "$A" -r /a
t "rm -r removes a tree" '[ $st -eq 0 ] && [ ! -s "$T/err" ]'
run ls -a "$A" /
t "the tree is gone" '[ "$(out | tr "\n" " ")" = "dev m2 mem srv task " ]'
run rm -a "$A" -r /a
t "rm -r of a missing path fails" 'fails /a'

# ---- missing paths ----

for v in ls stat cat; do
	run $v -a "$A" /nope
	t "$v of a missing path: status 1, message names it" \
		'fails /nope && grep -qF "boxfs $v: /nope: No such file or directory" "$T/err"'
done
input x
run write -a "$A" /nope/f
t "write into a missing directory fails, naming the path" 'fails /nope/f'
input x
run append -a "$A" /nope/f
t "append into a missing directory fails, naming the path" 'fails /nope/f'
run create -a "$A" /nope/f
t "create in a missing directory fails, naming the path" 'fails /nope/f'

# ---- usage ----

run
t "no verb is a usage error" "$is_usage"
run frob
t "an unknown verb is a usage error" '[ $st -eq 2 ] && grep -q frob "$T/err"'
for args in "cat" "stat" "write" "write /a /b" "append" "xwrite /a" "create" "mkdir" "rm" \
	"mv /a" "mv /a /b /c" "ln /a" "ln -s /a" "ls -z" "cat -q /a" "serve extra"; do
	run $args
	t "usage error: boxfs $args" "$is_usage"
done
run -a "$A"
t "-a without a verb is a usage error" '[ $st -eq 2 ]'
for v in ls stat cat write append xwrite create mkdir rm mv ln serve; do
	run $v --help
	t "$v --help prints usage" '[ $st -eq 0 ] && out | head -1 | grep -q "^usage: boxfs $v"'
done
run --help
t "--help prints usage" '[ $st -eq 0 ] && out | head -1 | grep -q "^usage:"'
run -h
t "-h prints usage" '[ $st -eq 0 ] && out | head -1 | grep -q "^usage:"'

# ---- addresses ----

run -a "$A" ls /
t "-a before the verb" '[ $st -eq 0 ] && [ "$(out | tr "\n" " ")" = "dev m2 mem srv task " ]'
st=; BOXFS_ADDRESS=$A timeout 20 "$B" ls / </dev/null >"$T/out" 2>"$T/err"
st=$?
t "\$BOXFS_ADDRESS" '[ $st -eq 0 ] && [ "$(out | tr "\n" " ")" = "dev m2 mem srv task " ]'
st=; BOXFS_ADDRESS="unix!$T/nosock" timeout 20 "$B" ls -a "$A" / </dev/null >"$T/out" 2>"$T/err"
st=$?
t "-a overrides \$BOXFS_ADDRESS" '[ $st -eq 0 ] && [ "$(out | tr "\n" " ")" = "dev m2 mem srv task " ]'
run ls -a "unix!$T/nosock" /
t "no server: status 1, message names the address" \
	'[ $st -eq 1 ] && grep -qF "cannot connect to unix!$T/nosock" "$T/err"'
run ls -a "nonsense" /
t "a bad address: status 1 or 2, a message" '[ $st -eq 1 -o $st -eq 2 ] && [ -s "$T/err" ]'

# ---- dialects ----

for D in 9P2000.L 9P2000.u 9P2000; do
	run mkdir -a "$A" -D "$D" -p "/$D/sub"
	t "-D $D: mkdir -p" '[ $st -eq 0 ]'
	input "in $D"$'\n'
	run write -a "$A" -D "$D" "/$D/f"
	input "more"$'\n'
	run append -a "$A" -D "$D" "/$D/f"
	run cat -a "$A" -D "$D" "/$D/f"
	printf 'in %s\nmore\n' "$D" >"$T/want"
	t "-D $D: write, append, cat" '[ $st -eq 0 ] && cmp -s "$T/out" "$T/want"'
	run ls -a "$A" -D "$D" -l "/$D"
	t "-D $D: ls -l shows the size" 'out | grep -qE "^-rw-r--r-- .* $((${#D} + 9)) .* f$"'
	run mv -a "$A" -D "$D" "/$D/f" "/$D/g"
	run cat -a "$A" -D "$D" "/$D/g"
	t "-D $D: mv within a directory" '[ "$(out | head -1)" = "in $D" ]'
	run ln -a "$A" -D "$D" -s g "/$D/s"
	if [ "$D" = 9P2000 ]; then
		t "-D 9P2000: ln -s is not supported" \
			'fails "/$D/s" && grep -q "not supported" "$T/err"'
	else
		run ls -a "$A" -D "$D" -l "/$D"
		t "-D $D: ln -s, and ls -l shows the arrow" 'out | grep -qE "^l.* s -> g$"'
	fi
	run rm -a "$A" -D "$D" -r "/$D"
	t "-D $D: rm -r" '[ $st -eq 0 ]'
done
run ls -a "$A" -D 9P1999 /
t "an unknown dialect fails" '[ $st -ne 0 ] && [ -s "$T/err" ]'

# ---- serve: SIGTERM, and what it keeps ----

echo precious >"$T/keep"
run serve -l "unix!$T/sock"
t "a second server on a busy socket fails with status 1" \
	'[ $st -eq 1 ] && grep -q "Address already in use" "$T/err"'
run ls -a "$A" /
t "the first server still answers on its socket" '[ $st -eq 0 ] && [ "$(out | tr "\n" " ")" = "dev m2 mem srv task " ]'
stop_server "$S"
t "serve exits 0 on SIGTERM" '[ "$sst" = 0 ]'
t "serve kept the files beside its socket" \
	'[ -d "$T" ] && [ "$(cat "$T/keep")" = precious ] && [ -s "$T/serve.out" ]'

# a regular file where the socket should go is not the server's to remove
echo precious >"$T/notasock"
"$B" serve -l "unix!$T/notasock" >"$T/out" 2>"$T/err" &
p=$!
pids+=("$p")
sleep 0.5
if kill -0 "$p" 2>/dev/null; then
	stop_server "$p"
	st=running
else
	wait "$p"
	st=$?
	forget "$p"
fi
t "serve refuses a socket path that is a regular file, and keeps the file" \
	'[ "$(cat "$T/notasock" 2>/dev/null)" = precious ]'

# host exports
mkdir -p "$T/exp/sub" "$T/exp2"
echo exported >"$T/exp/sub/file"
start_server --export "$T/exp" -l "unix!$T/esock"
E="unix!$T/esock"
run cat -a "$E" /sub/file
t "--export DIR serves DIR as the root" '[ $st -eq 0 ] && [ "$(out)" = exported ]'
input 'from a client'
run write -a "$E" /sub/new
t "files written through an export land in DIR" '[ "$(cat "$T/exp/sub/new")" = "from a client" ]'
stop_server "$spid"
start_server --export "$T/exp" --ro -l "unix!$T/esock"
input 'nope'
run write -a "$E" /sub/new2
t "--ro refuses changes" 'fails /sub/new2 && grep -q "Read-only" "$T/err" && [ ! -e "$T/exp/sub/new2" ]'
stop_server "$spid"
start_server --export "one=$T/exp" --export "two=$T/exp2" -l "unix!$T/esock"
run cat -a "$E" -A one /sub/file
t "a named export is attached by its name" '[ $st -eq 0 ] && [ "$(out)" = exported ]'
run ls -a "$E" /
t "named exports sit beside the RAM tree and the memfiles" \
	'[ "$(out | tr "\n" " ")" = "dev mem one srv task two " ]'
stop_server "$spid"
run serve --export "$T/nonexistent" -l "unix!$T/esock2"
t "exporting a missing directory fails clearly" '[ $st -eq 1 ] && grep -q "nonexistent" "$T/err"'
run serve --squash nonsense -l "unix!$T/esock2"
t "a bad --squash is a usage error" '[ $st -eq 2 ]'

# the default socket, under $XDG_RUNTIME_DIR
mkdir -p "$T/run"
export XDG_RUNTIME_DIR=$T/run
unset BOXFS_ADDRESS
start_server
t "serve with no -l listens on \$XDG_RUNTIME_DIR/boxfs/9p" \
	'grep -qxF "boxfs: serving 9p on unix!$T/run/boxfs/9p" "$T/serve.out" ||
	 { sed "s/^/#   serve.out: /" "$T/serve.out"; false; }'
run mkdir /def
run ls /
t "client verbs default to the same socket" '[ $st -eq 0 ] && [ "$(out | tr "\n" " ")" = "def dev mem srv task " ]'
stop_server "$spid"
t "that server exits 0 on SIGTERM too" '[ "$sst" = 0 ]'
t "and keeps its socket directory" '[ -d "$T/run/boxfs" ]'

echo "1..$n"

#!/bin/sh
# guest-test.sh — the checks run inside the QEMU guest (busybox sh) against
# a 9P server on the host, through Linux's kernel 9p client.
#
# Started by /init (tests/interop/guest-init.sh) once per boot. It reads
# /etc/interop.conf (written by run.sh) for the port, the aname and the list
# of configurations, then for each configuration VERSION:CACHE mounts the
# export on /mnt, runs every check in a directory of its own (/mnt/<config>),
# remounts to check persistence and unmounts.
#
# Results go to file descriptor 3 (the guest's second serial port, /dev/ttyS1)
# as TAP lines numbered across configurations: "ok N - [config] what",
# "not ok N - ...", "ok N - ... # SKIP reason". A failing check is followed by
# its output and the kernel log written meanwhile (dmesg), as "#" lines.
# "# hostcheck PATH SHA256", "# hostcount DIR N" and "# hostlink PATH TARGET"
# lines tell run.sh what to verify in the exported directory on the host.
# The last line is "# interop-done N".
#
# Each check runs as `guest-test.sh --one FUNCTION` in a session of its own,
# killed as a whole (kill -- -PGID) after $TEST_TIMEOUT seconds, since busybox
# `timeout` kills only its direct child. Before each check the script stats
# "/mnt/.interop-mark-N": that walk names the check in the server's debug log,
# which is how run.sh cuts the log excerpt of a failing check.
#
# Exit status 77 of a check means SKIP; its last output line is the reason.
set -u
. /etc/interop.conf
: "${PORT:?}" "${ANAME=}" "${CONFIGS:?}" "${BIGMB:=8}" "${TEST_TIMEOUT:=150}"
M=/mnt
M2=/mnt2
BIG=/tmp/big.src
export PORT ANAME BIGMB M M2 BIG

# ---------------------------------------------------------------- helpers
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "$*"; exit 77; }
# eq WHAT GOT WANT
eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
run() { "$@" || fail "command failed (status $?): $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
is_L() { [ "$V" = 9p2000.L ]; }
is_plain() { [ "$V" = 9p2000 ]; }

# mount_opts: the -o string for the current configuration
mount_opts() {
	# access=user: every guest user attaches as itself (n_uname) in .u/.L.
	# Plain 9P2000 has no numeric ids: the kernel forces access=any there;
	# say so, and attach as uname=root.
	if is_plain; then a=any; else a=user; fi
	o="trans=tcp,port=$PORT,version=$V,cache=$C,access=$a,uname=root"
	[ -n "$ANAME" ] && o="$o,aname=$ANAME"
	[ -n "${EXTRA_OPTS:-}" ] && o="$o,$EXTRA_OPTS"
	echo "$o"
}
do_mount() { mount -t 9p -o "$(mount_opts)" 10.0.2.2 "$1"; }

# ---------------------------------------------------------------- checks
# Each t_* runs in a child process with V, C, CFG, D (= /mnt/CFG) exported.

t_mount() {
	run do_mount "$M"
	grep " $M 9p " /proc/mounts || fail "no 9p mount on $M in /proc/mounts"
	mkdir -p "$D" || fail "mkdir $D"
	[ -d "$D" ] || fail "$D is not a directory"
}

t_create() {
	run mkdir "$D/dir1"
	run mkdir -p "$D/dir1/sub/deeper"
	run touch "$D/empty"
	echo "hello 9p" >"$D/dir1/hello" || fail "create with >"
	[ -f "$D/empty" ] || fail "empty file missing"
	eq "size of empty" "$(stat -c %s "$D/empty")" 0
	[ -d "$D/dir1/sub/deeper" ] || fail "nested dir missing"
	eq "content" "$(cat "$D/dir1/hello")" "hello 9p"
	eq "entries in dir1" "$(ls "$D/dir1" | tr '\n' ' ')" "hello sub "
	mkdir "$D/dir1" 2>/dev/null && fail "mkdir of an existing dir succeeded"
	run rmdir "$D/dir1/sub/deeper"
	[ -e "$D/dir1/sub/deeper" ] && fail "rmdir left the dir"
	true
}

t_bigfile() {
	want=$(cat /tmp/big.sha)
	run cp "$BIG" "$D/big.bin"
	eq "size" "$(stat -c %s "$D/big.bin")" $((BIGMB * 1048576))
	eq "sha256 (page cache)" "$(sha "$D/big.bin")" "$want"
	drop_caches
	eq "sha256 after drop_caches" "$(sha "$D/big.bin")" "$want"
	echo "# hostcheck $CFG/big.bin $want" >&3
	# Unaligned reads and an overwrite in the middle with odd block sizes.
	run dd if="$BIG" of="$D/big2.bin" bs=12345 2>/dev/null
	eq "sha256 of dd bs=12345 copy" "$(sha "$D/big2.bin")" "$want"
	printf 'PATCH' | dd of="$D/big2.bin" bs=1 seek=1000003 conv=notrunc 2>/dev/null || fail "dd overwrite"
	eq "size after overwrite" "$(stat -c %s "$D/big2.bin")" $((BIGMB * 1048576))
	eq "patched bytes" "$(dd if="$D/big2.bin" bs=1 skip=1000003 count=5 2>/dev/null)" PATCH
	run rm "$D/big2.bin"
}

t_append() {
	printf 'line1\n' >"$D/append.txt" || fail write
	printf 'line2\n' >>"$D/append.txt" || fail append
	printf 'line3\n' >>"$D/append.txt" || fail append
	drop_caches
	eq "content" "$(cat "$D/append.txt" | tr '\n' ' ')" "line1 line2 line3 "
	eq "size" "$(stat -c %s "$D/append.txt")" 18
	echo "# hostcheck $CFG/append.txt $(sha "$D/append.txt")" >&3
}

t_truncate() {
	f="$D/trunc.bin"
	printf 'abcdefghij' >"$f" || fail write
	run truncate -s 100000 "$f"
	eq "size after grow" "$(stat -c %s "$f")" 100000
	drop_caches
	eq "head after grow" "$(head -c 10 "$f")" abcdefghij
	eq "zero bytes in grown part" "$(tail -c 99990 "$f" | tr -d '\000' | wc -c)" 0
	run truncate -s 4 "$f"
	eq "size after shrink" "$(stat -c %s "$f")" 4
	drop_caches
	eq "content after shrink" "$(cat "$f")" abcd
	run truncate -s 0 "$f"
	eq "size after truncate to 0" "$(stat -c %s "$f")" 0
	# O_TRUNC through the shell
	echo again >"$f"
	echo x >"$f"
	eq "content after O_TRUNC" "$(cat "$f")" x
}

t_rename() {
	run mkdir -p "$D/ren/a" "$D/ren/b"
	echo one >"$D/ren/a/f1"
	echo two >"$D/ren/a/f2"
	run mv "$D/ren/a/f1" "$D/ren/a/g1"                  # same directory
	[ -e "$D/ren/a/f1" ] && fail "old name still there"
	eq "renamed content" "$(cat "$D/ren/a/g1")" one
	run mv "$D/ren/a/g1" "$D/ren/b/h1"                  # across directories
	[ -e "$D/ren/a/g1" ] && fail "old name still there (across dirs)"
	eq "moved content" "$(cat "$D/ren/b/h1")" one
	run mv -f "$D/ren/a/f2" "$D/ren/b/h1"               # replacing a file
	eq "replaced content" "$(cat "$D/ren/b/h1")" two
	[ -e "$D/ren/a/f2" ] && fail "source of replacing rename still there"
	run mkdir -p "$D/ren/a/dir/inner"
	echo deep >"$D/ren/a/dir/inner/file"
	run mv "$D/ren/a/dir" "$D/ren/a/dir2"               # directory, same parent
	run mv "$D/ren/a/dir2" "$D/ren/b/dir3"              # directory, across
	[ -e "$D/ren/a/dir2" ] && fail "old dir name still there"
	eq "file in moved dir" "$(cat "$D/ren/b/dir3/inner/file")" deep
	eq "listing of a" "$(ls "$D/ren/a" | wc -l)" 0
	eq "listing of b" "$(ls "$D/ren/b" | tr '\n' ' ')" "dir3 h1 "
	# rename of an open file (same directory: in 9P2000/.u Linux renames
	# across directories by copying, EXDEV), then write through the old fd
	exec 4>"$D/ren/b/open"
	run mv "$D/ren/b/open" "$D/ren/b/opened"
	echo through-fd >&4
	exec 4>&-
	eq "write through fd after rename" "$(cat "$D/ren/b/opened")" through-fd
}

t_hardlink() {
	echo linked >"$D/lnk.src"
	if ! ln "$D/lnk.src" "$D/lnk.dst" 2>/tmp/ln.err; then
		is_plain && skip "not in 9P2000 ($(cat /tmp/ln.err))"
		fail "ln: $(cat /tmp/ln.err)"
	fi
	# 9P2000.u carries nlink only as "HARDLINKCOUNT n" in the stat
	# extension (Linux reads it, QEMU's server sends it): check the link
	# itself first and the count at the end
	nl=$(stat -c %h "$D/lnk.src")
	nl3=3
	if [ "$V" = 9p2000.u ] && [ "$nl" = 1 ]; then nl=2; nl3=1; fi
	eq "nlink of source" "$nl" 2
	[ $nl3 = 3 ] && eq "nlink of link" "$(stat -c %h "$D/lnk.dst")" 2
	eq "same inode" "$(stat -c %i "$D/lnk.dst")" "$(stat -c %i "$D/lnk.src")"
	echo more >>"$D/lnk.dst"
	drop_caches
	eq "content through the other name" "$(cat "$D/lnk.src" | tr '\n' ' ')" "linked more "
	run mkdir -p "$D/lnkdir"
	run ln "$D/lnk.src" "$D/lnkdir/third"
	[ $nl3 = 3 ] && eq "nlink with three names" "$(stat -c %h "$D/lnk.src")" 3
	run rm "$D/lnk.src"
	[ $nl3 = 3 ] && eq "nlink after unlink" "$(stat -c %h "$D/lnk.dst")" 2
	eq "content after unlink of one name" "$(cat "$D/lnkdir/third" | tr '\n' ' ')" "linked more "
	[ $nl3 = 3 ] || fail "links work, but stat shows nlink 1 for a file with 2 and 3 names:" \
		"no 'HARDLINKCOUNT n' stat extension in $V (Linux reads it, QEMU's server sends it)"
}

t_symlink() {
	echo target-data >"$D/sym.target"
	if ! ln -s sym.target "$D/sym.link" 2>/tmp/ln.err; then
		is_plain && skip "not in 9P2000 ($(cat /tmp/ln.err))"
		fail "ln -s: $(cat /tmp/ln.err)"
	fi
	eq "readlink" "$(readlink "$D/sym.link")" sym.target
	[ -L "$D/sym.link" ] || fail "not a symlink (lstat)"
	eq "read through symlink" "$(cat "$D/sym.link")" target-data
	echo "# hostlink $CFG/sym.link sym.target" >&3
	run ln -s /no/such/place "$D/sym.dangling"
	eq "readlink of a dangling link" "$(readlink "$D/sym.dangling")" /no/such/place
	[ -e "$D/sym.dangling" ] && fail "dangling link resolves"
	run mkdir -p "$D/symdir/x"
	run ln -s symdir/x "$D/sym.dir"
	echo via-dirlink >"$D/sym.dir/f" || fail "create through a dir symlink"
	eq "file via dir symlink" "$(cat "$D/symdir/x/f")" via-dirlink
	run rm "$D/sym.dir"
	[ -d "$D/symdir/x" ] || fail "removing the link removed the target"
	true
}

t_chmod() {
	echo m >"$D/mode.f"
	run chmod 640 "$D/mode.f"
	eq "mode 640" "$(stat -c %a "$D/mode.f")" 640
	if ! is_plain; then # 9P2000 has no setuid bit (DMSETUID is .u)
		run chmod 4755 "$D/mode.f"
		eq "mode 4755" "$(stat -c %a "$D/mode.f")" 4755
	fi
	run chmod 600 "$D/mode.f"
	eq "mode 600" "$(stat -c %a "$D/mode.f")" 600
	run mkdir -p "$D/mode.d"
	run chmod 750 "$D/mode.d"
	eq "dir mode 750" "$(stat -c %a "$D/mode.d")" 750
	eq "file type" "$(stat -c %F "$D/mode.f")" "regular file"
	eq "dir type" "$(stat -c %F "$D/mode.d")" "directory"
	# the mode survives a rewrite of the content
	echo rewritten >"$D/mode.f"
	drop_caches
	eq "mode after rewrite" "$(stat -c %a "$D/mode.f")" 600
}

# 2001-02-03 04:05:06 UTC and 2011-12-13 14:15:16 UTC
T1=981173106
T2=1323785716
t_times() {
	echo t >"$D/time.f"
	run touch -d "2001-02-03 04:05:06" "$D/time.f"
	eq "mtime after touch -d" "$(stat -c %Y "$D/time.f")" $T1
	eq "atime after touch -d" "$(stat -c %X "$D/time.f")" $T1
	drop_caches
	eq "mtime after drop_caches" "$(stat -c %Y "$D/time.f")" $T1
	run mkdir -p "$D/time.d"
	run touch -d "2011-12-13 14:15:16" "$D/time.d"
	eq "dir mtime" "$(stat -c %Y "$D/time.d")" $T2
	# a write moves mtime to about now
	echo x >"$D/time.w"
	run touch -d "2001-02-03 04:05:06" "$D/time.w"
	echo y >>"$D/time.w"
	sync
	drop_caches
	now=$(date +%s)
	m=$(stat -c %Y "$D/time.w")
	[ "$m" -gt $((now - 3600)) ] && [ "$m" -le $((now + 3600)) ] ||
		fail "mtime after write is $m, guest clock says $now"
	# a rename keeps mtime
	run touch -d "2001-02-03 04:05:06" "$D/time.w"
	run mv "$D/time.w" "$D/time.w2"
	eq "mtime after rename" "$(stat -c %Y "$D/time.w2")" $T1
	# creating an entry changes the directory's mtime
	run touch -d "2001-02-03 04:05:06" "$D/time.d"
	run touch "$D/time.d/new"
	drop_caches
	[ "$(stat -c %Y "$D/time.d")" != $T1 ] || fail "directory mtime unchanged by a create"
	true
}

t_dir1000() {
	run mkdir "$D/many"
	cd "$D/many" || fail cd
	seq 1 1000 | sed 's/^/file-number-/' | xargs touch || fail "xargs touch"
	cd / || fail cd
	drop_caches
	eq "ls -l regular files" "$(ls -l "$D/many" | grep -c '^-')" 1000
	eq "ls entries" "$(ls "$D/many" | wc -l)" 1000
	# 9P2000/.u directory reads hold no . and .., and Linux adds none
	if is_L; then dots=2; else dots=0; fi
	eq "ls -a entries" "$(ls -a "$D/many" | wc -l)" $((1000 + dots))
	eq "distinct names" "$(ls "$D/many" | sort -u | wc -l)" 1000
	eq "find count" "$(find "$D/many" -type f | wc -l)" 1000
	[ -e "$D/many/file-number-777" ] || fail "file-number-777 missing"
	# remove half and list again
	cd "$D/many" || fail cd
	seq 1 2 1000 | sed 's/^/file-number-/' | xargs rm || fail "xargs rm"
	cd / || fail cd
	eq "entries after removing 500" "$(ls "$D/many" | wc -l)" 500
	eq "ls -l after removing 500" "$(ls -l "$D/many" | grep -c '^-')" 500
	echo "# hostcount $CFG/many 500" >&3
}

nolocks() { skip "Linux's $V client grants every fcntl lock without checking (no Tlock in $V)"; }
t_lock() {
	is_L || nolocks
	echo lock >"$D/lock.f"
	run guest-helper lock "$D/lock.f"
	run guest-helper getlk "$D/lock.f"
}

# lock2 MODE: the lock helper's MODE (lock, getlk) through two mounts, that is
# two 9P connections: the server sees the conflict (Tlock, Tgetlock)
lock2() {
	is_L || nolocks
	echo lock >"$D/$1.f"
	mkdir -p "$M2"
	run do_mount "$M2"
	guest-helper "$1" "$D/$1.f" "$M2/$CFG/$1.f"
	rc=$?
	umount "$M2" || fail "umount $M2"
	[ $rc = 0 ] || fail "guest-helper $1 through two mounts: status $rc"
}
t_lock2() { lock2 lock; }
t_getlk2() { lock2 getlk; }

MMAPSIZE=1048699   # 1 MiB + 123: not page aligned
t_mmap() {
	guest-helper mmap "$D/mmap.bin" $MMAPSIZE
	rc=$?
	if [ $rc = 77 ]; then
		rm -f "$D/mmap.bin"
		[ "$C" = none ] && skip "no shared writable mmap with cache=none (Linux maps read-only)"
		fail "shared writable mmap refused with cache=$C"
	fi
	[ $rc = 0 ] || fail "guest-helper mmap: status $rc"
	drop_caches
	run guest-helper verify "$D/mmap.bin" $MMAPSIZE
	echo "# hostcheck $CFG/mmap.bin $(sha "$D/mmap.bin")" >&3
}

t_xattr() {
	echo x >"$D/xattr.f"
	guest-helper xattr "$D/xattr.f"
	rc=$?
	if [ $rc = 77 ]; then
		is_L || skip "no xattrs in $V (Txattrwalk is 9P2000.L)"
		fail "xattrs not supported in 9P2000.L"
	fi
	[ $rc = 0 ] || fail "guest-helper xattr: status $rc"
}

t_unlinked() {
	run guest-helper unlinked "$D/unlinked.f"
	[ -e "$D/unlinked.f" ] && fail "unlinked file visible again"
	true
}

t_unlinked_fstat() {
	# nlink 0 is checked in 9P2000.L only: 9P2000 has no link count, and
	# 9P2000.u only the HARDLINKCOUNT convention (see t_hardlink)
	if is_L; then
		run guest-helper unlinked-fstat "$D/unlinked2.f" 0
	else
		run guest-helper unlinked-fstat "$D/unlinked2.f"
	fi
}

t_rmr() {
	run mkdir -p "$D/tree/a/b/c" "$D/tree/x/y" "$D/tree/empty"
	for d in tree tree/a tree/a/b tree/a/b/c tree/x tree/x/y; do
		for i in 1 2 3; do echo "$d/$i" >"$D/$d/f$i" || fail "create $d/f$i"; done
	done
	is_plain || ln -s a/b "$D/tree/link" || fail "symlink in tree"
	run chmod 500 "$D/tree/x/y"        # rm -r as root must still remove it
	run rm -r "$D/tree"
	[ -e "$D/tree" ] && fail "tree still exists: $(find "$D/tree" | head)"
	drop_caches
	ls "$D" | grep -qx tree && fail "tree still listed"
	true
}

# Unmount, mount again, check that what the earlier checks wrote is there.
t_remount() {
	cd / || fail cd
	run umount "$M"
	grep -q " $M 9p " /proc/mounts && fail "still mounted"
	run do_mount "$M"
	eq "big file sha256" "$(sha "$D/big.bin")" "$(cat /tmp/big.sha)"
	eq "append file" "$(cat "$D/append.txt" | tr '\n' ' ')" "line1 line2 line3 "
	eq "renamed file" "$(cat "$D/ren/b/h1")" two
	eq "moved dir" "$(cat "$D/ren/b/dir3/inner/file")" deep
	eq "mode" "$(stat -c %a "$D/mode.f")" 600
	eq "dir mode" "$(stat -c %a "$D/mode.d")" 750
	eq "mtime" "$(stat -c %Y "$D/time.f")" $T1
	eq "mtime of a renamed file" "$(stat -c %Y "$D/time.w2")" $T1
	eq "1000-entry dir now 500" "$(ls "$D/many" | wc -l)" 500
	if ! is_plain; then
		eq "hard link: same inode" "$(stat -c %i "$D/lnk.dst")" "$(stat -c %i "$D/lnkdir/third")"
		is_L && eq "hard link count" "$(stat -c %h "$D/lnk.dst")" 2
		eq "symlink" "$(readlink "$D/sym.link")" sym.target
	fi
	if [ -f "$D/mmap.bin" ]; then
		run guest-helper verify "$D/mmap.bin" $MMAPSIZE
	fi
	eq "truncated file size" "$(stat -c %s "$D/trunc.bin")" 2
}

t_umount() {
	cd / || fail cd
	run umount "$M"
}

# ---------------------------------------------------------------- runner
if [ "${1:-}" = --one ]; then
	cd /tmp || exit 1
	"$2"
	exit $?
fi

exec 3>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo 2>/dev/null
N=0
MOUNTED=0

# tap DESCRIPTION FUNCTION: run one check and report it
tap() {
	N=$((N + 1))
	desc=$1
	fn=$2
	[ "$MOUNTED" = 1 ] && stat "$M/.interop-mark-$N" >/dev/null 2>&1
	dmesg -c >/dev/null 2>&1
	start=$(date +%s)
	setsid /bin/sh /guest-test.sh --one "$fn" >/tmp/t.out 2>&1 </dev/null &
	pid=$!
	setsid sh -c "sleep $TEST_TIMEOUT; kill -9 -- -$pid" >/dev/null 2>&1 &
	wd=$!
	wait $pid
	rc=$?
	kill -9 -- -$wd 2>/dev/null
	secs=$(($(date +%s) - start))
	case $rc in
	0) echo "ok $N - [$CFG] $desc (${secs}s)" >&3 ;;
	77) echo "ok $N - [$CFG] $desc # SKIP $(tail -n 1 /tmp/t.out)" >&3 ;;
	*)
		[ $rc = 137 ] && [ "$secs" -ge "$TEST_TIMEOUT" ] && echo "FAIL: timed out after ${secs}s (killed)" >>/tmp/t.out
		echo "not ok $N - [$CFG] $desc" >&3
		sed 's/^/#   /' /tmp/t.out | tail -n 30 >&3
		dmesg | tail -n 20 | sed 's/^/#   dmesg: /' >&3
		;;
	esac
	return $rc
}

echo "# guest: Linux $(uname -r), busybox $(busybox | head -n 1 | cut -d' ' -f2)" >&3
dd if=/dev/urandom of="$BIG" bs=1M count="$BIGMB" 2>/dev/null
sha "$BIG" >/tmp/big.sha
mkdir -p "$M" "$M2"

# The checks of one configuration, in order: FUNCTION DESCRIPTION
CHECKS='t_create create files and directories
t_bigfile write and read back BIGMB MiB (sha256)
t_append append
t_truncate truncate (grow and shrink)
t_rename rename files and directories, across directories
t_hardlink hard links (nlink via stat)
t_symlink symbolic links (readlink)
t_chmod chmod
t_times timestamps (touch -d, stat)
t_dir1000 directory of 1000 entries (ls -l)
t_lock fcntl locks, two processes, one mount
t_lock2 fcntl locks, two mounts (server decides)
t_getlk2 F_GETLK, two mounts (server reports the holder)
t_mmap shared writable mmap
t_xattr xattrs (user.*)
t_unlinked read and write an unlinked open file
t_unlinked_fstat fstat of an unlinked open file
t_rmr rm -r of a tree
t_remount remount persistence
t_umount umount'

for cfg in $CONFIGS; do
	V=${cfg%%:*}
	C=${cfg#*:}
	CFG=$(echo "$cfg" | sed 's/9p2000\.\{0,1\}//; s/^:/plain:/; s/:/-/')
	D=$M/$CFG
	export V C CFG D
	echo "# configuration $CFG: mount -t 9p -o $(mount_opts) 10.0.2.2 $M" >&3
	tap "mount ($V, cache=$C)" t_mount
	mounted=$?
	while read -r fn desc; do
		desc=$(echo "$desc" | sed "s/BIGMB/$BIGMB/")
		if [ $mounted != 0 ]; then
			N=$((N + 1))
			echo "ok $N - [$CFG] $desc # SKIP the mount failed" >&3
			continue
		fi
		MOUNTED=1
		tap "$desc" "$fn"
	done <<EOF
$CHECKS
EOF
	MOUNTED=0
	grep -q " $M 9p " /proc/mounts && umount -f "$M" 2>/dev/null
	grep -q " $M 9p " /proc/mounts && umount -l "$M" 2>/dev/null
	grep -q " $M2 9p " /proc/mounts && umount -l "$M2" 2>/dev/null
done
echo "# interop-done $N" >&3

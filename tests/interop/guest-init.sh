#!/bin/busybox sh
# guest-init.sh — /init of the interoperability test's initramfs.
#
# Runs as PID 1 in the QEMU guest: installs the busybox applets, mounts
# /proc, /sys, /dev and /tmp, loads the kernel modules listed (in dependency
# order) in /lib/modules/load-order, brings up eth0 as 10.0.2.15/24 with
# 10.0.2.2 (the host's 127.0.0.1 under QEMU user networking) as gateway,
# runs /guest-test.sh, then powers the guest off. Anything going wrong here
# is reported on the results channel (/dev/ttyS1) as a "not ok" line so that
# run.sh never waits for a guest that cannot test anything.
set -u
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /mnt /mnt2
# --install finds busybox through /proc/self/exe: mount /proc first
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
export TZ=UTC

die() {
	echo "not ok 1 - guest setup: $*" >/dev/ttyS1
	dmesg | tail -n 30 | sed 's/^/#   dmesg: /' >/dev/ttyS1
	echo "# interop-done 1" >/dev/ttyS1
	sync
	poweroff -f
}

while read -r m; do
	[ -n "$m" ] || continue
	insmod "/lib/modules/$m" || die "insmod $m failed"
done </lib/modules/load-order

i=0
while [ ! -e /sys/class/net/eth0 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && die "no eth0 after loading virtio_net"
	sleep 0.1
done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

/bin/sh /guest-test.sh
sync
poweroff -f

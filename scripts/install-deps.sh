#!/bin/sh
# Installs the Debian packages boxfs builds and tests with, when missing.
set -eu
pkgs="meson ninja-build pkg-config gcc clang libclang-rt-14-dev libcmocka-dev
      libfuse3-dev fuse3 libssl-dev openssl clang-format python3 fio sqlite3 git"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "boxfs: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "boxfs: need root (or sudo) to install:$missing" >&2; exit 1; }
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null

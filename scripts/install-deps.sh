#!/bin/bash
# Installs, from Debian's archive, what vmon needs to build, test and run its
# lab. Idempotent; quiet when everything is there already.
set -euo pipefail

packages=(
	meson ninja-build gcc clang lld pkg-config  # build, both compilers, libFuzzer
	binutils                                    # as/ld/objcopy for the tiny guests
	linux-libc-dev                              # <linux/kvm.h>, <asm/bootparam.h>
	acpica-tools                                # iasl checks our ACPI tables
	python3                                     # counts test results
	qemu-system-x86 busybox-static cpio lz4 xz-utils  # the nested lab
	e2fsprogs
	liburing-dev                                # io_uring for the disk backend
	libjansson-dev libmicrohttpd-dev curl       # the management API: JSON, HTTP, its tests
	zlib1g-dev                                  # the state format's checksum (crc32)
	iproute2                                    # the demo's TAP interface (ip tuntap)
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

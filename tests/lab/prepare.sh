#!/bin/bash
# Usage: tests/lab/prepare.sh BUILD_DIR
#
# Prepares everything of the nested lab that does not depend on vmon, under
# BUILD_DIR/lab/, and is idempotent: a second run only checks.
#   - installs the Debian packages the lab needs (as root, apt-get -y);
#   - fetches Debian's cloud kernel package with `apt-get download` (never
#     installed into the host's /boot) and extracts it;
#   - bzImage, and the ELF vmlinux extracted from it for PVH boot;
#   - L1's modules (decompressed) and their load order: irqbypass, kvm,
#     kvm-amd; tun, tap, vhost_iotlb, vhost, vhost_net (the network cases);
#     bridge, with llc and stp (bench/migrate.sh);
#   - L2's: the virtio drivers, virtio_net with net_failover and failover;
#   - the static helpers (marker-init, boottime; memcheck and pinggap for
#     the migrate case; qmp for bench/migrate.sh) and the L2 guest
#     initramfs: l2.cpio, and l2-test.cpio, which adds Debian's mke2fs,
#     lspci and memcheck for run.sh's checks.
# Environment: LAB_KERNEL_PKG=linux-image-... overrides the kernel package
# (default: what linux-image-cloud-amd64 depends on).
set -euo pipefail

# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The exact kernel package, e.g. linux-image-6.1.0-56-cloud-amd64.
resolve_kernel_package() {
	if [[ -n ${LAB_KERNEL_PKG:-} ]]; then
		echo "$LAB_KERNEL_PKG"
		return
	fi
	local deps
	deps=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null || true)
	if ! grep -q 'Depends: linux-image-' <<<"$deps"; then
		apt-get update -qq
		deps=$(apt-cache depends linux-image-cloud-amd64)
	fi
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' <<<"$deps"
}

# fetch_kernel PKG: download and extract PKG into kernel/PKG (once).
fetch_kernel() {
	local pkg=$1 dest=$LAB_OUT/kernel/$1 tmp
	[[ -f $dest/.extracted ]] && return 0
	mkdir -p "$LAB_OUT/cache"
	if ! compgen -G "$LAB_OUT/cache/${pkg}_*.deb" >/dev/null; then
		lab_log "downloading $pkg"
		# apt warns that its _apt user cannot write into the tree and
		# that it downloads as root instead: expected, so filtered out.
		# Success is judged below by the .deb being there.
		(cd "$LAB_OUT/cache" && apt-get download -qq "$pkg") 2>&1 |
			grep -v 'Download is performed unsandboxed' >&2 || true
	fi
	local deb
	deb=$(compgen -G "$LAB_OUT/cache/${pkg}_*.deb" | tail -n 1) ||
		lab_die "could not download $pkg"
	lab_tmpdir tmp
	dpkg-deb -x "$deb" "$tmp"
	rm -rf "$dest"
	mkdir -p "$(dirname "$dest")"
	mv "$tmp" "$dest"
	touch "$dest/.extracted"
}

# u8/u32 FILE OFFSET: little-endian unsigned integer at OFFSET.
u8() { od -An -tu1 -j "$(($2))" -N 1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$(($2))" -N 4 "$1" | tr -d ' '; }

# extract_vmlinux BZIMAGE OUT: the ELF vmlinux inside a bzImage.  The
# protected-mode part starts after the (setup_sects + 1) * 512 setup bytes;
# the compressed payload sits at payload_offset (0x248) into it, with
# payload_length (0x24c) bytes, the last 4 of which are the uncompressed size.
# Debian compresses it with legacy-format LZ4.
extract_vmlinux() {
	local bz=$1 out=$2
	local setup_sects payload_offset payload_length start size
	setup_sects=$(u8 "$bz" 0x1f1)
	payload_offset=$(u32 "$bz" 0x248)
	payload_length=$(u32 "$bz" 0x24c)
	start=$(((setup_sects + 1) * 512 + payload_offset))
	size=$(u32 "$bz" $((start + payload_length - 4)))
	dd if="$bz" iflag=skip_bytes,count_bytes skip="$start" \
		count=$((payload_length - 4)) status=none |
		lz4 -dc >"$out.tmp" || lab_die "$bz: payload is not LZ4"
	[[ $(stat -c %s "$out.tmp") == "$size" ]] ||
		lab_die "$bz: vmlinux has $(stat -c %s "$out.tmp") bytes, expected $size"
	# XEN_ELFNOTE_PHYS32_ENTRY (type 18 = 0x12) marks PVH support.
	readelf -n "$out.tmp" | grep -A1 -E '^ +Xen .*0x00000012' |
		grep -q 'description data' || lab_die "$bz: no PVH entry note"
	mv "$out.tmp" "$out"
}

# module_deps KO: the modules KO depends on, from its .modinfo section.
module_deps() {
	strings -a "$1" | sed -n 's/^depends=//p' | tr ',' ' '
}

# find_module KDIR NAME: path of NAME.ko or NAME.ko.xz ('-' and '_' alike).
find_module() {
	local name=${2//[-_]/[-_]}
	find "$1" \( -name "$name.ko" -o -name "$name.ko.xz" \) -print -quit
}

# add_module KDIR DEST NAME: copy NAME and (first) its dependencies to
# DEST, decompressed, appending each to DEST/load-order once.
add_module() {
	local kdir=$1 dest=$2 name=$3 src dep
	grep -qx -- "$name" "$dest/load-order" 2>/dev/null && return 0
	src=$(find_module "$kdir" "$name")
	[[ -n $src ]] || lab_die "module $name not found in $kdir"
	case $src in
	*.xz) xz -dc "$src" >"$dest/$name.ko" ;;
	*) cp "$src" "$dest/$name.ko" ;;
	esac
	for dep in $(module_deps "$dest/$name.ko"); do
		add_module "$kdir" "$dest" "$dep"
	done
	echo "$name" >>"$dest/load-order"
}

# collect_modules KDIR DEST NAME...: DEST holds exactly NAME... and their dependencies.
collect_modules() {
	local kdir=$1 dest=$2 name
	shift 2
	rm -rf "$dest.tmp" "$dest"
	mkdir -p "$dest.tmp"
	for name in "$@"; do
		add_module "$kdir" "$dest.tmp" "$name"
	done
	mv "$dest.tmp" "$dest"
}

# install_kernel PKG: bzImage, vmlinux and modules of the extracted PKG.
install_kernel() {
	local pkg=$1 kver root
	kver=${pkg#linux-image-}
	root=$LAB_OUT/kernel/$pkg
	if [[ $(cat "$LAB_KVER_FILE" 2>/dev/null) == "$kver" && -f $LAB_VMLINUX &&
		-f $LAB_MODULES/load-order && -f $LAB_L2_MODULES/load-order &&
		$LAB_L2_MODULES/load-order -nt $LAB_SRC_DIR/prepare.sh ]]; then
		return 0
	fi
	cp "$root/boot/vmlinuz-$kver" "$LAB_BZIMAGE"
	extract_vmlinux "$LAB_BZIMAGE" "$LAB_VMLINUX"
	# L1: KVM, and the TAP interfaces (tun, tap) and vhost-net that the
	# L2 guests' NICs use, and the bridge that bench/migrate.sh puts
	# QEMU's two TAPs on.  Dependencies come from each module's .modinfo.
	collect_modules "$root/lib/modules/$kver" "$LAB_MODULES" kvm-amd tun tap vhost_net bridge
	# L2's drivers for vmon's devices: Debian builds virtio as modules.
	collect_modules "$root/lib/modules/$kver" "$LAB_L2_MODULES" virtio_pci virtio_rng virtio_blk \
		virtio_mmio virtio_console virtio_net
	echo "$kver" >"$LAB_KVER_FILE"
	lab_log "kernel $kver: L1 modules $(tr '\n' ' ' <"$LAB_MODULES/load-order")"
	lab_log "kernel $kver: L2 modules $(tr '\n' ' ' <"$LAB_L2_MODULES/load-order")"
}

# l2_add_mkfs ROOT: Debian's mke2fs as /sbin/mke2fs and /sbin/mkfs.ext4,
# with its shared libraries and /etc/mke2fs.conf (busybox's mke2fs makes
# ext2 only).  Off PATH (/bin), so that busybox's applet stays the default.
l2_add_mkfs() {
	lab_add_dynamic "$1" /sbin/mke2fs /sbin/mke2fs
	ln -s mke2fs "$1/sbin/mkfs.ext4"
	install -D -m 644 /etc/mke2fs.conf "$1/etc/mke2fs.conf"
}

# l2_add_lspci ROOT: pciutils' lspci (busybox has none), with its libraries
# and the PCI ID database, for run.sh's check of what the guest enumerates.
l2_add_lspci() {
	lab_add_dynamic "$1" /usr/bin/lspci /usr/bin/lspci
	if [[ -e /usr/share/misc/pci.ids ]]; then
		install -D -m 644 "$(readlink -f /usr/share/misc/pci.ids)" "$1/usr/share/misc/pci.ids"
	fi
}

# l2_add_memcheck ROOT: the memory-checksumming workload as /bin/memcheck
# (run.sh's migrate case).
l2_add_memcheck() {
	install -m 755 "$LAB_BIN/memcheck" "$1/bin/memcheck"
}

# build_l2_initramfs OUT [ADD...]: busybox, marker-init as /init,
# l2-init.sh as /init.sh, the virtio modules, and whatever each function
# ADD puts into the tree (called with its root); unless OUT is up to date.
build_l2_initramfs() {
	local out=$1 src root add
	shift
	for src in "$LAB_BIN/marker-init" "$LAB_SRC_DIR/l2-init.sh" "$LAB_SRC_DIR/guest-lib.sh" \
		"$LAB_SRC_DIR/lib.sh" \
		"$LAB_SRC_DIR/prepare.sh" "$LAB_L2_MODULES/load-order" /sbin/mke2fs /usr/bin/lspci \
		"$LAB_BIN/memcheck"; do
		[[ $src -nt $out ]] && break
		src=
	done
	[[ -z $src ]] && return 0
	lab_tmpdir root
	lab_add_base "$root"
	install -m 755 "$LAB_BIN/marker-init" "$root/init"
	install -m 755 "$LAB_SRC_DIR/l2-init.sh" "$root/init.sh"
	install -m 644 "$LAB_SRC_DIR/guest-lib.sh" "$root/guest-lib.sh"
	cp -r "$LAB_L2_MODULES" "$root/modules"
	for add in "$@"; do
		"$add" "$root"
	done
	lab_cpio "$root" "$out"
	rm -rf "$root"
}

main() {
	[[ $# == 1 ]] || lab_die "usage: $0 BUILD_DIR"
	lab_init "$1"
	lab_lock prepare
	lab_ensure_packages "${LAB_HOST_PACKAGES[@]}"
	local pkg
	pkg=$(resolve_kernel_package)
	[[ -n $pkg ]] || lab_die "cannot resolve the cloud kernel package"
	fetch_kernel "$pkg"
	install_kernel "$pkg"
	lab_build_static "$LAB_BIN/marker-init" "$LAB_SRC_DIR/marker-init.c"
	lab_build_static "$LAB_BIN/boottime" "$LAB_REPO_DIR/bench/boottime.c"
	lab_build_static "$LAB_BIN/memcheck" "$LAB_SRC_DIR/memcheck.c"
	lab_build_static "$LAB_BIN/pinggap" "$LAB_SRC_DIR/pinggap.c"
	lab_build_static "$LAB_BIN/qmp" "$LAB_SRC_DIR/qmp.c"
	build_l2_initramfs "$LAB_L2_CPIO"
	build_l2_initramfs "$LAB_L2_TEST_CPIO" l2_add_mkfs l2_add_lspci l2_add_memcheck
	lab_log "prepared $LAB_OUT (kernel $(cat "$LAB_KVER_FILE"))"
}

main "$@"

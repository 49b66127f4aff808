#!/usr/bin/env bash
# deps.sh - install what libvio needs from Debian's packages, and nothing else.
#
# Called by demo.sh and test.sh, so the README's two commands work on a
# fresh Debian 12 machine. Installs only what is missing; re-running is
# cheap. Needs root or sudo when something is missing.
set -euo pipefail

packages=(
	gcc clang libclang-rt-14-dev      # compilers; clang's runtime for sanitizers and libFuzzer
	meson ninja-build pkg-config      # build
	libcmocka-dev                     # unit tests
	liburing-dev                      # blk device: io_uring file backend
	libseccomp-dev libcap-ng-dev      # daemons' sandbox: seccomp allowlists, capabilities
	python3                           # test result counting
	groff-base                        # man pages checked (groff -man -ww)
	libdpdk-dev                       # vio-bench's peer: DPDK's rte_ring
	dpdk-dev                          # dpdk-testpmd: DPDK's vhost and virtio-user PMDs as net peers
	qemu-system-x86 qemu-system-common # the Linux test guest's VMM (and qemu-storage-daemon)
	linux-image-amd64 busybox-static cpio  # the test guest: Debian's kernel, busybox initramfs
	iproute2                          # tests/guest/migrate.sh: network namespace, bridge, taps
	libnbd-dev nbdkit qemu-utils qemu-block-extra  # NBD storage: libnbd; nbdkit and qemu-nbd as test servers; qsd's nbd driver (bench)
	librbd-dev ceph-mon ceph-osd ceph-common  # RBD storage (librbd); the one-node test cluster
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/bin/sh
# Installs everything afalg-conformance needs on a fresh Debian machine (as root):
# qemu, Debian's 6.12 and 6.1 kernel images (with modules), and the Python package
# with its dependencies (pytest, hypothesis, cryptography, virtme-ng, the vector
# packages, atheris). Idempotent: a second run installs nothing new.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "$(id -u)" -eq 0 ]; then
    need_apt=0
    command -v qemu-system-x86_64 >/dev/null 2>&1 || need_apt=1
    ls /boot/vmlinuz-6.12.*+deb12-amd64 >/dev/null 2>&1 || need_apt=1
    ls /boot/vmlinuz-6.1.0-*-amd64 >/dev/null 2>&1 || need_apt=1
    if [ "$need_apt" = 1 ]; then
        apt-get update -q
        pkgs="qemu-system-x86"
        for pat in 'linux-image-6.12.*+deb12-amd64-unsigned' 'linux-image-6.1.0-[0-9]*-amd64-unsigned'; do
            newest=$(apt-cache search --names-only "^${pat}\$" | cut -d' ' -f1 | sort -V | tail -n 1)
            [ -n "$newest" ] && pkgs="$pkgs $newest"
        done
        # INITRD=No: vng boots the image directly; building an initramfs is wasted minutes.
        DEBIAN_FRONTEND=noninteractive INITRD=No apt-get install -y -q --no-install-recommends $pkgs
    fi
else
    echo "setup.sh: not root: skipping apt; as root run: $PY -m harness.cli bootstrap debian-6.12 debian-6.1" >&2
fi

$PY -m pip install -q --disable-pip-version-check -e ".[dev]"

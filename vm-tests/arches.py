"""The VM matrix: one row per guest, everything that differs between architectures.

Adding an architecture means adding a row here (see docs/vm-matrix.md); the image
builder (vmimage.py), the boot code (vmboot.py) and the suite read nothing else.
Several rows may share one image (``image``) and differ only in how they boot.
"""

from __future__ import annotations

import os
from typing import Dict, List

# Debian archive to build from (a local mirror or proxy works too)
MIRROR = os.environ.get("LXCZ_VM_MIRROR", "http://deb.debian.org/debian")

# Packages every guest gets on top of its kernel. Nothing else is installed: the guest
# init is busybox, sshd is the test transport, python3 runs dist/lxcz.
BASE_PACKAGES: List[str] = [
    "base-files", "base-passwd", "dash", "bash", "coreutils", "libc-bin", "util-linux",
    "mount", "procps", "kmod", "busybox-static", "openssh-server", "python3", "grep", "sed",
    "findutils", "iproute2", "gzip", "tar",
    # LVM backing store tests (this project's build host has no device-mapper)
    "lvm2", "e2fsprogs",
]

# images: Debian release x Debian architecture, built once and shared by rows
IMAGES: Dict[str, dict] = {
    "amd64-trixie": {"suite": "trixie", "debarch": "amd64", "kernel": "linux-image-amd64",
                     "python": "3.13"},
    "i386-bullseye": {"suite": "bullseye", "debarch": "i386", "kernel": "linux-image-686",
                      "python": "3.9"},
    "arm64-bookworm": {"suite": "bookworm", "debarch": "arm64", "kernel": "linux-image-arm64",
                       "python": "3.11"},
    "armhf-bookworm": {"suite": "bookworm", "debarch": "armhf", "kernel": "linux-image-armmp",
                       "python": "3.11"},
    "ppc64el-bookworm": {"suite": "bookworm", "debarch": "ppc64el",
                         "kernel": "linux-image-powerpc64le", "python": "3.11"},
    "s390x-bookworm": {"suite": "bookworm", "debarch": "s390x", "kernel": "linux-image-s390x",
                       "python": "3.11"},
}

# Modules the initramfs loads (with their dependencies) before mounting the root disk.
# Names that are built into a given kernel are skipped; missing ones are skipped too.
INITRAMFS_MODULES = ["virtio_pci", "virtio_mmio", "virtio_ccw", "virtio_blk", "virtio_net",
                     "crc32c_generic", "crc32c-intel", "ext4"]

# Kernel command line every guest gets. apparmor=0: the images carry no AppArmor
# userspace or profiles, and on a kernel with AppArmor on but no profile loaded LXC (and
# lxcz) refuse to start a container under the default profile. The guests stand for hosts
# without AppArmor; AppArmor itself needs a row whose image installs apparmor + profiles.
GUEST_CMDLINE = "apparmor=0"

_PCI = {"blk": "virtio-blk-pci", "net": "virtio-net-pci"}
_CCW = {"blk": "virtio-blk-ccw", "net": "virtio-net-ccw"}

# guests: the rows of the matrix, in the order ci/vm-matrix runs them
ARCHES: Dict[str, dict] = {
    "x86_64": {
        "image": "amd64-trixie", "qemu": "qemu-system-x86_64", "machine": "q35",
        "kvm": True, "cpu_kvm": "host,-arch-capabilities", "cpu_tcg": "max", "console": "ttyS0",
        "uname_m": "x86_64", **_PCI, "timeout_kvm": 30, "timeout_tcg": 600,
        "cmdline": "", "cgroup": "hybrid",
    },
    "x86_64-cgroup2": {
        "image": "amd64-trixie", "qemu": "qemu-system-x86_64", "machine": "q35",
        "kvm": True, "cpu_kvm": "host,-arch-capabilities", "cpu_tcg": "max", "console": "ttyS0",
        "uname_m": "x86_64", **_PCI, "timeout_kvm": 30, "timeout_tcg": 600,
        "cmdline": "cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 lxcz.cgroup=2",
        "cgroup": "unified",
    },
    "i686": {
        "image": "i386-bullseye", "qemu": "qemu-system-i386", "machine": "pc",
        "kvm": True, "cpu_kvm": "host,-arch-capabilities", "cpu_tcg": "max", "console": "ttyS0",
        "uname_m": "i686", **_PCI, "timeout_kvm": 30, "timeout_tcg": 600,
        "cmdline": "", "cgroup": "hybrid",
    },
    "arm64": {
        "image": "arm64-bookworm", "qemu": "qemu-system-aarch64", "machine": "virt",
        "kvm": False, "cpu_tcg": "cortex-a57", "console": "ttyAMA0",
        "uname_m": "aarch64", **_PCI, "timeout_tcg": 600, "cmdline": "", "cgroup": "hybrid",
    },
    "armhf": {
        "image": "armhf-bookworm", "qemu": "qemu-system-arm", "machine": "virt,highmem=off",
        "kvm": False, "cpu_tcg": "cortex-a15", "console": "ttyAMA0",
        "uname_m": "armv7l", **_PCI, "timeout_tcg": 600, "cmdline": "", "cgroup": "hybrid",
    },
    "ppc64el": {
        "image": "ppc64el-bookworm", "qemu": "qemu-system-ppc64",
        "machine": "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off",
        "kvm": False, "cpu_tcg": "POWER9", "console": "hvc0",
        "uname_m": "ppc64le", **_PCI, "timeout_tcg": 900, "cmdline": "", "cgroup": "hybrid",
    },
    "s390x": {
        "image": "s390x-bookworm", "qemu": "qemu-system-s390x", "machine": "s390-ccw-virtio",
        "kvm": False, "cpu_tcg": "max", "console": "ttysclp0",
        "uname_m": "s390x", **_CCW, "timeout_tcg": 900, "cmdline": "", "cgroup": "hybrid",
    },
}

# Debian package that provides each qemu binary, for the one-line "missing qemu" message.
QEMU_PACKAGES = {
    "qemu-system-x86_64": "qemu-system-x86", "qemu-system-i386": "qemu-system-x86",
    "qemu-system-aarch64": "qemu-system-arm", "qemu-system-arm": "qemu-system-arm",
    "qemu-system-ppc64": "qemu-system-ppc", "qemu-system-s390x": "qemu-system-misc",
}


def image_spec(name: str) -> dict:
    """The image row with the full package list."""
    spec = dict(IMAGES[name])
    spec["name"] = name
    spec["packages"] = sorted(set(BASE_PACKAGES + [spec["kernel"]]))
    return spec


if __name__ == "__main__":
    # the matrix as JSON, for the Vagrantfile
    import json
    import sys

    json.dump({"mirror": MIRROR, "arches": ARCHES, "guest_cmdline": GUEST_CMDLINE,
               "images": {n: image_spec(n) for n in IMAGES}}, sys.stdout, indent=1)
    sys.stdout.write("\n")

"""Where the running kernel's configuration is, in the order lxc-checkconfig tries.

Upstream's script reads ``$CONFIG`` (default ``/proc/config.gz``), then
``/boot/config-$(uname -r)``, then ``/lib/modules/$(uname -r)/build/.config``, and only
hints at ``modprobe configs``. lxcz tries the same files, then reads the configuration the
kernel embeds (``CONFIG_IKCONFIG``) straight from the files, without loading anything: the
``configs.ko`` module file and the kernel image in /boot or /lib/modules.
"""

from __future__ import annotations

import os

from lxcz.checkconfig import extract, kconfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

PROC_CONFIG = "/proc/config.gz"


def candidates(release: Optional[str] = None, root: str = "/") -> List[str]:
    """Paths to try for the running kernel (or release), best first."""
    kver = release or os.uname().release
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    mods = j("lib/modules", kver)
    out = [
        j("proc/config.gz"),
        j("boot", "config-" + kver),
        j("lib/modules", kver, "build/.config"),
        j("lib/modules", kver, "config"),  # Arch Linux and others
        j("usr/src", "linux-" + kver, ".config"),
    ]
    out += _configs_ko(mods)
    for name in ("vmlinuz-", "vmlinux-", "Image-", "zImage-"):
        out.append(j("boot", name + kver))
    out += [os.path.join(mods, "vmlinuz"), os.path.join(mods, "vmlinux")]
    return out


def _configs_ko(mods: str) -> List[str]:
    base = os.path.join(mods, "kernel/kernel/configs.ko")
    found = [base + ext for ext in ("", ".xz", ".zst", ".gz")]
    # modules.dep names the module wherever the distribution put it
    try:
        with open(os.path.join(mods, "modules.dep")) as f:
            for line in f:
                path = line.split(":", 1)[0]
                if os.path.basename(path).startswith("configs.ko"):
                    found.append(os.path.join(mods, path))
                    break
    except OSError:
        pass
    return found


def find(release: Optional[str] = None, root: str = "/") -> Tuple[kconfig.KernelConfig,
                                                                   List[str]]:
    """Load the first usable configuration; return it and the notes about skipped files.

    Raises extract.SourceError (exit code 2) when nothing usable exists.
    """
    notes: List[str] = []
    seen = set()
    for path in candidates(release, root):
        if path in seen or not os.path.exists(path):
            continue
        seen.add(path)
        try:
            return extract.load(path), notes
        except (extract.SourceError, kconfig.NotAConfig) as err:
            notes.append(str(err))
    kver = release or os.uname().release
    raise extract.SourceError(
        f"unable to retrieve kernel configuration for {kver} (no {PROC_CONFIG}, "
        f"/boot/config-{kver}, kernel headers, or IKCONFIG in configs.ko or the kernel "
        "image); give one with --config PATH or CONFIG=PATH")

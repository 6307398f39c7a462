"""The LSM label of a container's init, and putting an attached process under it.

lxc-attach runs its command under the label the container's init runs under (LXC 5's
``LXC_ATTACH_LSM_EXEC``, part of the default flags; ``-e LSM`` leaves the caller's): the
AppArmor profile when AppArmor is active, else the SELinux context when SELinux is. On a
host with neither nothing is read or written, as LXC's no-op driver does.

The caller reads the label from the host's ``/proc/PID/attr``. The attached child opens
its own attr file while it still sees the host's /proc (the container may have none
mounted) and writes the label through that descriptor just before it drops privileges:
``exec LABEL`` for AppArmor, the context itself for SELinux, so the kernel switches at
the command's execve. ``now`` switches at once instead (``LXC_ATTACH_LSM_NOW``):
``changeprofile`` for AppArmor, ``attr/current`` for SELinux.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

APPARMOR = "apparmor"
SELINUX = "selinux"


def _read_label(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    return text.strip("\x00\n ") or None


def _label(lsm: str, pid: object, proc: str) -> Optional[str]:
    if lsm == APPARMOR:
        from lxcz.security import apparmor

        return apparmor.current_label(pid, proc)
    return _read_label(f"{proc}/{pid}/attr/current")


def active(sysfs: str = "/sys", selinuxfs: str = "/sys/fs/selinux") -> Optional[str]:
    """The LSM whose labels attach sets: AppArmor, else SELinux, else None."""
    if os.path.exists(f"{sysfs}/module/apparmor"):
        from lxcz.security import apparmor

        if apparmor.enabled(sysfs):
            return APPARMOR
    if not os.path.exists(f"{selinuxfs}/enforce"):
        return None
    from lxcz.security import selinux

    return SELINUX if selinux.enabled(selinuxfs) else None


def label_of(pid: int, sysfs: str = "/sys", proc: str = "/proc",
             selinuxfs: str = "/sys/fs/selinux") -> Optional[Tuple[str, str]]:
    """(LSM, label) of process pid, or None when no LSM lxcz knows is active."""
    lsm = active(sysfs, selinuxfs)
    label = _label(lsm, pid, proc) if lsm else None
    return (lsm, label) if lsm and label else None


def attr_path(lsm: str, now: bool, proc: str = "/proc") -> str:
    """This thread's attr file that sets the label at the next exec (or now)."""
    leaf = "current" if now else "exec"
    base = f"{proc}/thread-self"
    if not os.path.exists(base):
        base = f"{proc}/self"
    if lsm == APPARMOR and os.path.exists(f"{base}/attr/apparmor"):
        return f"{base}/attr/apparmor/{leaf}"
    return f"{base}/attr/{leaf}"


def needs_change(lsm: str, label: str, own: Optional[str]) -> bool:
    """False when the process already runs under label (nothing to write)."""
    if lsm == APPARMOR and label == "unconfined":
        return own not in (None, "unconfined")
    return label != own


def open_attr(lsm: str, label: str, now: bool = False, proc: str = "/proc") -> int:
    """Open the attr file the label will be written to; -1 when no change is needed."""
    own = _label(lsm, "self", proc)
    if not needs_change(lsm, label, own):
        return -1
    path = attr_path(lsm, now, proc)
    try:
        return os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as err:
        raise LxczError(f"cannot open {path} to set the {_what(lsm)} "
                        f'"{label}": {err.strerror}') from None


def _what(lsm: str) -> str:
    return "AppArmor profile" if lsm == APPARMOR else "SELinux context"


def set_label(fd: int, lsm: str, label: str, now: bool = False) -> None:
    """Write label through fd (from open_attr); LxczError naming the label on refusal."""
    if fd < 0:
        return
    if lsm == APPARMOR:
        data = f"{'changeprofile' if now else 'exec'} {label}".encode()
    else:
        data = label.encode()
    try:
        os.write(fd, data)
    except OSError as err:
        raise LxczError(f'cannot change to {_what(lsm)} "{label}": {err.strerror}') from None
    finally:
        os.close(fd)

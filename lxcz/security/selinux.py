"""SELinux: lxc.selinux.context (legacy lxc.se_context) checked in the parent and set for
the container's program at exec.

Public API:

- ``enabled() -> bool``: selinuxfs is mounted (``/sys/fs/selinux/enforce`` exists) and
  this process has an SELinux label.
- ``prepare(context) -> str | None``: in the parent. Returns the context to apply at exec,
  or None. Where SELinux is enabled the context is checked with the kernel (written to
  ``/sys/fs/selinux/context``, what libselinux's security_check_context does): an invalid
  context is an ``LxczError``. Where SELinux is not enabled a context is ignored (said at
  INFO level) — what LXC 5 does (its no-op LSM driver takes over), and there is no
  ``allow_incomplete`` key for SELinux to ask for anything else.
- ``apply_at_exec(context) -> None``: in the child before execve: writes the context to
  ``/proc/thread-self/attr/exec``; the kernel labels the process with it at the next exec.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

SELINUXFS = "/sys/fs/selinux"


def enabled(selinuxfs: str = SELINUXFS) -> bool:
    if not os.path.exists(os.path.join(selinuxfs, "enforce")):
        return False
    try:
        with open("/proc/self/attr/current") as f:
            label = f.read().strip("\x00\n ")
    except OSError:
        return False
    return bool(label) and label != "kernel"


def check_context(context: str, selinuxfs: str = SELINUXFS) -> None:
    path = os.path.join(selinuxfs, "context")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return  # cannot ask; the kernel will judge at exec
    try:
        os.write(fd, context.encode() + b"\x00")
    except OSError as e:
        raise LxczError(f'invalid SELinux context "{context}": {e.strerror}') from None
    finally:
        os.close(fd)


def prepare(context: Optional[str], selinuxfs: str = SELINUXFS) -> Optional[str]:
    from lxcz.log import log

    context = (context or "").strip() or None
    if context is None:
        return None
    if not enabled(selinuxfs):
        # LXC 5's no-op LSM driver takes over, silently
        log.info('SELinux is not enabled on this host: lxc.selinux.context "%s" '
                 "is ignored", context)
        return None
    check_context(context, selinuxfs)
    return context


def _write_attr(attr: str, context: Optional[str], what: str) -> None:
    """Write context (when set) to /proc/thread-self/attr/ATTR: the kernel uses it at
    the next exec, or for the next keyring this thread creates. LxczError "WHAT: why"."""
    if not context:
        return
    base = "/proc/thread-self" if os.path.exists("/proc/thread-self") else "/proc/self"
    try:
        fd = os.open(f"{base}/attr/{attr}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, context.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise LxczError(f"{what}: {e.strerror}") from None


def apply_at_exec(context: Optional[str]) -> None:
    _write_attr("exec", context, f'cannot set SELinux context "{context}" for exec')


def apply_keyring(context: Optional[str]) -> None:
    """lxc.selinux.context.keyring: the label of the session keyring created next."""
    _write_attr("keycreate", context, f'cannot label the session keyring "{context}"')

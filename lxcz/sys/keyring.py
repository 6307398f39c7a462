"""keyctl(2) calls lxcz needs: joining a new anonymous session keyring.

glibc does not wrap keyctl (libkeyutils does), so it goes through syscall(2) with the
number from ``lxcz.sys.arch``.

Public API:

- ``join_session_keyring(name: str | None = None) -> int``: KEYCTL_JOIN_SESSION_KEYRING:
  the calling process gets a new session keyring (anonymous when ``name`` is None) and no
  longer sees the host's; returns the keyring's serial number. Raises
  ``OSError(errno, "keyctl(KEYCTL_JOIN_SESSION_KEYRING): ...")``.
- ``session_keyring_id() -> int``: serial of the calling process's session keyring
  (KEYCTL_GET_KEYRING_ID on KEY_SPEC_SESSION_KEYRING, without creating one).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

KEYCTL_GET_KEYRING_ID = 0
KEYCTL_JOIN_SESSION_KEYRING = 1
KEY_SPEC_SESSION_KEYRING = -3


def prepare() -> None:
    """Read keyctl's syscall number and bind it now (before a pivot into a container
    where neither the standard library nor lxcz can be found any more)."""
    from lxcz.sys import arch

    arch.syscall_number("keyctl")
    _syscall(0)
    _syscall(None)


def _syscall(arg2):
    """syscall(2) typed for keyctl with arg2 an integer or a name (bytes or None)."""
    from lxcz.sys import tinyc

    L = tinyc.Long
    return tinyc.function("syscall", L, (L, L, L if isinstance(arg2, int) else tinyc.CharP, L))


def _keyctl(op: int, arg2, arg3: int = 0, what: str = "keyctl") -> int:
    from lxcz.sys import arch, tinyc

    ret = _syscall(arg2)(arch.syscall_number("keyctl"), op, arg2, arg3)
    if ret == -1:
        err = tinyc.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return int(ret)


def join_session_keyring(name: Optional[str] = None) -> int:
    """Join a new session keyring (anonymous unless ``name``); return its serial."""
    arg = name.encode() if name is not None else None
    return _keyctl(KEYCTL_JOIN_SESSION_KEYRING, arg,
                   what="keyctl(KEYCTL_JOIN_SESSION_KEYRING)")


def session_keyring_id() -> int:
    """The serial of this process's current session keyring (0 create: no)."""
    return _keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0,
                   what="keyctl(KEYCTL_GET_KEYRING_ID)")

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


_fns = None


def prepare() -> None:
    """Bind keyctl and read its syscall number now (before a pivot into a container
    where neither the standard library nor lxcz can be found any more)."""
    _bind()


def _bind():
    global _fns
    if _fns is None:
        from lxcz.sys import arch, tinyc

        nr = arch.syscall_number("keyctl")
        L = tinyc.Long
        _fns = (nr, tinyc.get_errno,
                tinyc.function("syscall", L, (L, L, tinyc.CharP, L)),  # a name argument
                tinyc.function("syscall", L, (L, L, L, L)))
    return _fns


def _keyctl(op: int, arg2, arg3: int = 0, what: str = "keyctl") -> int:
    nr, get_errno, with_name, with_ints = _bind()
    fn = with_ints if isinstance(arg2, int) else with_name
    ret = fn(nr, op, arg2, arg3)
    if ret == -1:
        err = get_errno()
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

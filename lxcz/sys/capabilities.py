"""capget(2) and capset(2) for the calling thread's full 64-bit capability sets.

Public API:

- ``capget(pid: int = 0) -> tuple[int, int, int]``: ``(effective, permitted,
  inheritable)`` of ``pid`` (0: the calling thread) as 64-bit masks.
- ``capset(effective: int, permitted: int, inheritable: int) -> None``: set the calling
  thread's three sets. The kernel refuses (EPERM) to raise a permitted bit or to set an
  effective bit that is not permitted.

Both use ``_LINUX_CAPABILITY_VERSION_3``: one header and two ``__user_cap_data_struct``
records, the first for capabilities 0-31, the second for 32-63. Raise
``OSError(errno, "capget: ...")`` / ``"capset: ..."`` on failure. ctypes is imported only
when a function is called.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Tuple

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_types = None


def _structs():
    global _types
    if _types is None:
        import ctypes

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        _types = (ctypes, Header, Data * 2)
    return _types


def _lib():
    from lxcz.sys import calls

    return calls.libc()


def capget(pid: int = 0) -> Tuple[int, int, int]:
    """(effective, permitted, inheritable) of ``pid`` (0 = the calling thread)."""
    ctypes, Header, Data2 = _structs()
    hdr = Header(_LINUX_CAPABILITY_VERSION_3, pid)
    data = Data2()
    fn = _lib().capget
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    if fn(ctypes.byref(hdr), ctypes.byref(data)) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"capget: {os.strerror(err)}")

    def join(attr: str) -> int:
        return getattr(data[0], attr) | getattr(data[1], attr) << 32

    return join("effective"), join("permitted"), join("inheritable")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's effective, permitted and inheritable sets."""
    ctypes, Header, Data2 = _structs()
    hdr = Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = Data2()
    for i, shift in enumerate((0, 32)):
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    fn = _lib().capset
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    if fn(ctypes.byref(hdr), ctypes.byref(data)) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")

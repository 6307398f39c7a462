"""capget(2) and capset(2) for the calling thread's full 64-bit capability sets.

Public API:

- ``capget(pid: int = 0) -> tuple[int, int, int]``: ``(effective, permitted,
  inheritable)`` of ``pid`` (0: the calling thread) as 64-bit masks.
- ``capset(effective: int, permitted: int, inheritable: int) -> None``: set the calling
  thread's three sets. The kernel refuses (EPERM) to raise a permitted bit or to set an
  effective bit that is not permitted.

Both use ``_LINUX_CAPABILITY_VERSION_3``: one header and two ``__user_cap_data_struct``
records, the first for capabilities 0-31, the second for 32-63. Raise
``OSError(errno, "capget: ...")`` / ``"capset: ..."`` on failure. Through lxcz.sys.tinyc
(no ctypes), bound at the first call.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Tuple

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def prepare() -> None:
    """Bind capget and capset, and make their buffer types, now: before a pivot into a
    container where neither the standard library nor lxcz can be found any more, and
    before a fork after which the child would build them in pages it shares."""
    _call("capset")
    try:
        capget()
    except OSError:
        pass


def _call(name: str):
    from lxcz.sys import tinyc

    return tinyc, tinyc.function(name, tinyc.Int, (tinyc.VoidP, tinyc.VoidP))


def _u32s(values) -> bytes:
    return b"".join(v.to_bytes(4, sys.byteorder) for v in values)


def capget(pid: int = 0) -> Tuple[int, int, int]:
    """(effective, permitted, inheritable) of ``pid`` (0 = the calling thread)."""
    tinyc, fn = _call("capget")
    hdr = tinyc.buffer(_u32s((_LINUX_CAPABILITY_VERSION_3, pid & 0xFFFFFFFF)))
    data = tinyc.buffer(size=24)  # two records of effective, permitted, inheritable
    if fn(tinyc.addressof(hdr), tinyc.addressof(data)) == -1:
        err = tinyc.get_errno()
        raise OSError(err, f"capget: {os.strerror(err)}")
    raw = data.raw
    words = [int.from_bytes(raw[i:i + 4], sys.byteorder) for i in range(0, 24, 4)]
    return tuple(words[i] | words[i + 3] << 32 for i in range(3))  # type: ignore[return-value]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's effective, permitted and inheritable sets."""
    tinyc, fn = _call("capset")
    hdr = tinyc.buffer(_u32s((_LINUX_CAPABILITY_VERSION_3, 0)))
    sets = (effective, permitted, inheritable)
    data = tinyc.buffer(_u32s((v >> shift) & 0xFFFFFFFF for shift in (0, 32) for v in sets))
    if fn(tinyc.addressof(hdr), tinyc.addressof(data)) == -1:
        err = tinyc.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")

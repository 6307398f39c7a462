"""Loop devices through /dev/loop-control ioctls (no losetup, no ctypes).

``attach(path, readonly)`` finds a free device, binds the file and sets LO_FLAGS_AUTOCLEAR,
so the device frees itself when its last user goes away: a crashed monitor cannot leak a
loop device that way. The caller gets the device path and an open descriptor that keeps
the device bound; it mounts the device, then closes the descriptor (the mount now holds
the device), or just closes it to give the device up.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Tuple

LOOP_SET_FD = 0x4C00
LOOP_CLR_FD = 0x4C01
LOOP_SET_STATUS64 = 0x4C04
LOOP_CTL_GET_FREE = 0x4C82
LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4
# struct loop_info64: 5 x u64, 4 x u32, name[64], crypt_name[64], key[32], init[2] u64
_INFO64 = "QQQQQIIII64s64s32sQQ"


def attach(path: str, readonly: bool = False) -> Tuple[str, int]:
    """Bind path to a free loop device; returns (/dev/loopN, fd holding it)."""
    flags = os.O_RDONLY if readonly else os.O_RDWR
    backing = os.open(path, flags | os.O_CLOEXEC)
    try:
        ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(16):
                num = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
                dev = f"/dev/loop{num}"
                try:
                    devfd = os.open(dev, flags | os.O_CLOEXEC)
                except FileNotFoundError:
                    os.mknod(dev, 0o660 | 0o060000, os.makedev(7, num))
                    devfd = os.open(dev, flags | os.O_CLOEXEC)
                try:
                    try:
                        fcntl.ioctl(devfd, LOOP_SET_FD, backing)
                    except OSError as err:
                        if err.errno == errno.EBUSY:  # raced with another user
                            continue
                        raise
                    lo_flags = LO_FLAGS_AUTOCLEAR | (LO_FLAGS_READ_ONLY if readonly else 0)
                    name = os.fsencode(os.path.abspath(path))[:63]
                    info = struct.pack(_INFO64, 0, 0, 0, 0, 0, num, 0, 0, lo_flags, name,
                                       b"", b"", 0, 0)
                    try:
                        fcntl.ioctl(devfd, LOOP_SET_STATUS64, info)
                    except OSError:
                        fcntl.ioctl(devfd, LOOP_CLR_FD, 0)
                        raise
                    held, devfd = devfd, -1
                    return dev, held
                finally:
                    if devfd >= 0:
                        os.close(devfd)
            raise OSError(errno.EBUSY, "no free loop device")
        finally:
            os.close(ctl)
    finally:
        os.close(backing)


def detach(dev: str) -> None:
    fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, LOOP_CLR_FD, 0)
    finally:
        os.close(fd)


def backing_file(dev: str) -> str:
    """The file a loop device is bound to ('' when free)."""
    name = os.path.basename(dev)
    try:
        with open(f"/sys/block/{name}/loop/backing_file") as fh:
            return fh.read().strip()
    except OSError:
        return ""

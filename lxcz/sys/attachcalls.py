"""Kernel details lxc-attach needs beyond lxcz.sys.calls: personality values for
``-a ARCH``/``lxc.arch`` and the terminal ioctls for making a pty the controlling tty."""

from __future__ import annotations

import fcntl
import os
import struct
import termios

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

PER_LINUX = 0x0000
PER_LINUX32 = 0x0008

_ARCH32 = ("x86", "i386", "i486", "i586", "i686", "linux32", "armel", "armhf", "armv7l",
           "armv7", "arm", "armv6l", "ppc", "powerpc", "s390", "mips", "mipsel")
_ARCH64 = ("x86_64", "amd64", "linux64", "arm64", "aarch64", "ppc64", "ppc64le",
           "powerpc64", "ppc64el", "s390x", "mips64", "mips64el", "riscv64")


def personality_for(arch: str) -> Optional[int]:
    """The personality for an lxc.arch / lxc-attach -a value; None when unknown."""
    a = arch.strip().lower()
    if a in _ARCH32:
        return PER_LINUX32
    if a in _ARCH64:
        return PER_LINUX
    return None


def make_controlling_tty(fd: int) -> None:
    """Start a new session and make terminal ``fd`` its controlling terminal."""
    os.setsid()
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def get_winsize(fd: int) -> Optional[Tuple[int, int, int, int]]:
    try:
        return struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None


def set_winsize(fd: int, size: Tuple[int, int, int, int]) -> None:
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *size))
    except OSError:
        pass


TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441


def open_pty_master(path: str = "/dev/ptmx") -> int:
    """Open and unlock a pty master from the devpts ``path`` belongs to."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TIOCSPTLCK, struct.pack("i", 0))
    except OSError:
        os.close(fd)
        raise
    return fd


def peer_slave(master: int) -> int:
    """The slave of ``master`` without a path lookup (TIOCGPTPEER, Linux 4.13+)."""
    return fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)

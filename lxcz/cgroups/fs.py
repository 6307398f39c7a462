"""File access for the cgroup code: the real cgroupfs, or a fake one in tests.

Everything the manager does to cgroup directories goes through an object with these
methods, so ``lxcz.cgroups.fake.FakeCgroupFS`` can stand in for /sys/fs/cgroup.
Errors are plain OSError with errno set, as the kernel reports them.
"""

from __future__ import annotations

import _signal
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List


class RealFS:
    """The host's filesystem. Each value is written with a single write(2), as cgroupfs
    expects one value per write."""

    def read(self, path: str) -> str:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def write(self, path: str, value: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def mkdir(self, path: str) -> None:
        os.mkdir(path, 0o755)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def subdirs(self, path: str) -> List[str]:
        try:
            with os.scandir(path) as it:
                return [e.name for e in it if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def kill(self, pid: int, sig: int = _signal.SIGKILL) -> None:
        os.kill(pid, sig)

    def attach_device_program(self, cgroup_dir: str, program: bytes) -> None:
        from lxcz.cgroups import devices

        devices.attach(cgroup_dir, program)

    def read_proc(self, path: str) -> str:
        """Read a /proc file (mountinfo, PID/cgroup)."""
        return self.read(path)

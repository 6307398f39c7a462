"""Writing a configuration file: all or nothing.

The text goes to a temporary file next to the target, is flushed to disk, and replaces
the target in one rename, so a failed save leaves the old file as it was. An existing
file keeps its permission bits; a new one gets 0640 like LXC's.
"""

from __future__ import annotations

import os

from lxcz.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List


def write_text(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o640
    tmp = os.path.join(directory, f".{os.path.basename(path)}.lxcz-{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            data = text.encode("utf-8", "surrogateescape")
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConfigError(f"cannot write config file: {err.strerror or err}", path) from None


def write_lines(path: str, lines: List[str]) -> None:
    write_text(path, "".join(line + "\n" for line in lines))

"""Reading configuration files into a ContainerConfig.

The language is LXC's: ``key = value`` lines, ``#`` comments and blank lines, blanks
around key and value ignored, one pair of matching quotes around the value removed.
``lxc.include`` reads a file, or every ``*.conf`` file of a directory in name order, at that
point. Unlike LXC, which ignores lines that do not start with ``lxc.``, every line that is not
a comment, blank, or a known key is an error (``ConfigError(cause, path, line)``): a
misspelt key is never silently dropped. Relative include paths are taken relative to the
including file's directory.
"""

from __future__ import annotations

import os
import stat

from lxcz.config import keys as K
from lxcz.config import legacy
from lxcz.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

    from lxcz.config.model import ContainerConfig

MAX_INCLUDE_DEPTH = 32
_BLANKS = " \t\r"


def split_line(text: str) -> Optional[Tuple[str, str]]:
    """(key, value) of a ``key = value`` line; None for a comment or blank line.

    Raises ValueError for a line without ``=``.
    """
    s = text.lstrip(_BLANKS)
    if not s or s[0] == "#":
        return None
    key, eq, value = s.partition("=")
    if not eq:
        raise ValueError(f'invalid line "{_short(s)}": expected KEY = VALUE')
    key = key.rstrip(_BLANKS)
    value = value.strip(_BLANKS)
    if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
        value = value[1:-1]
    return key, value


def _short(text: str) -> str:
    text = text.rstrip()
    return text if len(text) <= 60 else text[:57] + "..."


def read_text(path: str) -> str:
    """The file's text; only regular files (a FIFO or device would block or never end)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(21, "not a regular file") if stat.S_ISDIR(
                st.st_mode) else OSError(22, "not a regular file")
        chunks = []
        while True:
            data = os.read(fd, 1 << 20)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


def _why(err: OSError) -> str:
    return err.strerror or str(err)


def load_file(cfg: ContainerConfig, path: str, top: bool = True,
              stack: Optional[List[str]] = None, where: Optional[Tuple[str, int]] = None,
              ) -> None:
    """Parse ``path`` into ``cfg``; ``top`` records its lines for saving."""
    stack = stack if stack is not None else []
    try:
        real = os.path.realpath(path)
        if real in stack:
            chain = " -> ".join(stack[stack.index(real):] + [real])
            raise ConfigError(f"include loop: {chain}", *(where or (path, None)))
        if len(stack) >= MAX_INCLUDE_DEPTH:
            raise ConfigError(f"includes nested deeper than {MAX_INCLUDE_DEPTH}",
                              *(where or (path, None)))
        if where is not None and (path.endswith("/") or os.path.isdir(path)):
            _load_dir(cfg, path, stack, where)
            return
        text = read_text(path)
    except OSError as err:
        if where:
            raise ConfigError(f'cannot read include "{path}": {_why(err)}', *where) from None
        raise ConfigError(f"cannot read config file: {_why(err)}", path) from None
    except ValueError as err:  # embedded NUL in a path
        raise ConfigError(f'invalid path "{path!r}": {err}', *(where or (path, None))) from None
    stack.append(real)
    try:
        _parse_text(cfg, text, path, top, stack)
    finally:
        stack.pop()


def _load_dir(cfg: ContainerConfig, path: str, stack: List[str],
              where: Tuple[str, int]) -> None:
    """Every ``*.conf`` file of a directory, in name order; a missing directory is empty
    (LXC's own userns.conf includes a userns.conf.d/ that need not exist)."""
    try:
        entries = os.listdir(path)
    except FileNotFoundError:
        return
    names = sorted(n for n in entries if n.endswith(".conf") and len(n) > 5)
    for name in names:
        load_file(cfg, os.path.join(path, name), False, stack, where)


def load_text(cfg: ContainerConfig, text: str, path: str) -> None:
    """Parse text as the top file ``path`` (its includes are read from disk)."""
    _parse_text(cfg, text, path, True, [os.path.realpath(path)])


def _parse_text(cfg: ContainerConfig, text: str, path: str, top: bool,
                stack: List[str]) -> None:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    exact = K.EXACT
    apply = cfg._apply
    record = cfg._lines.append if top else None
    lstate = cfg._legacy
    for lineno, raw in enumerate(lines, 1):
        try:
            kv = split_line(raw)
        except ValueError as err:
            raise ConfigError(str(err), path, lineno) from None
        if kv is None:
            if record:
                record([raw, None])
            continue
        key, value = kv
        if key not in exact and legacy.is_legacy(key):
            try:
                new = legacy.translate(key, lstate)
            except ValueError as err:
                raise ConfigError(str(err), path, lineno) from None
            legacy.warn(lstate, key, new, f"{path}:{lineno}: ")
            if new is legacy.DROPPED:
                continue  # and not recorded: saving drops the line
            assert isinstance(new, str)
            if record:
                indent = raw[:len(raw) - len(raw.lstrip(_BLANKS))]
                raw = f"{indent}{new} = {value}"
            key = new
        elif key.startswith("lxc.net.") and key not in exact:
            try:
                key = K.normalize(key)
            except ValueError as err:
                raise ConfigError(str(err), path, lineno) from None
        if key == "lxc.include" and value:
            target = value
            if not os.path.isabs(target):
                target = os.path.join(os.path.dirname(path), target)
            apply(key, value, path, lineno)
            load_file(cfg, target, False, stack, (path, lineno))
        else:
            apply(key, value, path, lineno)
        if record:
            record([raw, key])

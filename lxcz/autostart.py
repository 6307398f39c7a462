"""Which containers lxc-autostart acts on, in which order, and doing it.

The rules are LXC 5's (``man lxc-autostart``): containers are sorted by
``lxc.start.order`` (lower first, then by name); only those with ``lxc.start.auto = 1``
unless ignore_auto; then, unless all, the selected groups are walked in the order given,
each taking the containers that have that ``lxc.group`` and were not taken by an earlier
group. The empty group name is the NULL group: containers with no ``lxc.group`` at all.
With no groups given, only the NULL group is walked. Starting takes the stopped ones (and
waits ``lxc.start.delay`` seconds after each); shutdown, kill and reboot take the running
ones.

Start-up time matters here (it runs at every boot, over every container), so selection
reads only the four keys it needs with a quick line scan that follows ``lxc.include``
like the parser does; anything the scan cannot judge with certainty (a line without
``=``, an invalid value of one of those keys, an unreadable or looping include) sends
that container through the full parser, which gives the same result or the same error.
Keys the scan does not need are not checked here: a container whose configuration is
broken elsewhere is selected, and acting on it (start loads the full configuration)
reports the error. Whether a container runs is asked of its monitor socket directly; the
runtime is imported only when a monitor answers or a container is acted on.
"""

from __future__ import annotations

import os
import stat
import time

from lxcz.errors import LxczError
from lxcz.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

_BLANKS = " \t\r"
_MAX_INCLUDE_DEPTH = 32  # lxcz.config.parser's limit
_INT_RANGE = {"lxc.start.order": (-(2 ** 31), 2 ** 31), "lxc.start.delay": (0, 2 ** 32)}


def parse_groups(values: Sequence[str]) -> List[str]:
    """-g values, comma separated and repeatable, in order, duplicates dropped."""
    out: List[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part in out:
                log.warning("duplicate group \"%s\" in list: ignored", part)
                continue
            out.append(part)
    return out


class _Unsure(Exception):
    """The quick scan met something only the full parser can judge."""


class StartKeys:
    """What lxc-autostart needs of one configuration."""

    __slots__ = ("auto", "order", "delay", "groups")

    def __init__(self, auto: int = 0, order: int = 0, delay: int = 0,
                 groups: Sequence[str] = ()) -> None:
        self.auto = auto
        self.order = order
        self.delay = delay
        self.groups = list(groups)


def _read(path: str) -> Tuple[str, Tuple[int, int]]:
    """A regular file's text, decoded as lxcz.config.parser does, and its identity;
    _Unsure for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (OSError, ValueError):
        raise _Unsure from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Unsure
        chunks = []
        while True:
            data = os.read(fd, 1 << 20)
            if not data:
                break
            chunks.append(data)
    except OSError:
        raise _Unsure from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape"), (st.st_dev, st.st_ino)


def _scan(path: str, found: Dict[str, object], stack: List[Tuple[int, int]]) -> None:
    """Apply the start keys of path (and what it includes) to found, in file order.

    stack holds the (device, inode) of the files being read, to catch include loops.
    """
    text, ident = _read(path)
    if ident in stack or len(stack) >= _MAX_INCLUDE_DEPTH:
        raise _Unsure
    stack.append(ident)
    for raw in text.split("\n"):
        s = raw.lstrip(_BLANKS)
        if not s or s[0] == "#" or not (s.startswith("lxc.include") or
                                         s.startswith("lxc.start.") or
                                         s.startswith("lxc.group")):
            if s and s[0] != "#" and "=" not in s:
                raise _Unsure  # the parser's 'expected KEY = VALUE' error
            continue
        key, eq, value = s.partition("=")
        if not eq:
            raise _Unsure
        key = key.rstrip(_BLANKS)
        value = value.strip(_BLANKS)
        if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
            value = value[1:-1]
        if "\0" in value:
            raise _Unsure
        if key == "lxc.include":
            if value:
                _include(value, path, found, stack)
        elif key == "lxc.group":
            if value:
                found.setdefault(key, []).append(value)  # type: ignore[union-attr]
            else:
                found.pop(key, None)
        elif key == "lxc.start.auto":
            if not value:
                found.pop(key, None)
            elif value.strip() in ("0", "1"):
                found[key] = int(value.strip())
            else:
                raise _Unsure
        elif key in _INT_RANGE:
            if not value:
                found.pop(key, None)
                continue
            number = value.strip()
            digits = number[1:] if number[:1] in ("+", "-") else number
            low, high = _INT_RANGE[key]
            if not (digits.isascii() and digits.isdigit() and low <= int(number) < high):
                raise _Unsure  # the parser's own check gives the error
            found[key] = int(number)
    stack.pop()


def _include(value: str, where: str, found: Dict[str, object],
             stack: List[Tuple[int, int]]) -> None:
    target = value if os.path.isabs(value) else os.path.join(os.path.dirname(where), value)
    try:
        is_dir = target.endswith("/") or os.path.isdir(target)
    except ValueError:
        raise _Unsure from None
    if not is_dir:
        _scan(target, found, stack)
        return
    try:
        entries = os.listdir(target)
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        raise _Unsure from None
    if len(stack) >= _MAX_INCLUDE_DEPTH:
        raise _Unsure
    for name in sorted(n for n in entries if n.endswith(".conf") and len(n) > 5):
        _scan(os.path.join(target, name), found, stack)


def _int(cfg, key: str) -> int:
    try:
        return int(cfg.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def start_keys(c) -> StartKeys:
    """lxc.start.auto, .order, .delay and lxc.group of container c; LxczError if its
    configuration cannot be read."""
    path = c.config_file_name
    found: Dict[str, object] = {}
    try:
        _scan(path, found, [])
    except _Unsure:
        pass
    else:
        return StartKeys(found.get("lxc.start.auto", 0), found.get("lxc.start.order", 0),
                         found.get("lxc.start.delay", 0), found.get("lxc.group", ()))
    cfg = c.config
    return StartKeys(_int(cfg, "lxc.start.auto"), _int(cfg, "lxc.start.order"),
                     _int(cfg, "lxc.start.delay"), cfg.get_list("lxc.group"))


def is_running(c) -> bool:
    """c.running, without importing the runtime when no monitor holds c's command socket
    (the usual case): connecting to an abstract socket nobody holds fails at once."""
    import _socket

    from lxcz.runtime import paths

    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    except OSError:
        return c.running
    try:
        sock.setblocking(False)  # a monitor with a full backlog: EAGAIN, not a wait
        sock.connect(paths.abstract(paths.command_socket(c.config_path, c.name)))
    except (ConnectionRefusedError, FileNotFoundError):
        from lxcz.runtime import lxcwire

        # upstream LXC's lxc-start may run it (same on-disk container)
        return lxcwire.is_running(c.config_path, c.name)
    except OSError:
        pass  # let the runtime judge (and word) anything else
    finally:
        sock.close()
    return c.running


def select(lxcpath: Optional[str], groups: Sequence[str] = (), all_groups: bool = False,
           ignore_auto: bool = False) -> List[Tuple[object, int]]:
    """The (Container, delay) pairs to act on, in LXC's order."""
    from lxcz.container import Container, list_containers

    entries = []
    for name in list_containers(active=False, defined=True, config_path=lxcpath):
        c = Container(name, lxcpath)
        try:
            keys = start_keys(c)
        except LxczError as err:
            log.error("%s: skipped: %s", name, err)
            continue
        entries.append((keys.order, name, c, keys))
    entries.sort(key=lambda e: (e[0], e[1]))
    chosen: List[Tuple[object, int]] = []
    taken = set()
    passes = [None] if all_groups else (list(groups) or [""])
    for group in passes:
        for _, name, c, keys in entries:
            if name in taken:
                continue
            if not ignore_auto and keys.auto != 1:
                taken.add(name)
                continue
            if group is not None:
                mine = [g for g in keys.groups if g]
                if (group == "" and mine) or (group != "" and group not in mine):
                    continue
            taken.add(name)
            chosen.append((c, keys.delay))
    return chosen


def run(lxcpath: Optional[str], action: str, groups: Sequence[str] = (),
        all_groups: bool = False, ignore_auto: bool = False, list_only: bool = False,
        timeout: int = 60, out=None) -> int:
    """Do action (start, shutdown, kill, reboot) or list; returns LXC's exit status."""
    import sys

    out = out or sys.stdout
    failed = 0
    acted = 0
    for c, delay in select(lxcpath, groups, all_groups, ignore_auto):
        running = is_running(c)
        if (action == "start") == running:
            continue
        acted += 1
        if list_only:
            out.write(f"{c.name} {delay}\n" if action in ("start", "reboot") else f"{c.name}\n")
            out.flush()
            continue
        try:
            if action == "start":
                c.start()
            elif action == "shutdown":
                try:
                    c.shutdown(timeout)
                except LxczError:
                    c.stop()
            elif action == "kill":
                c.stop()
            elif action == "reboot":
                c.reboot()
        except LxczError as err:
            failed += 1
            log.error("%s: %s failed: %s", c.name, action, err)
            continue
        if action in ("start", "reboot") and delay > 0:
            time.sleep(delay)
    if failed and failed == acted:
        return 1
    return 2 if failed else 0

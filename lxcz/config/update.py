"""lxc-update-config: rewrite a pre-3.0 configuration file with LXC 5's keys.

Works like upstream's lxc-update-config script: a text rewrite that keeps every other byte
of the file (comments, blank lines, order, spacing), also renames keys inside comments
(``#lxc.utsname = x`` becomes ``#lxc.uts.name = x``), deletes lines of dropped keys
(lxc.rootfs.backend, lxc.pivotdir, lxc.kmsg, commented or not), numbers unindexed
``lxc.network.*`` interfaces (each ``lxc.network.type`` line, even a commented one, starts
the next one), prefixes an old ``lxc.rootfs`` value with the backend (``dir:`` unless
``lxc.rootfs.backend`` names another), and first copies the file to FILE.backup.

Where the upstream script produces keys LXC 5 itself refuses, lxcz writes the working key
(see docs/lxc-update-config.md): ``lxc.network.N.ipv4`` becomes ``lxc.net.N.ipv4.address``
(upstream: ``lxc.net.N.ipv4``), ``lxc.limit.RES`` becomes ``lxc.prlimit.RES`` (upstream
leaves it), the backend is taken from the last ``lxc.rootfs.backend`` line wherever it is
(upstream: only when it is the file's last line), and a value that already has a
``TYPE:`` prefix is not prefixed again.
"""

from __future__ import annotations

import re

from lxcz.config import keys as K
from lxcz.config import legacy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Tuple

_TOKEN = re.compile(r"lxc\.[A-Za-z0-9_.\-]+")
_BACKEND = re.compile(r"^[ \t#]*lxc\.rootfs\.backend[ \t]*=[ \t]*([A-Za-z0-9]*)")
_FOLLOW = " \t*="


def _rootfs_value(rest: str, driver: str) -> str:
    """``rest`` is what follows the key: blanks, '=', blanks, value."""
    m = re.match(r"([ \t]*=[ \t]*)(.*)\Z", rest, re.S)
    if not m:
        return rest
    value = m.group(2)
    head, colon, _ = value.partition(":")
    if colon and re.fullmatch(r"[A-Za-z0-9]+", head):
        return rest
    return m.group(1) + f"{driver}:" + value


def update_text(text: str) -> Tuple[str, List[str]]:
    """The updated text and the legacy keys it changed (in order of first change)."""
    lines = text.split("\n")
    driver = "dir"
    for line in lines:
        m = _BACKEND.match(line)
        if m and m.group(1):
            driver = m.group(1)
    state = legacy.LegacyState()
    changed: List[str] = []
    out: List[str] = []
    for line in lines:
        pieces: List[str] = []
        pos = 0
        drop = False
        for m in _TOKEN.finditer(line):
            key = m.group(0).rstrip(".")
            end = m.start() + len(key)
            nxt = line[end:end + 1]
            if nxt and nxt not in _FOLLOW:
                continue
            if not legacy.is_legacy(key):
                continue
            if key in K.LEGACY_DROPPED:
                drop = True
                if key not in changed:
                    changed.append(key)
                break
            if key == "lxc.rootfs":
                if "=" not in line[end:]:
                    continue
                pieces.append(line[pos:m.start()] + "lxc.rootfs.path")
                pieces.append(_rootfs_value(line[end:], driver))
                pos = len(line)
                changed.append(key)
                break
            try:
                new = legacy.translate(key, state)
            except ValueError:
                continue  # a network key before any type: left for the user to see
            if not isinstance(new, str):
                continue
            pieces.append(line[pos:m.start()] + new)
            pos = end
            if key not in changed:
                changed.append(key)
        if drop:
            continue
        pieces.append(line[pos:])
        out.append("".join(pieces))
    return "\n".join(out), changed


def update_file(path: str) -> List[str]:
    """Rewrite ``path`` in place, after copying it to ``path.backup``.

    Returns the legacy keys that were changed. Raises ConfigError when the file cannot
    be read or written; the original is then untouched.
    """
    from lxcz.config import parser, writer
    from lxcz.errors import ConfigError

    try:
        text = parser.read_text(path)
    except OSError as err:
        raise ConfigError(f"cannot read config file: {err.strerror or err}", path) from None
    new, changed = update_text(text)
    writer.write_text(path + ".backup", text)
    writer.write_text(path, new)
    return changed

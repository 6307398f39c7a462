"""Pre-3.0 configuration keys: translation to LXC 5's keys, with one warning per key.

LXC 5 refuses the old spellings; lxcz reads them, says once per key (per load) which key it
read them as, and works with today's key in memory. The old-to-new names come from the
``legacy`` field of the rows of ``lxcz.config.keys``; here are only the rules that are not a
rename: the unindexed ``lxc.network.*`` form (each ``lxc.network.type`` starts the next
interface), ``lxc.network.N.*``, ``lxc.network.ipv4``/``ipv6`` (now ``.address``), and the
keys that are simply dropped (``lxc.pivotdir``, ``lxc.kmsg``, ``lxc.rootfs.backend``).
"""

from __future__ import annotations

from lxcz.config import keys as K

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Set

DROPPED = object()


class LegacyState:
    """What translation remembers while one configuration is loaded."""

    __slots__ = ("net_index", "warned")

    def __init__(self) -> None:
        self.net_index = -1
        self.warned: Set[str] = set()


def is_legacy(key: str) -> bool:
    """True for a pre-3.0 key name (without translating it)."""
    if key in K.LEGACY or key in K.LEGACY_DROPPED or key == K.LEGACY_NET_PREFIX:
        return True
    if key.startswith(K.LEGACY_NET_PREFIX + "."):
        return True
    for p in K.LEGACY_PREFIXES:
        if key.startswith(p) and len(key) > len(p):
            return True
    return False


def translate(key: str, state: LegacyState) -> Optional[object]:
    """The current key for legacy ``key``, DROPPED, or None when ``key`` is not legacy.

    Raises ValueError (with a cause) for an unindexed network key before any
    ``lxc.network.type``.
    """
    new = K.LEGACY.get(key)
    if new is not None:
        return new
    if key in K.LEGACY_DROPPED:
        return DROPPED
    net = K.LEGACY_NET_PREFIX
    if key == net:
        return "lxc.net"
    if key.startswith(net + "."):
        rest = key[len(net) + 1:]
        head, dot, sub = rest.partition(".")
        if head.isdigit() and dot:
            return f"lxc.net.{int(head)}.{K.NET_LEGACY.get(sub, sub)}"
        if rest == "type":
            state.net_index += 1
        if state.net_index < 0:
            raise ValueError(f'"{key}" before any "lxc.network.type": the unindexed form '
                             "starts each interface with lxc.network.type")
        return f"lxc.net.{state.net_index}.{K.NET_LEGACY.get(rest, rest)}"
    for old, newp in K.LEGACY_PREFIXES.items():
        if key.startswith(old) and len(key) > len(old):
            return newp + key[len(old):]
    return None


def translate_key(key: str) -> str:
    """Translate a legacy key name given to get/set/clear (no network counting)."""
    if not is_legacy(key) or (key.startswith(K.LEGACY_NET_PREFIX + ".")
                              and not key[len(K.LEGACY_NET_PREFIX) + 1:][:1].isdigit()):
        return key
    new = translate(key, LegacyState())
    return new if isinstance(new, str) else key


def warn(state: LegacyState, old: str, new: object, where: str) -> None:
    """One warning line per legacy key name per load."""
    family = old
    if old.startswith(K.LEGACY_NET_PREFIX + "."):
        head, _, sub = old[len(K.LEGACY_NET_PREFIX) + 1:].partition(".")
        family = "lxc.network.N." + sub if head.isdigit() else old
    if family in state.warned:
        return
    state.warned.add(family)
    from lxcz.log import log

    if new is DROPPED:
        log.warning('%slegacy key "%s" is obsolete and ignored (lxc-update-config -c FILE '
                    "updates the file)", where, old)
    else:
        log.warning('%slegacy key "%s" read as "%s" (lxc-update-config -c FILE updates '
                    "the file)", where, old, new)


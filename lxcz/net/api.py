"""Read-only network views of a running container, from /proc and /sys only.

``get_ips`` and ``get_interfaces`` answer what LXC's ``get_ips``/``get_interfaces``
answer (which fork, enter the container's netns and dump addresses over netlink) by
reading the files the kernel shows for the netns of the container's init:

- ``/proc/PID/net/dev``: interface names, in the kernel's order;
- ``/proc/PID/net/if_inet6``: IPv6 addresses with interface, scope and index;
- ``/proc/PID/net/fib_trie``: the local IPv4 addresses (``/32 host LOCAL`` leaves);
  fib_trie does not name interfaces, so an IPv4 address is given the interface of the
  most specific link route (``/proc/PID/net/route``) that contains it, and 127.0.0.0/8
  addresses without one belong to ``lo``.

Nothing here imports pyroute2 or opens a netlink socket. Like LXC, addresses on ``lo``
are left out unless ``interface`` names it, and IPv6 addresses must have the requested
scope id (0 = global; a link-local address has its interface index as scope id).
"""

from __future__ import annotations

import sys
from _socket import AF_INET6, inet_aton, inet_ntop

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

    from lxcz.container import Container

IPV6_LINK_SCOPE = 0x20


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("ascii", "replace")
    except OSError:
        return ""


def interfaces_of_pid(pid: int) -> List[str]:
    """Interface names of the netns of ``pid`` from /proc/PID/net/dev."""
    names = []
    for line in _read(f"/proc/{pid}/net/dev").splitlines()[2:]:
        name, sep, _ = line.partition(":")
        if sep:
            names.append(name.strip())
    return names


def ipv6_of_pid(pid: int) -> List[Tuple[str, str, int]]:
    """(address, interface, scope id) for every IPv6 address of the netns of ``pid``."""
    out = []
    for line in _read(f"/proc/{pid}/net/if_inet6").splitlines():
        parts = line.split()
        if len(parts) != 6:
            continue
        raw, index, _plen, scope, _flags, ifname = parts
        try:
            addr = inet_ntop(AF_INET6, bytes.fromhex(raw))
        except (ValueError, OSError):
            continue
        scope_id = int(index, 16) if (int(scope, 16) & 0xF0) == IPV6_LINK_SCOPE else 0
        out.append((addr, ifname, scope_id))
    return out


def _local_ipv4(pid: int) -> List[str]:
    """Local IPv4 addresses (once each, in trie order) from /proc/PID/net/fib_trie."""
    found: Dict[str, None] = {}
    last_leaf = None
    for line in _read(f"/proc/{pid}/net/fib_trie").splitlines():
        s = line.strip()
        if s.startswith("|-- "):
            last_leaf = s[4:]
        elif last_leaf and s.startswith("/32 host LOCAL"):
            found[last_leaf] = None
    return list(found)


def _routes(pid: int) -> List[Tuple[int, int, str]]:
    """(network, mask, interface) of the link (non-gateway) routes, most specific first."""
    routes = []
    for line in _read(f"/proc/{pid}/net/route").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        try:
            # the kernel prints the network-order word as a native-order number
            dest = int.from_bytes(int(parts[1], 16).to_bytes(4, sys.byteorder), "big")
            flags = int(parts[3], 16)
            mask = int.from_bytes(int(parts[7], 16).to_bytes(4, sys.byteorder), "big")
        except (ValueError, OverflowError):
            continue
        if flags & 0x2:  # RTF_GATEWAY: says nothing about where an address lives
            continue
        routes.append((dest, mask, parts[0]))
    routes.sort(key=lambda r: -bin(r[1]).count("1"))
    return routes


def ipv4_of_pid(pid: int) -> List[Tuple[str, str]]:
    """(address, interface or "") for every local IPv4 address of the netns of ``pid``."""
    addrs = _local_ipv4(pid)
    if not addrs:
        return []
    routes = _routes(pid)
    out = []
    for a in addrs:
        n = int.from_bytes(inet_aton(a), "big")
        dev = ""
        for net, mask, ifname in routes:
            if n & mask == net and mask:
                dev = ifname
                break
        if not dev and (n >> 24) == 127:
            dev = "lo"
        out.append((a, dev))
    return out


def ips_of_pid(pid: int, interface: Optional[str] = None, family: Optional[str] = None,
               scope: Optional[int] = None) -> List[str]:
    """The addresses ``get_ips`` reports for the netns of ``pid``: IPv4 then IPv6."""
    if family not in (None, "inet", "inet6"):
        raise LxczError(f"unknown address family '{family}' (use inet or inet6)")
    scope = scope or 0
    result: List[str] = []
    if family in (None, "inet"):
        for addr, dev in ipv4_of_pid(pid):
            if (interface and dev != interface) or (not interface and dev == "lo"):
                continue
            if addr not in result:
                result.append(addr)
    if family in (None, "inet6"):
        for addr, dev, scope_id in ipv6_of_pid(pid):
            if scope_id != scope:
                continue
            if (interface and dev != interface) or (not interface and dev == "lo"):
                continue
            if addr not in result:
                result.append(addr)
    return result


def _init_pid(c: Container) -> int:
    from lxcz.runtime import client

    pid = client.get_init_pid(c)
    if pid <= 0:
        raise LxczError(f"{c.name} is not running")
    return pid


def get_ips(c: Container, interface: Optional[str] = None, family: Optional[str] = None,
            scope: Optional[int] = None) -> List[str]:
    """Addresses of running container ``c`` (see the module docstring)."""
    return ips_of_pid(_init_pid(c), interface, family, scope)


def get_interfaces(c: Container) -> List[str]:
    """Interface names inside running container ``c``, ``lo`` included, like LXC."""
    return interfaces_of_pid(_init_pid(c))


def host_link_stats(ifname: str) -> Optional[Tuple[int, int]]:
    """(rx_bytes, tx_bytes) of host interface ``ifname`` from sysfs, or None."""
    if not ifname or "/" in ifname or ifname in (".", ".."):
        return None
    base = f"/sys/class/net/{ifname}/statistics/"
    try:
        rx = int(_read(base + "rx_bytes").strip())
        tx = int(_read(base + "tx_bytes").strip())
    except ValueError:
        return None
    return rx, tx

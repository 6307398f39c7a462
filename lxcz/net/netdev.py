"""Container network interfaces over rtnetlink: made on the host, configured inside the
container's network namespace, undone.

The runtime calls three functions around the container's init (which already lives in its
new network namespace):

- ``prepare(container_name, networks, pid)`` — on the host: make veth pairs (host end on
  the bridge named by ``link``, or routed for ``veth.mode = router``), macvlan, ipvlan and
  vlan links, with the container end made directly inside the netns of ``pid``, or move a
  ``phys`` NIC there. Returns a ``NetState`` that records everything made, so it can be
  undone.
- ``configure(state)`` — inside that netns: loopback up, names, MAC addresses, MTU,
  addresses, ``flags = up``, gateways, as one batch of requests; then proxy entries on
  the host side.
- ``teardown(state)`` — give phys NICs back under their old names, delete host ends and
  host routes. Safe to call twice and after a failed ``prepare``.

``preload()`` imports the netlink pieces ahead of time (for the monitor to call while it
waits); ``state_path``/``save_state``/``cleanup_stale`` keep what a killed monitor must
have undone by the next start. ``networks`` is the list ``ContainerConfig.networks()``
returns: one dict per ``lxc.net.N`` with the key suffixes (``type``, ``link``,
``ipv4.address``...) as keys. Every error is an ``LxczError`` naming the ``lxc.net.N`` key
and the cause.

The netlink client (``Rtnl``) encodes and decodes with pyroute2's message classes on a
plain blocking socket; pyroute2 is imported only when a container has a network, and
without its package __init__ (see ``_pyroute2_light``). ``_iproute``, ``_lookup`` and
``_attach_to_bridge`` are pyroute2-IPRoute helpers kept for lxcz.device and
lxcz.net.usernic.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import socket
import struct
import subprocess
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from lxcz.errors import LxczError
from lxcz.sys import calls

NET_TYPES = ("veth", "macvlan", "ipvlan", "vlan", "phys", "empty", "none")
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_ISOLATION = {"bridge": 0, "private": 1, "vepa": 2}


@dataclass
class Made:
    """One interface this start created or borrowed, and how to undo it."""

    index: int  # lxc.net.N
    kind: str
    host_name: str = ""  # host end of a veth, or the phys NIC's own name
    peer_tmp: str = ""  # temporary name of the container end while on the host
    final_name: str = ""  # name inside the container
    host_routes: List[str] = field(default_factory=list)
    proxies: List[tuple] = field(default_factory=list)  # (family, address, dev)
    moved: bool = False


@dataclass
class NetState:
    name: str
    pid: int
    networks: List[Dict[str, Any]]
    made: List[Made] = field(default_factory=list)
    netns_fd: int = -1  # held so phys NICs can be taken back after the init exits

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "made": [m.__dict__ for m in self.made]}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> NetState:
        st = cls(data["name"], data["pid"], [])
        st.made = [Made(**m) for m in data.get("made", [])]
        return st


STATE_DIR = "/run/lxcz/net"


def state_path(lxcpath: str, name: str) -> str:
    """Where a running container's network state is kept, so that a monitor killed with
    SIGKILL can be cleaned up after by the next start of the same container."""
    from lxcz.runtime.paths import lxcpath_key

    return os.path.join(STATE_DIR, f"{lxcpath_key(lxcpath)}-{name}.state")


def save_state(state: NetState, path: str) -> None:
    """Written with marshal (already loaded by the runtime; json would cost the start
    ~2 ms to import). Only root reads it back, in cleanup_stale()."""
    import marshal

    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    tmp = path + ".new"
    with open(tmp, "wb") as fh:
        fh.write(marshal.dumps(state.to_json(), 4))
    os.replace(tmp, path)


def forget_state(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _load_state(path: str) -> NetState:
    import marshal

    with open(path, "rb") as fh:
        data = fh.read()
    try:
        obj = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        import json  # a state file written as JSON (by hand, or an older lxcz)

        obj = json.loads(data.decode())
    if not isinstance(obj, dict):
        raise ValueError("not a network state")
    return NetState.from_json(obj)


def cleanup_stale(path: str) -> bool:
    """Undo what a dead monitor left (phys NICs under their container names, host routes,
    proxy entries, veth ends whose peer outlived it). True when there was something."""
    if not os.path.exists(path):
        return False
    try:
        state = _load_state(path)
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError):
        forget_state(path)
        return False
    state.pid = -1
    teardown(state)
    forget_state(path)
    return True


def _err(idx: int, key: str, cause: str) -> LxczError:
    return LxczError(f"lxc.net.{idx}.{key}: {cause}")


def _as_list(value: Any) -> List[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v) != ""]
    return [str(value)]


def random_mac(template: str = "00:16:3e:xx:xx:xx") -> str:
    """Fill every ``x`` digit of template with a random hex digit (locally administered)."""
    out = "".join(random.choice("0123456789abcdef") if c in "xX" else c for c in template)
    first = int(out[:2], 16) & 0xFE  # never multicast
    return f"{first:02x}" + out[2:]


def _random_suffix(n: int = 6) -> str:
    return "".join(random.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
                   for _ in range(n))


def validate(networks: List[Dict[str, Any]]) -> None:
    """Check what can be checked before anything is made (types, names, ids, addresses)."""
    names = set()
    for net in networks:
        idx = net.get("index", 0)
        kind = net.get("type") or ""
        if kind not in NET_TYPES:
            raise _err(idx, "type", f"unknown network type '{kind}'")
        if kind == "vlan" and net.get("vlan.id") in (None, ""):
            raise _err(idx, "vlan.id", "a vlan interface needs vlan.id")
        if kind in ("macvlan", "ipvlan", "vlan", "phys") and not net.get("link"):
            raise _err(idx, "link", f"a {kind} interface needs link")
        if kind == "macvlan" and net.get("macvlan.mode", "private") not in MACVLAN_MODES:
            raise _err(idx, "macvlan.mode", f"unknown mode '{net.get('macvlan.mode')}'")
        if kind == "ipvlan":
            if net.get("ipvlan.mode", "l3") not in IPVLAN_MODES:
                raise _err(idx, "ipvlan.mode", f"unknown mode '{net.get('ipvlan.mode')}'")
            if net.get("ipvlan.isolation", "bridge") not in IPVLAN_ISOLATION:
                raise _err(idx, "ipvlan.isolation",
                           f"unknown isolation '{net.get('ipvlan.isolation')}'")
        name = net.get("name")
        if name:
            if len(name) > 15 or "/" in name or " " in name:
                raise _err(idx, "name", f"invalid interface name '{name}'")
            if name in names:
                raise _err(idx, "name", f"duplicate interface name '{name}'")
            names.add(name)
        for fam in ("ipv4", "ipv6"):
            for addr in _as_list(net.get(f"{fam}.address")):
                _parse_addr(idx, fam, addr)


def _parse_addr(idx: int, fam: str, text: str) -> tuple:
    """'10.0.0.2/24 10.0.0.255' -> (ip_interface, broadcast or None)."""
    parts = text.split()
    addr = parts[0]
    if "/" not in addr:
        if fam == "ipv4" and addr == "0.0.0.0":
            return (None, None)  # the older guides' way of saying "no address"
        raise _err(idx, f"{fam}.address", f"'{addr}' has no prefix length (ADDR/PREFIX)")
    try:
        iface = ipaddress.ip_interface(addr)
    except ValueError:
        raise _err(idx, f"{fam}.address", f"invalid address '{addr}'") from None
    if (iface.version == 4) != (fam == "ipv4"):
        raise _err(idx, f"{fam}.address", f"'{addr}' is not an {fam} address")
    bcast = parts[1] if len(parts) > 1 else None
    return (iface, bcast)


# -- rtnetlink ---------------------------------------------------------------------------
#
# A start makes a handful of rtnetlink requests. pyroute2's IPRoute drives each one through
# an asyncio event loop, and `import pyroute2` loads every pyroute2 subsystem (NDB, IPDB,
# conntrack, nftables, wireless...): ~170 ms, more than the rest of a container start. So
# this module encodes and decodes with pyroute2's rtnetlink message classes (ifinfmsg,
# ifaddrmsg, rtmsg, ndmsg), imported without the package's __init__ (~15 ms), on one
# blocking netlink socket per namespace, and sends the requests of a step in one write.

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # in an ack: the request is not echoed
NLM_F_ACK_TLVS = 0x200  # in an ack: extended ack attributes follow
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
AF_BRIDGE = 7
BRIDGE_VLAN_INFO_PVID = 0x2  # linux/if_bridge.h
BRIDGE_VLAN_INFO_UNTAGGED = 0x4
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTM_NEWNEIGH, RTM_DELNEIGH = 28, 29
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLMSGERR_ATTR_MSG = 1
IFF_UP = 0x1
RTEXT_FILTER_SKIP_STATS = 0x8
NTF_PROXY = 0x08
NUD_PERMANENT = 0x80
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4  # what pyroute2's IPRoute.route("add") gave these routes before
RTN_UNICAST = 1
_HDR = struct.Struct("=IHHII")


# names other lxcz modules take from the pyroute2 package, and the Linux modules that define
# them: with the placeholder package in place they cost ~90 ms less than the whole package
_PYROUTE2_HOMES = {"IPRoute": "pyroute2.iproute.linux",
                   "NetlinkError": "pyroute2.netlink.exceptions"}


def _pyroute2_light() -> None:
    """Make ``import pyroute2.netlink...`` skip pyroute2/__init__.py.

    ``sys.modules["pyroute2"]`` becomes the package module, not executed: submodules import
    as usual, and the first access to any other name (``from pyroute2 import IPRoute``
    elsewhere in the process) runs the real __init__ into it, so nothing else changes."""
    import sys

    if "pyroute2" in sys.modules:
        return
    import importlib
    import importlib.util

    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        raise LxczError("pyroute2 is not installed (lxc.net.* needs it)")
    pkg = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> Any:  # noqa: N807 - PEP 562 module hook
        if name.startswith("__") and name not in ("__all__", "__version__"):
            raise AttributeError(name)
        if name in _PYROUTE2_HOMES:  # the same objects __init__ would re-export
            value = getattr(importlib.import_module(_PYROUTE2_HOMES[name]), name)
            setattr(pkg, name, value)
            return value
        if not name.startswith("__"):
            try:
                return importlib.import_module("pyroute2." + name)
            except ModuleNotFoundError as err:
                if err.name != "pyroute2." + name:
                    raise
        pkg.__dict__.pop("__getattr__", None)
        spec.loader.exec_module(pkg)  # type: ignore[union-attr]
        try:
            return pkg.__dict__[name]
        except KeyError:
            raise AttributeError(f"module 'pyroute2' has no attribute '{name}'") from None

    pkg.__getattr__ = __getattr__  # type: ignore[attr-defined]
    sys.modules["pyroute2"] = pkg


class _Messages:
    """pyroute2's rtnetlink message classes and NetlinkError, each imported on first use
    (a veth with no route needs neither rtmsg nor ndmsg)."""

    _WHERE = {"ifinfmsg": "ifinfmsg", "ifaddrmsg": "ifaddrmsg", "rtmsg": "rtmsg",
              "ndmsg": "ndmsg", "NetlinkError": None}

    def __getattr__(self, name: str) -> Any:
        import importlib

        if name not in self._WHERE:
            raise AttributeError(name)
        sub = self._WHERE[name]
        mod = importlib.import_module("pyroute2.netlink." + (f"rtnl.{sub}" if sub
                                                             else "exceptions"))
        value = getattr(mod, name)
        setattr(self, name, value)
        return value


_MESSAGES = _Messages()


def _msgs() -> Any:
    """The message classes (imported lazily, without pyroute2's __init__)."""
    _pyroute2_light()
    return _MESSAGES


def preload() -> None:
    """Import what prepare() needs now: the monitor can call this while it waits for the
    child to make its namespaces, so the import overlaps with that work."""
    _msgs().ifinfmsg  # noqa: B018 - the import is the point


def _socket_in(netns_fd: int) -> socket.socket:
    """A netlink socket that lives in the netns of netns_fd (setns there and back)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        calls.setns(netns_fd, calls.CLONE_NEWNET)
        try:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        finally:
            calls.setns(own, calls.CLONE_NEWNET)
    finally:
        os.close(own)


class Req:
    """One request of a batch: a pyroute2 message, its type and flags, and what it is
    for (the ``lxc.net.N`` index and words for an error message)."""

    __slots__ = ("msg", "type", "flags", "net", "what")

    def __init__(self, msg: Any, mtype: int, flags: int = 0, net: int = 0,
                 what: str = "") -> None:
        self.msg, self.type, self.flags, self.net, self.what = msg, mtype, flags, net, what


class Rtnl:
    """A blocking rtnetlink socket, on the host or in another network namespace.

    ``batch()`` writes several requests at once and returns, per request, ``None`` or the
    NetlinkError the kernel answered; the kernel runs them in order. ``dump()`` and
    ``index()`` read."""

    def __init__(self, netns_fd: int = -1, pid: Optional[int] = None) -> None:
        self.m = _msgs()
        if pid is not None:
            if pid <= 0:
                raise LxczError(f"no process {pid} whose network namespace to configure")
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                self.sock = _socket_in(fd)
            finally:
                os.close(fd)
        elif netns_fd >= 0:
            self.sock = _socket_in(netns_fd)
        else:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        for opt in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            try:
                self.sock.setsockopt(SOL_NETLINK, opt, 1)
            except OSError:
                pass  # older kernels: full echoes, no kernel message; both handled
        self.sock.bind((0, 0))
        self.sock.settimeout(30.0)  # a kernel that never answers must not hang a start
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the wire
    def _exchange(self, reqs: List[Req]) -> tuple:
        """Send reqs in one write; return (errors, replies): per request None or a
        NetlinkError, and the raw data messages it got back."""
        buf = bytearray()
        first = self.seq + 1
        for r in reqs:
            self.seq += 1
            hdr = r.msg["header"]
            hdr["type"] = r.type
            dump = r.type in (RTM_GETLINK, RTM_GETADDR) and r.flags & NLM_F_DUMP
            hdr["flags"] = NLM_F_REQUEST | r.flags | (0 if dump else NLM_F_ACK)
            hdr["sequence_number"] = self.seq
            hdr["pid"] = 0
            r.msg.encode()
            buf += r.msg.data
        self.sock.sendto(bytes(buf), (0, 0))
        errors: List[Any] = [None] * len(reqs)
        replies: List[List[bytes]] = [[] for _ in reqs]
        pending = len(reqs)
        while pending:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise LxczError("netlink: the kernel did not answer") from None
            off = 0
            while off + _HDR.size <= len(data):
                length, mtype, flags, seq, _pid = _HDR.unpack_from(data, off)
                if length < _HDR.size:
                    break
                i = seq - first
                if 0 <= i < len(reqs):
                    if mtype == NLMSG_ERROR:
                        code = struct.unpack_from("=i", data, off + 16)[0]
                        if code:
                            errors[i] = self._error(-code, data, off, length, flags)
                        pending -= 1
                    elif mtype == NLMSG_DONE:
                        pending -= 1
                    else:
                        replies[i].append(data[off:off + length])
                off += (length + 3) & ~3
        return errors, replies

    def _error(self, code: int, data: bytes, off: int, length: int, flags: int) -> Exception:
        """A NetlinkError with the kernel's own message (extended ack) when it gave one."""
        text = ""
        if flags & NLM_F_ACK_TLVS:
            inner = 16 if flags & NLM_F_CAPPED else _HDR.unpack_from(data, off + 20)[0]
            pos, end = off + 20 + ((inner + 3) & ~3), off + length
            while pos + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, pos)
                if alen < 4:
                    break
                if atype == NLMSGERR_ATTR_MSG:
                    text = data[pos + 4:pos + alen].split(b"\0", 1)[0].decode(errors="replace")
                pos += (alen + 3) & ~3
        return self.m.NetlinkError(code, f"{os.strerror(code)} ({text})" if text else None)

    def batch(self, reqs: List[Req]) -> List[Any]:
        return self._exchange(reqs)[0] if reqs else []

    def call(self, req: Req) -> None:
        err = self.batch([req])[0]
        if err is not None:
            raise err

    def dump(self, msg: Any, mtype: int) -> List[Any]:
        errors, replies = self._exchange([Req(msg, mtype, NLM_F_DUMP)])
        if errors[0] is not None:
            raise errors[0]
        out = []
        for raw in replies[0]:
            m = type(msg)(bytearray(raw))
            m.decode()
            out.append(m)
        return out

    def index(self, name: str) -> Optional[int]:
        """The ifindex of name, or None: one RTM_GETLINK by name, not a dump of all links."""
        msg = self.m.ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name), ("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)]
        errors, replies = self._exchange([Req(msg, RTM_GETLINK)])
        if errors[0] is not None or not replies[0]:
            return None  # ENODEV (or a name the kernel refuses): not there
        return struct.unpack_from("=i", replies[0][0], 16 + 4)[0]  # ifinfomsg.ifi_index

    def names(self) -> Dict[str, int]:
        """Every link of this namespace: name -> ifindex."""
        msg = self.m.ifinfmsg()
        msg["attrs"] = [("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)]
        return {m.get_attr("IFLA_IFNAME"): m["index"] for m in self.dump(msg, RTM_GETLINK)}

    # -- messages
    def link(self, index: int = 0, up: Optional[bool] = None, attrs: Optional[list] = None,
             ) -> Any:
        msg = self.m.ifinfmsg()
        msg["index"] = index
        if up is not None:
            msg["flags"] = IFF_UP if up else 0
            msg["change"] = IFF_UP
        msg["attrs"] = list(attrs or [])
        return msg

    def addr(self, index: int, iface: Any, broadcast: Optional[str]) -> Any:
        msg = self.m.ifaddrmsg()
        msg["family"] = socket.AF_INET if iface.version == 4 else socket.AF_INET6
        msg["prefixlen"] = iface.network.prefixlen
        msg["index"] = index
        ip = str(iface.ip)
        msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
        if broadcast:
            msg["attrs"].append(("IFA_BROADCAST", broadcast))
        return msg

    def route(self, family: int, dst: Optional[Any], oif: int = 0,
              gateway: Optional[str] = None) -> Any:
        """dst: an ip_network, or None for the default route."""
        msg = self.m.rtmsg()
        msg["family"] = family
        msg["dst_len"] = dst.prefixlen if dst is not None else 0
        msg["table"] = RT_TABLE_MAIN
        msg["proto"] = RTPROT_STATIC
        msg["scope"] = 0
        msg["type"] = RTN_UNICAST
        attrs: list = []
        if dst is not None:
            attrs.append(("RTA_DST", str(dst.network_address)))
        if gateway:
            attrs.append(("RTA_GATEWAY", gateway))
        if oif:
            attrs.append(("RTA_OIF", oif))
        msg["attrs"] = attrs
        return msg

    def neigh(self, family: int, ifindex: int, dst: str) -> Any:
        msg = self.m.ndmsg()
        msg["family"] = family
        msg["ifindex"] = ifindex
        msg["state"] = NUD_PERMANENT
        msg["flags"] = NTF_PROXY
        msg["attrs"] = [("NDA_DST", dst)]
        return msg


def _iproute(pid: Optional[int] = None) -> Any:
    """A pyroute2 IPRoute on the host, or on the netns of pid (kept for lxcz.device and
    lxcz.net.usernic, which drive pyroute2's IPRoute themselves)."""
    _pyroute2_light()
    from pyroute2 import IPRoute

    if pid is None:
        return IPRoute()
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _iproute_fd(target)
    finally:
        os.close(target)


def _iproute_fd(target: int, own: Optional[int] = None) -> Any:
    _pyroute2_light()
    from pyroute2 import IPRoute

    close_own = own is None
    if own is None:
        own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        calls.setns(target, calls.CLONE_NEWNET)
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0)
        finally:
            calls.setns(own, calls.CLONE_NEWNET)
    finally:
        if close_own:
            os.close(own)
    return IPRoute(use_socket=sock)


def _lookup(ipr: Any, name: str) -> Optional[int]:
    """ifindex of name through a pyroute2 IPRoute (for lxcz.device, lxcz.net.usernic)."""
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _nl_error(idx: int, key: str, what: str, err: Exception) -> LxczError:
    code = getattr(err, "code", None)
    cause = str(err.args[1]) if len(err.args) > 1 and err.args[1] else ""
    if not cause:
        cause = os.strerror(code) if isinstance(code, int) and code > 0 else str(err)
    return _err(idx, key, f"{what}: {cause}")


def prepare(container_name: str, networks: List[Dict[str, Any]], pid: int) -> NetState:
    """Make the host-side objects, with the container ends made straight in pid's netns."""
    validate(networks)
    state = NetState(container_name, pid, networks)
    if not any(n.get("type") not in ("none", "empty") for n in networks):
        return state
    try:
        with Rtnl() as nl:
            for net in networks:
                made = _prepare_one(nl, net, pid)
                if made is not None:
                    state.made.append(made)
    except BaseException:
        teardown(state)
        raise
    return state


def _prepare_one(nl: Rtnl, net: Dict[str, Any], pid: int) -> Optional[Made]:
    idx = net.get("index", 0)
    kind = net["type"]
    if kind in ("none", "empty"):
        return None
    link = net.get("link") or ""
    link_idx = nl.index(link) if link else None
    if link and link_idx is None:
        raise _err(idx, "link", f"host interface '{link}' does not exist")
    made = Made(idx, kind, final_name=net.get("name") or "")
    try:
        if kind == "veth":
            _make_veth(nl, net, made, link, link_idx, pid)
        elif kind in ("macvlan", "ipvlan", "vlan"):
            _make_lower(nl, net, made, link_idx, pid)
        elif kind == "phys":
            nl.call(Req(nl.link(link_idx, attrs=[("IFLA_NET_NS_PID", pid)]), RTM_NEWLINK))
            made.host_name = link
            made.peer_tmp = link
            made.moved = True
        _host_routes(nl, net, made)
    except nl.m.NetlinkError as err:
        _undo_one(nl, made)
        raise _nl_error(idx, "type", f"cannot set up {kind} interface", err) from None
    except BaseException:
        _undo_one(nl, made)
        raise
    return made


def _make_veth(nl: Rtnl, net: Dict[str, Any], made: Made, link: str,
               link_idx: Optional[int], pid: int) -> None:
    """One RTM_NEWLINK: the host end named, sized, on its bridge and up; the container end
    made directly inside pid's netns under a temporary name (configure() names it)."""
    idx = made.index
    ovs = False
    attrs: list = []
    if link and (net.get("veth.mode") or "bridge") == "bridge":
        if os.path.isdir(f"/sys/class/net/{link}/bridge"):
            attrs.append(("IFLA_MASTER", link_idx))
        elif _is_ovs_bridge(link):
            ovs = True
        else:
            raise _err(idx, "link", f"host interface '{link}' is not a bridge")
    host = net.get("veth.pair") or "veth" + _random_suffix()
    peer = "vp" + _random_suffix(10)
    if net.get("mtu") not in (None, ""):
        attrs.append(("IFLA_MTU", int(net["mtu"])))
    peer_info = {"attrs": [("IFLA_IFNAME", peer), ("IFLA_NET_NS_PID", pid)]}
    attrs = [("IFLA_IFNAME", host)] + attrs + [
        ("IFLA_LINKINFO", {"attrs": [
            ("IFLA_INFO_KIND", "veth"),
            ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer_info)]})]})]
    try:
        nl.call(Req(nl.link(up=True, attrs=attrs), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL))
    except nl.m.NetlinkError as err:
        if err.code == errno.EEXIST and nl.index(host) is not None:
            raise _err(idx, "veth.pair", f"host interface '{host}' already exists") from None
        raise
    made.host_name, made.peer_tmp, made.moved = host, peer, True
    if net.get("veth.vlan.id") not in (None, "") or net.get("veth.vlan.tagged.id"):
        _bridge_vlans(nl, net, host, link, ovs)
    if ovs:
        res = subprocess.run(["ovs-vsctl", "add-port", link, host], capture_output=True,
                             text=True)
        if res.returncode != 0:
            raise _err(idx, "link", f"cannot add {host} to Open vSwitch bridge '{link}': "
                       + (res.stderr.strip() or f"status {res.returncode}"))


def _bridge_vlans(nl: Rtnl, net: Dict[str, Any], host: str, link: str, ovs: bool) -> None:
    """veth.vlan.id / veth.vlan.tagged.id on the host end's bridge port, as LXC 5 does:
    the untagged VLAN replaces the bridge's default one as the port's PVID ('none' only
    removes the default), each tagged id is added; the bridge must filter VLANs."""
    idx = net.get("index", 0)
    if ovs or not link or (net.get("veth.mode") or "bridge") != "bridge":
        raise _err(idx, "veth.vlan.id", "VLANs need a veth on a Linux bridge")
    try:
        with open(f"/sys/class/net/{link}/bridge/vlan_filtering") as f:
            filtering = f.read().strip() == "1"
        with open(f"/sys/class/net/{link}/bridge/default_pvid") as f:
            default_pvid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        filtering, default_pvid = False, 0
    if not filtering:
        raise _err(idx, "veth.vlan.id", f"bridge '{link}' does not filter VLANs "
                   "(vlan_filtering is off)")
    port = nl.index(host)

    def vlan_req(mtype: int, vid: int, flags: int) -> Req:
        msg = nl.link(port, attrs=[("IFLA_AF_SPEC", {"attrs": [
            ("IFLA_BRIDGE_VLAN_INFO", {"flags": flags, "vid": vid})]})])
        msg["family"] = AF_BRIDGE
        return Req(msg, mtype, net=idx, what="veth.vlan.id")

    reqs = []
    untagged = net.get("veth.vlan.id")
    if untagged not in (None, ""):
        if default_pvid:
            reqs.append(vlan_req(RTM_DELLINK, default_pvid, 0))
        if untagged != "none" and int(untagged):
            reqs.append(vlan_req(RTM_SETLINK, int(untagged),
                                 BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED))
    for vid in _as_list(net.get("veth.vlan.tagged.id")):
        reqs.append(vlan_req(RTM_SETLINK, int(vid), 0))
    for req, err in zip(reqs, nl.batch(reqs)):
        if err is not None:
            vid = req.msg.get_attr("IFLA_AF_SPEC").get_attr("IFLA_BRIDGE_VLAN_INFO")["vid"]
            raise _nl_error(idx, "veth.vlan.id", f"cannot set VLAN {vid} on {host}", err)


def _make_lower(nl: Rtnl, net: Dict[str, Any], made: Made, link_idx: Optional[int],
                pid: int) -> None:
    """macvlan, ipvlan, vlan on the host's link, made directly inside pid's netns."""
    kind = made.kind
    data: list = []
    if kind == "macvlan":
        data.append(("IFLA_MACVLAN_MODE", MACVLAN_MODES[net.get("macvlan.mode") or "private"]))
    elif kind == "ipvlan":
        data.append(("IFLA_IPVLAN_MODE", IPVLAN_MODES[net.get("ipvlan.mode") or "l3"]))
        if not _knows(nl, "ipvlan", "IFLA_IPVLAN_FLAGS"):
            _teach_ipvlan_flags(nl)
        data.append(("IFLA_IPVLAN_FLAGS",
                     IPVLAN_ISOLATION[net.get("ipvlan.isolation") or "bridge"]))
    else:
        data.append(("IFLA_VLAN_ID", int(net["vlan.id"])))
    made.peer_tmp = "mv" + _random_suffix(10)
    attrs = [("IFLA_IFNAME", made.peer_tmp), ("IFLA_LINK", link_idx),
             ("IFLA_NET_NS_PID", pid),
             ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", kind),
                                          ("IFLA_INFO_DATA", {"attrs": data})]})]
    nl.call(Req(nl.link(attrs=attrs), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL))
    made.moved = True


def _knows(nl: Rtnl, kind: str, nla: str) -> bool:
    """Does this pyroute2 know attribute nla of link kind (older ones lack some)?"""
    cls = nl.m.ifinfmsg.ifinfo.data_map.get(kind)
    return cls is not None and any(n[0] == nla or n[1:2] == (nla,) for n in cls.nla_map)


def _teach_ipvlan_flags(nl: Rtnl) -> None:
    """pyroute2 releases up to at least 0.9.7 know IFLA_IPVLAN_MODE but not the kernel's
    IFLA_IPVLAN_FLAGS (ipvlan.isolation, Linux 4.15+): give its ipvlan data the same
    attribute table plus that one (uint16, attribute 2 as in linux/if_link.h)."""
    from pyroute2.netlink import nla

    data_map = nl.m.ifinfmsg.ifinfo.data_map

    class ipvlan_data(nla):  # noqa: N801 - pyroute2's naming
        prefix = "IFLA_"
        nla_map = (("IFLA_IPVLAN_UNSPEC", "none"), ("IFLA_IPVLAN_MODE", "uint16"),
                   ("IFLA_IPVLAN_FLAGS", "uint16"))

    data_map["ipvlan"] = ipvlan_data


def _is_ovs_bridge(link: str) -> bool:
    from shutil import which

    if not which("ovs-vsctl"):
        return False
    return subprocess.run(["ovs-vsctl", "br-exists", link], capture_output=True).returncode == 0


def _attach_to_bridge(ipr: Any, idx: int, link: str, link_idx: int, host: str,
                      host_idx: int) -> None:
    """Put host on bridge link through a pyroute2 IPRoute (for lxcz.net.usernic)."""
    if os.path.isdir(f"/sys/class/net/{link}/bridge"):
        ipr.link("set", index=host_idx, master=link_idx)
        return
    if _is_ovs_bridge(link):
        subprocess.run(["ovs-vsctl", "add-port", link, host], check=True,
                       capture_output=True)
        return
    raise _err(idx, "link", f"host interface '{link}' is not a bridge")


def _host_routes(nl: Rtnl, net: Dict[str, Any], made: Made) -> None:
    """veth router mode and veth.ipvX.route: routes to the container via the host end."""
    if made.kind != "veth":
        return
    routes = []
    for fam in ("ipv4", "ipv6"):
        for text in _as_list(net.get(f"veth.{fam}.route")):
            try:
                routes.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise _err(made.index, f"veth.{fam}.route",
                           f"invalid route '{text}'") from None
    if net.get("veth.mode") == "router":
        for fam in ("ipv4", "ipv6"):
            for text in _as_list(net.get(f"{fam}.address")):
                iface, _ = _parse_addr(made.index, fam, text)
                if iface is not None:
                    routes.append(ipaddress.ip_network(iface.ip))
    if not routes:
        return
    host_idx = nl.index(made.host_name) or 0
    family = {4: socket.AF_INET, 6: socket.AF_INET6}
    reqs = [Req(nl.route(family[dst.version], dst, oif=host_idx), RTM_NEWROUTE,
                NLM_F_CREATE | NLM_F_EXCL) for dst in routes]
    errors = nl.batch(reqs)
    for dst, err in zip(routes, errors):
        if err is None:
            made.host_routes.append(str(dst))
    for err in errors:
        if err is not None:
            raise err


def configure(state: NetState) -> None:
    """Inside the container's netns: lo up, then every interface as configured; one
    write of requests for the whole namespace."""
    if any(n.get("type") == "none" for n in state.networks):
        return
    made_by_index = {m.index: m for m in state.made}
    gateways = _auto_gateways(state, made_by_index)
    with Rtnl(pid=state.pid) as nl:
        present = nl.names()
        taken = set(present)
        reqs = []
        if "lo" in present:
            reqs.append(Req(nl.link(present["lo"], up=True), RTM_NEWLINK, 0, -1, "lo"))
        counter = 0
        for net in state.networks:
            made = made_by_index.get(net.get("index", 0))
            if made is None:
                continue
            if not made.final_name:
                while f"eth{counter}" in taken:
                    counter += 1
                made.final_name = f"eth{counter}"
                counter += 1
            dev = present.get(made.peer_tmp)
            if dev is None:
                raise _err(made.index, "type", f"cannot configure {made.final_name}: "
                           f"'{made.peer_tmp}' is not in the container")
            if made.final_name != made.peer_tmp:
                if made.final_name in taken:
                    raise _err(made.index, "name", f"interface '{made.final_name}' already "
                               "exists in the container")
                taken.discard(made.peer_tmp)
                taken.add(made.final_name)
            reqs += _configure_reqs(nl, net, made, dev, gateways)
        errors = nl.batch(reqs)
    for req, err in zip(reqs, errors):
        if err is not None:
            if req.net < 0:
                raise LxczError(f"cannot bring up lo in the container: {err.args[-1]}")
            raise _nl_error(req.net, "type", f"cannot configure {req.what}", err)
    _l2proxies(state, made_by_index)


def _configure_reqs(nl: Rtnl, net: Dict[str, Any], made: Made, dev: int,
                    gateways: Dict[tuple, str]) -> List[Req]:
    """Down (a name changes only on a down link); name, MAC, MTU; addresses; up; default
    routes: in this order, as requests for one batch."""
    idx, what = made.index, made.final_name
    out = [Req(nl.link(dev, up=False), RTM_NEWLINK, 0, idx, what)]
    attrs: list = []
    if made.final_name != made.peer_tmp:
        attrs.append(("IFLA_IFNAME", made.final_name))
    hw = net.get("hwaddr")
    if hw:
        attrs.append(("IFLA_ADDRESS", random_mac(hw) if "x" in hw.lower() else hw))
    if net.get("mtu") not in (None, ""):
        attrs.append(("IFLA_MTU", int(net["mtu"])))
    if attrs:
        out.append(Req(nl.link(dev, attrs=attrs), RTM_NEWLINK, 0, idx, what))
    for fam in ("ipv4", "ipv6"):
        for text in _as_list(net.get(f"{fam}.address")):
            iface, bcast = _parse_addr(idx, fam, text)
            if iface is None:
                continue
            if fam == "ipv4" and not bcast:
                bcast = str(iface.network.broadcast_address)
            out.append(Req(nl.addr(dev, iface, bcast), RTM_NEWADDR,
                           NLM_F_CREATE | NLM_F_EXCL, idx, what))
    if net.get("flags") != "up":
        return out
    out.append(Req(nl.link(dev, up=True), RTM_NEWLINK, 0, idx, what))
    for fam, family in (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6)):
        gw = net.get(f"{fam}.gateway")
        if not gw:
            continue
        if gw == "auto":
            gw = gateways[(idx, fam)]
        msg = (nl.route(family, None, oif=dev) if gw == "dev"
               else nl.route(family, None, oif=dev, gateway=gw))
        out.append(Req(msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, idx, what))
    return out


def _auto_gateways(state: NetState, made_by_index: Dict[int, Made]) -> Dict[tuple, str]:
    """ipvX.gateway = auto: the bridge's address on the host, looked up before the batch."""
    wanted = [(net, fam, family) for net in state.networks
              if net.get("index", 0) in made_by_index and net.get("flags") == "up"
              for fam, family in (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6))
              if net.get(f"{fam}.gateway") == "auto"]
    out: Dict[tuple, str] = {}
    if not wanted:
        return out
    with Rtnl() as host:
        for net, fam, family in wanted:
            gw = _bridge_address(host, net.get("link") or "", family)
            if gw is None:
                raise _err(net.get("index", 0), f"{fam}.gateway",
                           f"'auto' needs an {fam} address on bridge '{net.get('link')}'")
            out[(net.get("index", 0), fam)] = gw
    return out


def _bridge_address(host: Rtnl, link: str, family: int) -> Optional[str]:
    if not link:
        return None
    idx = host.index(link)
    if idx is None:
        return None
    msg = host.m.ifaddrmsg()
    msg["family"] = family
    for addr in host.dump(msg, RTM_GETADDR):
        if addr["index"] == idx and addr["scope"] == 0:
            return addr.get_attr("IFA_ADDRESS")
    return None


def _l2proxies(state: NetState, made_by_index: Dict[int, Made]) -> None:
    """lxc.net.N.l2proxy: proxy ARP/NDP entries for the container's addresses on link."""
    nets = [n for n in state.networks if n.get("l2proxy") in ("1", 1, True)
            and n.get("index", 0) in made_by_index]
    if not nets:
        return
    with Rtnl() as host:
        for net in nets:
            made = made_by_index[net.get("index", 0)]
            link = net.get("link") or ""
            link_idx = host.index(link) if link else None
            if link_idx is None:
                continue
            for fam, family in (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6)):
                for text in _as_list(net.get(f"{fam}.address")):
                    iface, _ = _parse_addr(made.index, fam, text)
                    if iface is None:
                        continue
                    try:
                        host.call(Req(host.neigh(family, link_idx, str(iface.ip)),
                                      RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL))
                    except host.m.NetlinkError as err:
                        raise _nl_error(made.index, "l2proxy",
                                        f"cannot add a proxy entry for {iface.ip}", err) from None
                    made.proxies.append((family, str(iface.ip), link))


def take_back_phys(state: NetState) -> None:
    """Before the container's netns goes away, return phys NICs under their old names."""
    phys = [m for m in state.made if m.kind == "phys" and m.moved]
    if not phys:
        return
    if state.netns_fd < 0 and state.pid <= 0:
        return  # the namespace is gone: teardown renames what came back to the host
    try:
        nl = Rtnl(netns_fd=state.netns_fd) if state.netns_fd >= 0 else Rtnl(pid=state.pid)
    except OSError:
        return
    with nl:
        for m in phys:
            dev = nl.index(m.final_name or m.peer_tmp)
            if dev is None:
                continue
            errors = nl.batch([
                Req(nl.link(dev, up=False), RTM_NEWLINK),
                Req(nl.link(dev, attrs=[("IFLA_IFNAME", m.host_name)]), RTM_NEWLINK),
                Req(nl.link(dev, attrs=[("IFLA_NET_NS_PID", os.getpid())]), RTM_NEWLINK),
            ])
            if errors[2] is None:
                m.moved = False


def teardown(state: NetState) -> None:
    """Undo prepare(): every error is swallowed so cleanup always runs to the end."""
    try:
        take_back_phys(state)
    except Exception:  # noqa: BLE001 - cleanup continues whatever failed
        pass
    try:
        if state.made:
            with Rtnl() as nl:
                for m in state.made:
                    _undo_one(nl, m)
    except Exception:  # noqa: BLE001
        pass
    finally:
        if state.netns_fd >= 0:
            os.close(state.netns_fd)
            state.netns_fd = -1


def _undo_one(nl: Rtnl, m: Made) -> None:
    """Host routes, proxy entries, then the links this start made (deleted by name: one
    request each, no lookups; a link already gone is fine)."""
    reqs: List[Req] = []
    for dst in m.host_routes:
        net = ipaddress.ip_network(dst, strict=False)
        reqs.append(Req(nl.route(socket.AF_INET if net.version == 4 else socket.AF_INET6,
                                 net), RTM_DELROUTE))
    m.host_routes = []
    for family, addr, link in m.proxies:
        link_idx = nl.index(link)
        if link_idx is not None:
            reqs.append(Req(nl.neigh(family, link_idx, addr), RTM_DELNEIGH))
    m.proxies = []
    if m.kind == "phys":
        # a phys NIC whose netns died comes back on its own under its container name
        if m.final_name and m.final_name != m.host_name:
            dev = nl.index(m.final_name)
            if dev is not None and nl.index(m.host_name) is None:
                reqs.append(Req(nl.link(dev, up=False), RTM_NEWLINK))
                reqs.append(Req(nl.link(dev, attrs=[("IFLA_IFNAME", m.host_name)]),
                                RTM_NEWLINK))
    else:
        for name in (m.host_name, m.peer_tmp):
            if name:
                reqs.append(Req(nl.link(attrs=[("IFLA_IFNAME", name)]), RTM_DELLINK))
    try:
        nl.batch(reqs)
    except Exception:  # noqa: BLE001 - cleanup goes on
        pass


def run_script(script: str, container: str, config_file: str, net: Dict[str, Any],
               made: Optional[Made], when: str) -> None:
    """lxc.net.N.script.up/down with LXC's arguments and environment."""
    kind = net.get("type", "")
    env = dict(os.environ)
    env.update({"LXC_NAME": container, "LXC_CONFIG_FILE": config_file,
                "LXC_HOOK_TYPE": when, "LXC_HOOK_SECTION": "net", "LXC_NET_TYPE": kind})
    argv = script.split() + [container, "net", when, kind]
    if net.get("link"):
        env["LXC_NET_PARENT"] = net["link"]
    if made is not None and made.host_name:
        env["LXC_NET_PEER"] = made.host_name
        argv.append(made.host_name)
    res = subprocess.run(argv, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise _err(net.get("index", 0), f"script.{when}",
                   f"'{script}' exited with status {res.returncode}"
                   + (f": {detail[-1]}" if detail else ""))

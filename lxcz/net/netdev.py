"""Container network interfaces on pyroute2: made on the host, moved in, configured, undone.

The runtime calls three functions around the container's init (which already lives in its
new network namespace):

- ``prepare(container_name, networks, pid)`` — on the host: make veth pairs (host end on
  the bridge named by ``link``, or routed for ``veth.mode = router``), macvlan, ipvlan and
  vlan links, or take a ``phys`` NIC; move the container ends into the netns of ``pid``.
  Returns a ``NetState`` that records everything made, so it can be undone.
- ``configure(state)`` — inside that netns: loopback up, names, MAC addresses, MTU,
  addresses, ``flags = up``, gateways; routes and proxy entries on the host side.
- ``teardown(state)`` — give phys NICs back under their old names, delete host ends and
  host routes. Safe to call twice and after a failed ``prepare``.

``networks`` is the list ``ContainerConfig.networks()`` returns: one dict per
``lxc.net.N`` with the key suffixes (``type``, ``link``, ``ipv4.address``...) as keys.
Every error is an ``LxczError`` naming the ``lxc.net.N`` key and the cause. pyroute2 is
imported only here, and only when a container has a network to set up.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
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

    return os.path.join(STATE_DIR, f"{lxcpath_key(lxcpath)}-{name}.json")


def save_state(state: NetState, path: str) -> None:
    import json

    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    tmp = path + ".new"
    with open(tmp, "w") as fh:
        json.dump(state.to_json(), fh)
    os.replace(tmp, path)


def forget_state(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def cleanup_stale(path: str) -> bool:
    """Undo what a dead monitor left (phys NICs under their container names, host routes,
    proxy entries, veth ends whose peer outlived it). True when there was something."""
    import json

    try:
        with open(path) as fh:
            state = NetState.from_json(json.load(fh))
    except (OSError, ValueError, TypeError, KeyError):
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


def _iproute(pid: Optional[int] = None) -> Any:
    """An IPRoute on the host, or on the netns of pid (socket opened there with setns)."""
    from pyroute2 import IPRoute

    if pid is None:
        return IPRoute()
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _iproute_fd(target, own)
    finally:
        os.close(own)
        os.close(target)


def _iproute_fd(target: int, own: Optional[int] = None) -> Any:
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
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _nl_error(idx: int, key: str, what: str, err: Exception) -> LxczError:
    code = getattr(err, "code", None)
    cause = os.strerror(code) if isinstance(code, int) and code > 0 else str(err)
    return _err(idx, key, f"{what}: {cause}")


def prepare(container_name: str, networks: List[Dict[str, Any]], pid: int) -> NetState:
    """Make the host-side objects and move container ends into pid's netns."""
    validate(networks)
    state = NetState(container_name, pid, networks)
    if not any(n.get("type") not in ("none", "empty") for n in networks):
        return state
    try:
        with _iproute() as ipr:
            for net in networks:
                made = _prepare_one(ipr, net, pid)
                if made is not None:
                    state.made.append(made)
    except BaseException:
        teardown(state)
        raise
    return state


def _prepare_one(ipr: Any, net: Dict[str, Any], pid: int) -> Optional[Made]:
    from pyroute2 import NetlinkError

    idx = net.get("index", 0)
    kind = net["type"]
    if kind in ("none", "empty"):
        return None
    link = net.get("link") or ""
    link_idx = _lookup(ipr, link) if link else None
    if link and link_idx is None:
        raise _err(idx, "link", f"host interface '{link}' does not exist")
    made = Made(idx, kind, final_name=net.get("name") or "")
    mtu = int(net["mtu"]) if net.get("mtu") not in (None, "") else None
    try:
        if kind == "veth":
            made.host_name = net.get("veth.pair") or "veth" + _random_suffix()
            if _lookup(ipr, made.host_name) is not None:
                raise _err(idx, "veth.pair", f"host interface '{made.host_name}' already exists")
            made.peer_tmp = "vp" + _random_suffix(10)
            ipr.link("add", ifname=made.host_name, kind="veth", peer=made.peer_tmp)
            host_idx = _lookup(ipr, made.host_name)
            if mtu:
                ipr.link("set", index=host_idx, mtu=mtu)
            mode = net.get("veth.mode") or "bridge"
            if link and mode == "bridge":
                _attach_to_bridge(ipr, idx, link, link_idx, made.host_name, host_idx)
            ipr.link("set", index=host_idx, state="up")
        elif kind in ("macvlan", "ipvlan", "vlan"):
            made.peer_tmp = "mv" + _random_suffix(10)
            spec: Dict[str, Any] = {"ifname": made.peer_tmp, "link": link_idx, "kind": kind}
            if kind == "macvlan":
                spec["macvlan_mode"] = net.get("macvlan.mode") or "private"
            elif kind == "ipvlan":
                spec["ipvlan_mode"] = IPVLAN_MODES[net.get("ipvlan.mode") or "l3"]
                spec["ipvlan_flags"] = IPVLAN_ISOLATION[net.get("ipvlan.isolation") or "bridge"]
            else:
                spec["vlan_id"] = int(net["vlan.id"])
            ipr.link("add", **spec)
        elif kind == "phys":
            made.host_name = link
            made.peer_tmp = link
        peer_idx = _lookup(ipr, made.peer_tmp)
        ipr.link("set", index=peer_idx, net_ns_pid=pid)
        made.moved = True
        _host_routes(ipr, net, made)
    except NetlinkError as err:
        _undo_one(ipr, made)
        raise _nl_error(idx, "type", f"cannot set up {kind} interface", err) from None
    except LxczError:
        _undo_one(ipr, made)
        raise
    return made


def _attach_to_bridge(ipr: Any, idx: int, link: str, link_idx: int, host: str,
                      host_idx: int) -> None:
    if os.path.isdir(f"/sys/class/net/{link}/bridge"):
        ipr.link("set", index=host_idx, master=link_idx)
        return
    if _is_ovs_bridge(link):
        subprocess.run(["ovs-vsctl", "add-port", link, host], check=True,
                       capture_output=True)
        return
    raise _err(idx, "link", f"host interface '{link}' is not a bridge")


def _is_ovs_bridge(link: str) -> bool:
    from shutil import which

    if not which("ovs-vsctl"):
        return False
    return subprocess.run(["ovs-vsctl", "br-exists", link], capture_output=True).returncode == 0


def _host_routes(ipr: Any, net: Dict[str, Any], made: Made) -> None:
    """veth router mode and veth.ipvX.route: routes to the container via the host end."""
    if made.kind != "veth":
        return
    routes = _as_list(net.get("veth.ipv4.route")) + _as_list(net.get("veth.ipv6.route"))
    if net.get("veth.mode") == "router":
        for fam in ("ipv4", "ipv6"):
            for text in _as_list(net.get(f"{fam}.address")):
                iface, _ = _parse_addr(made.index, fam, text)
                if iface is not None:
                    routes.append(f"{iface.ip}/{iface.network.max_prefixlen}")
    host_idx = _lookup(ipr, made.host_name)
    for dst in routes:
        ipr.route("add", dst=dst, oif=host_idx)
        made.host_routes.append(dst)


def configure(state: NetState) -> None:
    """Inside the container's netns: lo up, then every interface as configured."""
    if any(n.get("type") == "none" for n in state.networks):
        return
    counter = 0
    with _iproute(state.pid) as ipr:
        lo = _lookup(ipr, "lo")
        if lo is not None:
            ipr.link("set", index=lo, state="up")
        made_by_index = {m.index: m for m in state.made}
        for net in state.networks:
            made = made_by_index.get(net.get("index", 0))
            if made is None:
                continue
            if not made.final_name:
                while _lookup(ipr, f"eth{counter}") is not None:
                    counter += 1
                made.final_name = f"eth{counter}"
                counter += 1
            _configure_one(ipr, net, made)
    with _iproute() as host:
        for net in state.networks:
            made = made_by_index.get(net.get("index", 0))
            if made is not None and net.get("l2proxy") in ("1", 1, True):
                _l2proxy(host, net, made)


def _configure_one(ipr: Any, net: Dict[str, Any], made: Made) -> None:
    from pyroute2 import NetlinkError

    idx = made.index
    dev = _lookup(ipr, made.peer_tmp)
    try:
        ipr.link("set", index=dev, state="down")
        if made.final_name != made.peer_tmp:
            if _lookup(ipr, made.final_name) is not None:
                raise _err(idx, "name", f"interface '{made.final_name}' already exists "
                           "in the container")
            ipr.link("set", index=dev, ifname=made.final_name)
        if net.get("hwaddr"):
            ipr.link("set", index=dev, address=random_mac(net["hwaddr"]) if "x" in
                     net["hwaddr"].lower() else net["hwaddr"])
        if net.get("mtu") not in (None, ""):
            ipr.link("set", index=dev, mtu=int(net["mtu"]))
        for fam in ("ipv4", "ipv6"):
            for text in _as_list(net.get(f"{fam}.address")):
                iface, bcast = _parse_addr(idx, fam, text)
                if iface is None:
                    continue
                extra = {"broadcast": bcast} if bcast else {}
                if fam == "ipv4" and not bcast:
                    extra["broadcast"] = str(iface.network.broadcast_address)
                ipr.addr("add", index=dev, address=str(iface.ip),
                         prefixlen=iface.network.prefixlen, **extra)
        if net.get("flags") == "up":
            ipr.link("set", index=dev, state="up")
            _gateways(ipr, net, made, dev)
    except NetlinkError as err:
        raise _nl_error(idx, "type", f"cannot configure {made.final_name}", err) from None


def _gateways(ipr: Any, net: Dict[str, Any], made: Made, dev: int) -> None:
    for fam, family in (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6)):
        gw = net.get(f"{fam}.gateway")
        if not gw:
            continue
        if gw == "dev":
            ipr.route("add", dst="default", oif=dev, family=family)
            continue
        if gw == "auto":
            gw = _bridge_address(net.get("link") or "", family)
            if gw is None:
                raise _err(made.index, f"{fam}.gateway",
                           f"'auto' needs an {fam} address on bridge '{net.get('link')}'")
        ipr.route("add", dst="default", gateway=gw, oif=dev, family=family)


def _bridge_address(link: str, family: int) -> Optional[str]:
    if not link:
        return None
    with _iproute() as host:
        idx = _lookup(host, link)
        if idx is None:
            return None
        for addr in host.get_addr(index=idx, family=family):
            if addr.get("scope", 0) == 0:
                return addr.get_attr("IFA_ADDRESS")
    return None


def _l2proxy(host: Any, net: Dict[str, Any], made: Made) -> None:
    link = net.get("link") or ""
    link_idx = _lookup(host, link)
    if link_idx is None:
        return
    for fam, family in (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6)):
        for text in _as_list(net.get(f"{fam}.address")):
            iface, _ = _parse_addr(made.index, fam, text)
            if iface is None:
                continue
            host.neigh("add", dst=str(iface.ip), ifindex=link_idx, family=family,
                       flags=0x08, state=0x80)  # NTF_PROXY, NUD_PERMANENT
            made.proxies.append((family, str(iface.ip), link))


def take_back_phys(state: NetState) -> None:
    """Before the container's netns goes away, return phys NICs under their old names."""
    phys = [m for m in state.made if m.kind == "phys" and m.moved]
    if not phys:
        return
    if state.netns_fd < 0 and state.pid <= 0:
        return  # the namespace is gone: teardown renames what came back to the host
    try:
        ipr = (_iproute_fd(state.netns_fd) if state.netns_fd >= 0
               else _iproute(state.pid))
    except OSError:
        return
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with ipr:
            for m in phys:
                dev = _lookup(ipr, m.final_name or m.peer_tmp)
                if dev is None:
                    continue
                ipr.link("set", index=dev, state="down")
                ipr.link("set", index=dev, ifname=m.host_name)
                ipr.link("set", index=dev, net_ns_fd=host_ns)
                m.moved = False
    finally:
        os.close(host_ns)


def teardown(state: NetState) -> None:
    """Undo prepare(): every error is swallowed so cleanup always runs to the end."""
    try:
        take_back_phys(state)
    except Exception:  # noqa: BLE001 - cleanup continues whatever failed
        pass
    if not state.made:
        return
    try:
        ipr = _iproute()
    except Exception:  # noqa: BLE001
        return
    with ipr:
        for m in state.made:
            _undo_one(ipr, m)
    if state.netns_fd >= 0:
        os.close(state.netns_fd)
        state.netns_fd = -1


def _undo_one(ipr: Any, m: Made) -> None:
    for dst in m.host_routes:
        try:
            ipr.route("del", dst=dst)
        except Exception:  # noqa: BLE001
            pass
    m.host_routes = []
    for family, addr, link in m.proxies:
        try:
            ipr.neigh("del", dst=addr, ifindex=_lookup(ipr, link), family=family, flags=0x08)
        except Exception:  # noqa: BLE001
            pass
    m.proxies = []
    if m.kind == "phys":
        # a phys NIC whose netns died comes back on its own under its container name
        if m.final_name and m.final_name != m.host_name:
            dev = _lookup(ipr, m.final_name)
            if dev is not None and _lookup(ipr, m.host_name) is None:
                try:
                    ipr.link("set", index=dev, state="down")
                    ipr.link("set", index=dev, ifname=m.host_name)
                except Exception:  # noqa: BLE001
                    pass
        return
    for name in (m.host_name, m.peer_tmp):
        if not name:
            continue
        dev = _lookup(ipr, name)
        if dev is not None:
            try:
                ipr.link("del", index=dev)
            except Exception:  # noqa: BLE001
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

"""Veth interfaces for unprivileged users: lxcz's equivalent of upstream's lxc-user-nic.

Upstream ships a setuid-root C program. A Python script cannot be setuid, so lxcz runs a
small root service instead: ``lxcz usernet serve`` listens on a unix seqpacket socket
(``/run/lxcz/usernet.sock``, mode 0666). A caller connects and sends one JSON request
together with an open file descriptor of the target network namespace (SCM_RIGHTS; the
caller opens ``/proc/PID/ns/net`` of its container's init). The service

1. learns who the caller is from the kernel (SO_PEERCRED), never from the request;
2. checks the descriptor is a network namespace whose user namespace was created by the
   caller (walking NS_GET_USERNS / NS_GET_PARENT / NS_GET_OWNER_UID up to the service's
   own user namespace: the caller must own the top-level one, which is exactly when the
   kernel gives the caller CAP_NET_ADMIN over that netns);
3. looks up ``/etc/lxc/lxc-usernet`` for rules naming the user or one of its groups for
   that type and bridge, and counts the interfaces already handed out in ``/run/lxc/nics``
   (upstream's format and lock, stale lines pruned) against them;
4. makes the veth pair (host end ``vethUID_XXXX`` on the bridge, with the bridge's MTU
   and a 0xfe-prefixed MAC so the bridge keeps its own address), moves the peer into the
   namespace and renames it as asked (``eth%d`` when no name is given), records it, and
   answers with both names.

``delete`` removes an interface the caller was handed (and still holds: its peer must be
in a namespace the caller owns and sends). ``status`` tells the caller its rules and
what it uses. The runtime calls ``request_veth`` when it is not root; ``units`` gives the
systemd socket + service pair for ``lxcz install --service``; ``main`` is
``lxcz usernet serve|status``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import random
import select
import socket
import stat
import struct
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from lxcz.errors import LxczError
from lxcz.net.usernet_conf import (
    Entry,
    allotments,
    format_nics,
    parse_nics,
    parse_usernet,
    pick_rule,
    prune,
    used,
)

USERNET_CONF = "/etc/lxc/lxc-usernet"
NICS_DB = "/run/lxc/nics"
SOCKET_PATH = "/run/lxcz/usernet.sock"
SOCKET_ENV = "LXCZ_USERNET_SOCKET"  # client side only: where to find the service
MAX_MSG = 8192
CONN_TIMEOUT = 10.0
MAX_CLIENTS = 16
NIC_TYPES = ("veth",)

_NSIO = 0xB7  # linux/nsfs.h
CLONE_NEWNET = 0x40000000


def _ns_ioctl(nr: int) -> int:
    # _IO() carries a direction of 1 in the top bits on these architectures, 0 elsewhere
    none = 1 if platform.machine().startswith(("ppc", "powerpc", "mips", "sparc", "alpha")) else 0
    return (none << 29) | (_NSIO << 8) | nr


NS_GET_USERNS = _ns_ioctl(1)
NS_GET_PARENT = _ns_ioctl(2)
NS_GET_NSTYPE = _ns_ioctl(3)
NS_GET_OWNER_UID = _ns_ioctl(4)


class UsernetError(LxczError):
    """A refused or failed request; the message is sent to the caller as-is."""


# ---------------------------------------------------------------- checks on the caller

def _ns_id(fd: int) -> Tuple[int, int]:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def netns_owner_uid(netns_fd: int) -> int:
    """The uid that owns the netns: the owner of its top-level user namespace (the one
    right below ours). Raises UsernetError when fd is not a netns, or the netns belongs
    to our own user namespace (the host's, or one root made), which no user owns."""
    try:
        kind = fcntl.ioctl(netns_fd, NS_GET_NSTYPE)
    except OSError:
        raise UsernetError("the descriptor sent is not a namespace") from None
    if kind != CLONE_NEWNET:
        raise UsernetError("the descriptor sent is not a network namespace")
    own_fd = os.open("/proc/self/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        own = _ns_id(own_fd)
    finally:
        os.close(own_fd)
    userns = fcntl.ioctl(netns_fd, NS_GET_USERNS)
    top = -1
    try:
        for _ in range(64):  # the kernel nests at most 32 user namespaces
            if _ns_id(userns) == own:
                break
            try:
                parent = fcntl.ioctl(userns, NS_GET_PARENT)
            except OSError:
                raise UsernetError("the network namespace is not below the service's "
                                   "user namespace") from None
            if top >= 0:
                os.close(top)
            top, userns = userns, parent
        else:
            raise UsernetError("user namespaces nested too deep")
        if top < 0:
            raise UsernetError("the network namespace belongs to the host, not to a user "
                               "namespace of the caller")
        buf = bytearray(4)
        fcntl.ioctl(top, NS_GET_OWNER_UID, buf)
        return struct.unpack("I", bytes(buf))[0]
    finally:
        os.close(userns)
        if top >= 0:
            os.close(top)


def identity(uid: int) -> Tuple[str, List[str]]:
    """User name and the names of the groups the user database gives it."""
    import grp
    import pwd

    try:
        pw = pwd.getpwuid(uid)
    except KeyError:
        raise UsernetError(f"uid {uid} has no user name in the user database") from None
    names = []
    for gid in os.getgrouplist(pw.pw_name, pw.pw_gid):
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return pw.pw_name, names


# ---------------------------------------------------------------- the nics file

class NicsFile:
    """``/run/lxc/nics`` opened and locked (POSIX record lock, like lxc-user-nic) for the
    duration of a ``with`` block; entries for vanished interfaces are pruned on open."""

    def __init__(self, path: str, exists: Callable[[str], bool]) -> None:
        self.path = path
        self.exists = exists
        self.fd = -1
        self.lines: List[Tuple[str, Optional[Entry]]] = []
        self.dirty = False

    def __enter__(self) -> NicsFile:
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o755, exist_ok=True)
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                              0o600)
        except OSError as err:
            raise UsernetError(f"cannot open {self.path}: {err.strerror}") from None
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX)
            chunks = []
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except BaseException:
            os.close(self.fd)
            raise
        parsed = parse_nics(b"".join(chunks).decode("utf-8", "replace"))
        self.lines = prune(parsed, self.exists)
        self.dirty = len(self.lines) != len(parsed)
        return self

    def entries(self) -> List[Optional[Entry]]:
        return [e for _, e in self.lines]

    def add(self, entry: Entry) -> None:
        self.lines.append((entry.line().rstrip("\n"), entry))
        self.save()

    def remove(self, nic: str) -> None:
        self.lines = [(raw, e) for raw, e in self.lines if e is None or e.nic != nic]
        self.save()

    def save(self) -> None:
        data = format_nics(self.lines).encode()
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.dirty = False

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.dirty and exc[0] is None:
                self.save()
        finally:
            os.close(self.fd)
            self.fd = -1


# ---------------------------------------------------------------- links (root side)

def link_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def valid_ifname(name: str, pattern_ok: bool = False) -> bool:
    if not name or len(name) >= 16 or name in (".", ".."):
        return False
    if any(c in name for c in "/:") or any(c.isspace() for c in name):
        return False
    if "%" in name:
        return pattern_ok and name.count("%") == 1 and "%d" in name
    return True


class Links:
    """The netlink work, on pyroute2 through lxcz.net.netdev's helpers. Tests of the
    request logic replace this with a fake; integration tests use it for real."""

    exists = staticmethod(link_exists)

    def check_bridge(self, bridge: str) -> None:
        from lxcz.net import netdev

        if bridge == "none":
            return
        if not link_exists(bridge):
            raise UsernetError(f"bridge '{bridge}' does not exist")
        if not (os.path.isdir(f"/sys/class/net/{bridge}/bridge")
                or netdev._is_ovs_bridge(bridge)):
            raise UsernetError(f"host interface '{bridge}' is not a bridge")

    def create(self, host: str, bridge: str, netns_fd: int, name: str) -> Tuple[str, int, int]:
        """Make host/host+'p', put host on bridge, move the peer into netns_fd and rename
        it to name. Returns (name in the container, host ifindex, container ifindex)."""
        from pyroute2 import NetlinkError

        from lxcz.net import netdev

        peer = (host + "p")[:15]
        with netdev._iproute() as ipr:
            br_idx = None if bridge == "none" else netdev._lookup(ipr, bridge)
            if br_idx is None and bridge != "none":
                raise UsernetError(f"bridge '{bridge}' does not exist")
            mtu = None
            if br_idx is not None:
                mtu = ipr.link("get", index=br_idx)[0].get_attr("IFLA_MTU")
            try:
                ipr.link("add", ifname=host, kind="veth", peer=peer)
            except NetlinkError as err:
                raise UsernetError(f"cannot create veth pair {host}: "
                                   f"{os.strerror(err.code)}") from None
            try:
                host_idx = netdev._lookup(ipr, host)
                peer_idx = netdev._lookup(ipr, peer)
                if mtu:
                    ipr.link("set", index=host_idx, mtu=mtu)
                    ipr.link("set", index=peer_idx, mtu=mtu)
                mac = ipr.link("get", index=host_idx)[0].get_attr("IFLA_ADDRESS")
                if mac:
                    ipr.link("set", index=host_idx, address="fe" + mac[2:])
                if br_idx is not None:
                    if os.path.isdir(f"/sys/class/net/{bridge}/bridge"):
                        ipr.link("set", index=host_idx, master=br_idx)
                    else:
                        netdev._attach_to_bridge(ipr, 0, bridge, br_idx, host, host_idx)
                ipr.link("set", index=host_idx, state="up")
                try:
                    ipr.link("set", index=peer_idx, net_ns_fd=netns_fd)
                except NetlinkError as err:
                    raise UsernetError("cannot move the interface into the network "
                                       f"namespace: {os.strerror(err.code)}") from None
                final, cidx = self._rename_in(netns_fd, peer, name or "eth%d")
                return final, host_idx, cidx
            except BaseException:
                self._delete(ipr, host, bridge)
                raise

    @staticmethod
    def _rename_in(netns_fd: int, peer: str, name: str) -> Tuple[str, int]:
        from pyroute2 import NetlinkError

        from lxcz.net import netdev

        with netdev._iproute_fd(netns_fd) as nsr:
            idx = netdev._lookup(nsr, peer)
            if idx is None:
                raise UsernetError("the interface vanished from the network namespace")
            if name != peer:
                try:
                    nsr.link("set", index=idx, ifname=name)
                except NetlinkError as err:
                    if err.code == errno.EEXIST:
                        raise UsernetError(f"an interface named '{name}' already exists in "
                                           "the network namespace") from None
                    raise UsernetError(f"cannot rename the interface to '{name}': "
                                       f"{os.strerror(err.code)}") from None
            return nsr.link("get", index=idx)[0].get_attr("IFLA_IFNAME"), idx

    def delete(self, host: str, bridge: str, netns_fd: int) -> None:
        """Delete host, which must be a veth whose peer is in netns_fd."""
        from lxcz.net import netdev

        with netdev._iproute() as ipr:
            idx = netdev._lookup(ipr, host)
            if idx is None:
                raise UsernetError(f"interface '{host}' does not exist")
            link = ipr.link("get", index=idx)[0]
            if link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") != "veth":
                raise UsernetError(f"interface '{host}' is not a veth")
            peer_nsid = link.get_attr("IFLA_LINK_NETNSID")
            ns = ipr.get_netnsid(fd=netns_fd) or {}
            if peer_nsid is None or ns.get("nsid") in (None, -1) or ns["nsid"] != peer_nsid:
                raise UsernetError(f"the peer of '{host}' is not in the network namespace sent")
            self._delete(ipr, host, bridge)

    def remove(self, host: str, bridge: str) -> None:
        """Undo a create whose accounting could not be written."""
        from lxcz.net import netdev

        with netdev._iproute() as ipr:
            self._delete(ipr, host, bridge)

    @staticmethod
    def _delete(ipr: Any, host: str, bridge: str) -> None:
        import subprocess

        from lxcz.net import netdev

        if bridge != "none" and not os.path.isdir(f"/sys/class/net/{bridge}/bridge") \
                and netdev._is_ovs_bridge(bridge):
            subprocess.run(["ovs-vsctl", "--if-exists", "del-port", bridge, host],
                           capture_output=True)
        idx = netdev._lookup(ipr, host)
        if idx is not None:
            try:
                ipr.link("del", index=idx)
            except Exception:  # noqa: BLE001 - gone already is fine
                pass


# ---------------------------------------------------------------- the service

def host_nic_name(uid: int, exists: Callable[[str], bool]) -> str:
    """Upstream's scheme: vethUID_XXXX for uids 1..65536, else vethXXXXXX."""
    alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for _ in range(100):
        if 0 < uid <= 65536:
            name = f"veth{uid}_" + "".join(random.choice(alnum) for _ in range(4))
        else:
            name = "veth" + "".join(random.choice(alnum) for _ in range(6))
        if not exists(name) and not exists(name + "p"):
            return name
    raise UsernetError("cannot find a free host interface name")


class Service:
    """Answers one request at a time (a lock around the privileged part)."""

    def __init__(self, conf_path: str = USERNET_CONF, db_path: str = NICS_DB,
                 links: Optional[Any] = None,
                 owner_of: Callable[[int], int] = netns_owner_uid,
                 who: Callable[[int], Tuple[str, List[str]]] = identity,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.conf_path = conf_path
        self.db_path = db_path
        self.links = links if links is not None else Links()
        self.owner_of = owner_of
        self.who = who
        self.log = log or (lambda line: None)
        self.lock = threading.Lock()

    def _rules(self) -> List[Any]:
        try:
            with open(self.conf_path) as fh:
                text = fh.read()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise UsernetError(f"cannot read {self.conf_path}: {err.strerror}") from None
        return parse_usernet(text)[0]

    def handle(self, req: Any, uid: int, netns_fd: Optional[int]) -> Dict[str, Any]:
        """One request to one reply; never raises."""
        try:
            if not isinstance(req, dict):
                raise UsernetError("malformed request")
            op = req.get("op")
            if op not in ("create", "delete", "status"):
                raise UsernetError(f"unknown request '{op}'")
            with self.lock:
                return dict(ok=True, **getattr(self, "_" + op)(req, uid, netns_fd))
        except UsernetError as err:
            self.log(f"uid {uid}: {req.get('op') if isinstance(req, dict) else '?'} "
                     f"refused: {err}")
            return {"ok": False, "error": str(err)}
        except Exception as err:  # noqa: BLE001 - the caller gets one line, we go on
            self.log(f"uid {uid}: internal error: {err!r}")
            return {"ok": False, "error": f"internal error in the usernet service: {err}"}

    @staticmethod
    def _str(req: Dict[str, Any], key: str, default: str = "") -> str:
        value = req.get(key, default)
        if not isinstance(value, str) or len(value) > 4096:
            raise UsernetError(f"malformed request: '{key}' must be a string")
        return value

    def _common(self, req: Dict[str, Any], uid: int, netns_fd: Optional[int],
                ) -> Tuple[str, str, str, List[Any]]:
        nic_type = self._str(req, "type", "veth")
        bridge = self._str(req, "bridge")
        if nic_type not in NIC_TYPES:
            raise UsernetError(f"interface type '{nic_type}' is not supported (only veth)")
        if not valid_ifname(bridge):
            raise UsernetError(f"invalid bridge name '{bridge}'")
        if netns_fd is None:
            raise UsernetError("no network namespace descriptor was sent with the request")
        user, groups = self.who(uid)
        owner = self.owner_of(netns_fd)
        if owner != uid:
            raise UsernetError(f"the network namespace is not owned by {user} (uid {uid})")
        allotted = allotments(self._rules(), user, groups, nic_type, bridge)
        if not allotted:
            raise UsernetError(f"{user} may not attach {nic_type} interfaces to bridge "
                               f"'{bridge}': no rule in {self.conf_path}")
        return user, nic_type, bridge, allotted

    def _create(self, req: Dict[str, Any], uid: int, netns_fd: Optional[int]
                ) -> Dict[str, Any]:
        name = self._str(req, "name")
        if name and not valid_ifname(name, pattern_ok=True):
            raise UsernetError(f"invalid interface name '{name}'")
        user, nic_type, bridge, allotted = self._common(req, uid, netns_fd)
        self.links.check_bridge(bridge)
        with NicsFile(self.db_path, self.links.exists) as db:
            rule = pick_rule(db.entries(), allotted)
            if rule is None:
                total = sum(r.count for r in allotted)
                have = sorted({n for r in allotted
                               for n in used(db.entries(), r.name, nic_type, bridge)})
                raise UsernetError(
                    f"quota reached: {user} may attach {total} {nic_type} interface"
                    f"{'s' * (total != 1)} to bridge '{bridge}' and has {len(have)}"
                    + (f" ({', '.join(have)})" if have else ""))
            host = host_nic_name(uid, self.links.exists)
            final, host_idx, cidx = self.links.create(host, bridge, netns_fd, name)
            try:
                db.add(Entry(rule.name, nic_type, bridge, host))
            except BaseException:
                self.links.remove(host, bridge)
                raise
        self.log(f"uid {uid} ({user}): {nic_type} {host} on {bridge} -> {final}, counted "
                 f"against '{rule.name}' (container {self._str(req, 'container') or '?'})")
        return {"host": host, "name": final, "host_ifindex": host_idx, "ifindex": cidx}

    def _delete(self, req: Dict[str, Any], uid: int, netns_fd: Optional[int]
                ) -> Dict[str, Any]:
        host = self._str(req, "host")
        if not valid_ifname(host):
            raise UsernetError(f"invalid interface name '{host}'")
        user, nic_type, bridge, allotted = self._common(req, uid, netns_fd)
        owners = {r.name for r in allotted}
        with NicsFile(self.db_path, self.links.exists) as db:
            if not any(e is not None and e.nic == host and e.owner in owners
                       and e.type == nic_type and e.bridge == bridge for e in db.entries()):
                raise UsernetError(f"{user} was not given an interface '{host}' on bridge "
                                   f"'{bridge}'")
            self.links.delete(host, bridge, netns_fd)
            db.remove(host)
        self.log(f"uid {uid} ({user}): deleted {host} on {bridge}")
        return {"host": host}

    def _status(self, req: Dict[str, Any], uid: int, netns_fd: Optional[int]
                ) -> Dict[str, Any]:
        user, groups = self.who(uid)
        rules = [r for r in self._rules()
                 if r.name == user or (r.is_group and r.name[1:] in groups)]
        with NicsFile(self.db_path, self.links.exists) as db:
            entries = db.entries()
            out = [{"rule": r.name, "type": r.type, "bridge": r.bridge, "allowed": r.count,
                    "line": r.line, "nics": used(entries, r.name, r.type, r.bridge)}
                   for r in rules]
            reply: Dict[str, Any] = {"user": user, "groups": groups, "rules": out,
                                     "conf": self.conf_path}
            if uid == 0:
                reply["all"] = [[e.owner, e.type, e.bridge, e.nic] for e in entries if e]
        return reply


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def handle_connection(service: Service, conn: socket.socket) -> None:
    """Read one request (+ at most one fd) from conn, answer, close everything."""
    fds: List[int] = []
    try:
        conn.settimeout(CONN_TIMEOUT)
        uid = _peer_uid(conn)
        msg, fds, flags, _ = socket.recv_fds(conn, MAX_MSG, 1)
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            reply = {"ok": False, "error": "request too large or more than one descriptor"}
        else:
            try:
                req = json.loads(msg.decode("utf-8"))
            except ValueError:
                req = None
            reply = service.handle(req, uid, fds[0] if fds else None)
        conn.sendall(json.dumps(reply).encode())
    except OSError:
        pass  # the caller went away or timed out; nothing was half-done for it
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()


def listen(path: str) -> socket.socket:
    """Bind the service socket (0666), replacing a stale one; refuses a live one."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            raise UsernetError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            probe.connect(path)
            raise UsernetError(f"another service is already listening on {path}")
        except OSError:
            os.unlink(path)
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
        sock.listen(MAX_CLIENTS)
    except OSError as err:
        sock.close()
        raise UsernetError(f"cannot listen on {path}: {err.strerror}") from None
    return sock


def systemd_socket() -> Optional[socket.socket]:
    """The listening socket systemd passed (socket activation), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return None
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(key, None)
    if count < 1:
        return None
    os.set_inheritable(3, False)
    return socket.socket(fileno=3)


def serve(service: Service, sock: socket.socket, stop: Optional[threading.Event] = None
          ) -> None:
    """Accept until stop is set; one thread per connection, at most MAX_CLIENTS."""
    stop = stop or threading.Event()
    slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def run(conn: socket.socket) -> None:
        try:
            handle_connection(service, conn)
        finally:
            slots.release()

    from lxcz.sys import trim

    trim.long_lived()
    while not stop.is_set():
        ready, _, _ = select.select([sock], [], [], 0.5)
        if not ready:
            continue
        try:
            conn, _ = sock.accept()
        except OSError:
            continue
        if not slots.acquire(blocking=False):
            try:
                conn.send(json.dumps({"ok": False, "error": "usernet service busy, "
                                      "try again"}).encode())
            except OSError:
                pass
            conn.close()
            continue
        threading.Thread(target=run, args=(conn,), daemon=True).start()


# ---------------------------------------------------------------- the client

def _call(request: Dict[str, Any], netns_fd: Optional[int], socket_path: Optional[str],
          timeout: float) -> Dict[str, Any]:
    path = socket_path or os.environ.get(SOCKET_ENV) or SOCKET_PATH
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as err:
            raise UsernetError(f"cannot reach the usernet service at {path}: "
                               f"{err.strerror or err} (is 'lxcz usernet serve' "
                               "running?)") from None
        data = json.dumps(request).encode()
        try:
            if netns_fd is not None:
                socket.send_fds(sock, [data], [netns_fd])
            else:
                sock.send(data)
            raw = sock.recv(MAX_MSG)
        except OSError as err:
            raise UsernetError(f"usernet service at {path}: {err.strerror or err}") from None
    finally:
        sock.close()
    try:
        reply = json.loads(raw.decode("utf-8"))
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise UsernetError(f"usernet service at {path} gave no answer")
    if not reply.get("ok"):
        raise UsernetError(str(reply.get("error") or "request refused"))
    return reply


def request_veth(netns_fd: int, bridge: str, name_in_container: str = "", *,
                 nic_type: str = "veth", container: str = "", lxcpath: str = "",
                 socket_path: Optional[str] = None, timeout: float = 30.0
                 ) -> Tuple[str, str]:
    """Ask the service for a veth on bridge with its peer in netns_fd (an open
    /proc/PID/ns/net, O_RDONLY) named name_in_container ('' -> ethN).
    Returns (host end name, name in the container). Raises UsernetError."""
    reply = _call({"op": "create", "type": nic_type, "bridge": bridge,
                   "name": name_in_container, "container": container, "lxcpath": lxcpath},
                  netns_fd, socket_path, timeout)
    return str(reply["host"]), str(reply["name"])


def request_delete(netns_fd: int, bridge: str, host_name: str, *, nic_type: str = "veth",
                   socket_path: Optional[str] = None, timeout: float = 30.0) -> None:
    """Give back host_name (whose peer is in netns_fd) before the namespace goes away."""
    _call({"op": "delete", "type": nic_type, "bridge": bridge, "host": host_name},
          netns_fd, socket_path, timeout)


def request_status(socket_path: Optional[str] = None, timeout: float = 10.0
                   ) -> Dict[str, Any]:
    return _call({"op": "status"}, None, socket_path, timeout)


# ---------------------------------------------------------------- systemd units

SOCKET_UNIT = """{mark}
[Unit]
Description=lxcz usernet socket: veth interfaces for unprivileged users (like lxc-user-nic)
Documentation=man:lxc-usernet(5)

[Socket]
ListenSequentialPacket={socket}
SocketMode=0666
DirectoryMode=0755

[Install]
WantedBy=sockets.target
"""

SERVICE_UNIT = """{mark}
[Unit]
Description=lxcz usernet service: veth interfaces for unprivileged users (like lxc-user-nic)
Documentation=man:lxc-usernet(5)
Requires=lxcz-usernet.socket
After=lxcz-usernet.socket lxcz-net.service

[Service]
ExecStart={lxcz} usernet serve
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
RestrictAddressFamilies=AF_UNIX AF_NETLINK
"""


def units(lxcz_path: str) -> Dict[str, str]:
    """Unit name -> text: the socket (enable this one) and the service it starts."""
    from lxcz.service import MARK

    return {"lxcz-usernet.socket": SOCKET_UNIT.format(mark=MARK, socket=SOCKET_PATH),
            "lxcz-usernet.service": SERVICE_UNIT.format(mark=MARK, lxcz=lxcz_path)}


# ---------------------------------------------------------------- lxcz usernet

USAGE = """\
Usage: lxcz usernet serve [--socket PATH] [--conf FILE] [--nics FILE]
       lxcz usernet status [--socket PATH]

serve   run the root service that gives unprivileged users veth interfaces on the
        bridges /etc/lxc/lxc-usernet allows them (like upstream's lxc-user-nic)
status  show the caller's lxc-usernet rules and the interfaces it holds
"""


def _options(argv: List[str], allowed: Tuple[str, ...]) -> Dict[str, str]:
    opts: Dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        key, eq, value = arg.partition("=")
        if key not in allowed:
            raise UsernetError(f"unknown option '{arg}'")
        if not eq:
            i += 1
            if i >= len(argv):
                raise UsernetError(f"option '{key}' needs a value")
            value = argv[i]
        opts[key] = value
        i += 1
    return opts


def main(argv: List[str]) -> int:
    """``lxcz usernet serve|status``: the only place here that prints."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        (sys.stdout if argv else sys.stderr).write(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "serve":
            return _main_serve(_options(rest, ("--socket", "--conf", "--nics")))
        if cmd == "status":
            return _main_status(_options(rest, ("--socket",)))
        raise UsernetError(f"unknown command '{cmd}'")
    except UsernetError as err:
        sys.stderr.write(f"lxcz usernet: {err}\n")
        if str(err).startswith(("unknown", "option")):
            sys.stderr.write(USAGE)
            return 2
        return 1


def _main_serve(opts: Dict[str, str]) -> int:
    import signal

    if os.geteuid() != 0:
        raise UsernetError("serve must run as root")
    stop = threading.Event()

    def log(line: str) -> None:
        sys.stderr.write(f"lxcz usernet: {line}\n")
        sys.stderr.flush()

    service = Service(opts.get("--conf", USERNET_CONF), opts.get("--nics", NICS_DB), log=log)
    sock = None if "--socket" in opts else systemd_socket()
    path = None
    if sock is None:
        path = opts.get("--socket", SOCKET_PATH)
        sock = listen(path)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log(f"listening on {path or 'the socket systemd passed'}, rules from {service.conf_path}")
    try:
        serve(service, sock, stop)
    finally:
        sock.close()
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
    return 0


def _main_status(opts: Dict[str, str]) -> int:
    reply = request_status(opts.get("--socket"))
    out = sys.stdout
    out.write(f"user: {reply.get('user')} (groups: {', '.join(reply.get('groups', []))})\n")
    rules = reply.get("rules", [])
    if not rules:
        out.write(f"no rule in {reply.get('conf')} for this user or its groups\n")
    else:
        out.write(f"{'RULE':<16} {'TYPE':<5} {'BRIDGE':<15} {'ALLOWED':>7} {'USED':>4}  "
                  "INTERFACES\n")
        for r in rules:
            out.write(f"{r['rule']:<16} {r['type']:<5} {r['bridge']:<15} {r['allowed']:>7} "
                      f"{len(r['nics']):>4}  {' '.join(r['nics'])}\n")
    if "all" in reply:
        out.write(f"all interfaces handed out: {len(reply['all'])}\n")
        for owner, kind, bridge, nic in reply["all"]:
            out.write(f"  {owner} {kind} {bridge} {nic}\n")
    return 0

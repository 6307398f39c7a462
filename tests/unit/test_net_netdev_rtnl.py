"""lxcz.net.netdev's own rtnetlink client, without root or kernel state: pyroute2 loaded
without its package __init__, requests encoded with pyroute2's message classes, answers
matched to requests by sequence number (acks, errors with the kernel's message, dumps),
and the network state file a killed monitor leaves behind."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

pytest.importorskip("pyroute2")

from lxcz.net import netdev  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HDR = struct.Struct("=IHHII")


def run_py(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd="/")


def test_message_classes_load_without_the_pyroute2_package_init():
    r = run_py(
        "import sys\n"
        "from lxcz.net import netdev\n"
        "m = netdev._msgs()\n"
        "m.ifinfmsg, m.ifaddrmsg, m.NetlinkError\n"
        "heavy = [x for x in ('pyroute2.iproute', 'pyroute2.ndb', 'pyroute2.ipdb', "
        "'pyroute2.conntrack', 'asyncio') if x in sys.modules]\n"
        "print('heavy', heavy)\n"
        "print('rtmsg', 'pyroute2.netlink.rtnl.rtmsg' in sys.modules)\n"
        "from pyroute2 import IPRoute, NetlinkError\n"  # the rest of the process still works
        "import pyroute2\n"
        "print('ndb', 'pyroute2.ndb' in sys.modules)\n"  # IPRoute alone: not the package
        "print('same', NetlinkError is m.NetlinkError, callable(IPRoute), "
        "bool(pyroute2.__version__))\n"  # and now the whole package, on demand
        "print('full', 'pyroute2.ndb' in sys.modules, pyroute2.IPRoute is IPRoute)\n")
    assert r.returncode == 0, r.stderr
    assert "heavy []" in r.stdout
    assert "rtmsg False" in r.stdout  # imported only when a route is made
    assert "ndb False" in r.stdout
    assert "same True True True" in r.stdout
    assert "full True True" in r.stdout


def test_light_package_lets_submodule_imports_through():
    r = run_py(
        "from lxcz.net import netdev\n"
        "netdev._pyroute2_light()\n"
        "from pyroute2 import config\n"  # a submodule, not a name from __init__
        "import pyroute2\n"
        "print(hasattr(pyroute2, 'nosuchname'))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


class FakeSock:
    """Answers each request of a write as policy(index, header) says: 0 (ack), an errno,
    ('err', errno, kernel message), ('get', raw reply) or ('dump', [raw messages])."""

    def __init__(self, policy):
        self.policy = policy
        self.sent = []
        self.queue = []

    def sendto(self, data, addr):
        self.sent.append(bytes(data))
        off, i, out = 0, 0, bytearray()
        while off < len(data):
            length, mtype, flags, seq, _ = HDR.unpack_from(data, off)
            out += self.answer(self.policy(i, (mtype, flags)), seq)
            off += (length + 3) & ~3
            i += 1
        half = len(out) // 2  # answers may arrive over several datagrams
        cut = 0
        while cut < half:
            cut += HDR.unpack_from(out, cut)[0]
        self.queue += [bytes(out[:cut]), bytes(out[cut:])]

    @classmethod
    def answer(cls, what, seq):
        if isinstance(what, tuple) and what[0] == "get":  # one reply, then the ack
            return HDR.pack(len(what[1]) + 16, 16, 0, seq, 0) + what[1] + cls.answer(0, seq)
        if isinstance(what, tuple) and what[0] == "dump":
            out = bytearray()
            for raw in what[1]:
                out += HDR.pack(len(raw) + 16, 16, 2, seq, 0) + raw
            return out + HDR.pack(20, netdev.NLMSG_DONE, 2, seq, 0) + b"\0" * 4
        text = b""
        if isinstance(what, tuple):
            _, code, msg = what
            text = msg.encode() + b"\0"
        else:
            code = what
        flags = netdev.NLM_F_CAPPED
        body = struct.pack("=i", -code) + HDR.pack(16, 16, 0, seq, 0)
        if text:
            flags |= netdev.NLM_F_ACK_TLVS
            attr = struct.pack("=HH", 4 + len(text), netdev.NLMSGERR_ATTR_MSG) + text
            body += attr + b"\0" * (-len(attr) % 4)
        return HDR.pack(16 + len(body), netdev.NLMSG_ERROR, flags, seq, 0) + body

    def recv(self, n):
        return self.queue.pop(0)


def fake_rtnl(policy) -> netdev.Rtnl:
    nl = netdev.Rtnl.__new__(netdev.Rtnl)
    nl.m = netdev._msgs()
    nl.sock = FakeSock(policy)
    nl.seq = 41
    return nl


def test_batch_is_one_write_and_errors_map_to_their_request():
    import errno

    nl = fake_rtnl(lambda i, h: {1: errno.EEXIST, 2: ("err", errno.EINVAL, "bad thing")}
                   .get(i, 0))
    reqs = [netdev.Req(nl.link(3, up=True), netdev.RTM_NEWLINK) for _ in range(4)]
    errors = nl.batch(reqs)
    assert len(nl.sock.sent) == 1
    assert errors[0] is None and errors[3] is None
    assert errors[1].code == errno.EEXIST
    assert errors[2].code == errno.EINVAL and "bad thing" in str(errors[2])
    err = netdev._nl_error(0, "type", "cannot configure eth0", errors[2])
    assert str(err) == "lxc.net.0.type: cannot configure eth0: Invalid argument (bad thing)"
    for off in range(0, len(nl.sock.sent[0]), len(nl.sock.sent[0]) // 4):
        _, mtype, flags, seq, _ = HDR.unpack_from(nl.sock.sent[0], off)
        assert mtype == netdev.RTM_NEWLINK and flags & netdev.NLM_F_ACK


def test_index_is_a_get_by_name_and_none_when_missing():
    import errno

    nl = fake_rtnl(lambda i, h: ("get", struct.pack("=BxHiII", 0, 1, 7, 0, 0)))
    assert nl.index("eth0") == 7
    nl = fake_rtnl(lambda i, h: errno.ENODEV)
    assert nl.index("nosuch0") is None
    m = nl.m.ifinfmsg(bytearray(nl.sock.sent[0]))
    m.decode()
    assert m["header"]["type"] == netdev.RTM_GETLINK
    assert not m["header"]["flags"] & netdev.NLM_F_DUMP  # no dump of every link
    assert m.get_attr("IFLA_IFNAME") == "nosuch0"


def test_dump_collects_every_part_until_done():
    msgs = []
    for idx, name in ((1, "lo"), (5, "vpABC")):
        m = netdev._msgs().ifinfmsg()
        m["index"] = idx
        m["attrs"] = [("IFLA_IFNAME", name)]
        m.encode()
        msgs.append(bytes(m.data[16:]))
    nl = fake_rtnl(lambda i, h: ("dump", msgs))
    assert nl.names() == {"lo": 1, "vpABC": 5}


def test_veth_request_carries_the_peer_into_the_netns():
    nl = fake_rtnl(lambda i, h: 0)
    attrs = [("IFLA_IFNAME", "vethX"), ("IFLA_MASTER", 4), ("IFLA_MTU", 1400),
             ("IFLA_LINKINFO", {"attrs": [
                 ("IFLA_INFO_KIND", "veth"),
                 ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": [
                     ("IFLA_IFNAME", "vpY"), ("IFLA_NET_NS_PID", 4321)]})]})]})]
    msg = nl.link(up=True, attrs=attrs)
    nl.call(netdev.Req(msg, netdev.RTM_NEWLINK, netdev.NLM_F_CREATE | netdev.NLM_F_EXCL))
    back = nl.m.ifinfmsg(bytearray(nl.sock.sent[0]))
    back.decode()
    assert back["flags"] & netdev.IFF_UP and back["change"] & netdev.IFF_UP
    assert back.get_attr("IFLA_MASTER") == 4 and back.get_attr("IFLA_MTU") == 1400
    info = back.get_attr("IFLA_LINKINFO")
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "vpY"
    assert peer.get_attr("IFLA_NET_NS_PID") == 4321
    flags = back["header"]["flags"]
    assert flags & netdev.NLM_F_CREATE and flags & netdev.NLM_F_EXCL


def test_addresses_and_routes_encode_as_iproute2_would():
    import ipaddress
    import socket

    nl = fake_rtnl(lambda i, h: 0)
    a = nl.addr(3, ipaddress.ip_interface("10.0.3.5/24"), "10.0.3.255")
    r = nl.route(socket.AF_INET6, None, oif=3, gateway="fd00::1")
    nl.batch([netdev.Req(a, netdev.RTM_NEWADDR), netdev.Req(r, netdev.RTM_NEWROUTE)])
    data = nl.sock.sent[0]
    a2 = nl.m.ifaddrmsg(bytearray(data))
    a2.decode()
    assert (a2["prefixlen"], a2["index"]) == (24, 3)
    assert a2.get_attr("IFA_LOCAL") == "10.0.3.5" == a2.get_attr("IFA_ADDRESS")
    assert a2.get_attr("IFA_BROADCAST") == "10.0.3.255"
    r2 = nl.m.rtmsg(bytearray(data[HDR.unpack_from(data, 0)[0]:]))
    r2.decode()
    assert r2["dst_len"] == 0 and r2["table"] == 254
    assert r2.get_attr("RTA_GATEWAY") == "fd00::1" and r2.get_attr("RTA_OIF") == 3


def test_state_round_trip_and_legacy_json(tmp_path):
    st = netdev.NetState("c1", 123, [])
    st.made = [netdev.Made(0, "veth", host_name="vethA", peer_tmp="vpB", final_name="eth0",
                           host_routes=["10.1.0.0/24"], proxies=[(2, "10.0.0.2", "br0")],
                           moved=True)]
    path = str(tmp_path / "run" / "c1.state")
    netdev.save_state(st, path)
    back = netdev._load_state(path)
    assert back.name == "c1" and back.made[0].host_name == "vethA"
    assert back.made[0].proxies == [(2, "10.0.0.2", "br0")]
    with open(path, "w") as fh:
        json.dump(st.to_json(), fh)
    assert netdev._load_state(path).made[0].final_name == "eth0"


def test_stale_state_garbage_or_missing_is_dropped(tmp_path):
    path = str(tmp_path / "x.state")
    assert netdev.cleanup_stale(path) is False
    with open(path, "wb") as fh:
        fh.write(b"\xff\x00garbage")
    assert netdev.cleanup_stale(path) is False
    assert not os.path.exists(path)
    netdev.save_state(netdev.NetState("c", 1, []), path)  # nothing made: nothing to undo
    assert netdev.cleanup_stale(path) is True
    assert not os.path.exists(path)


def test_state_path_is_per_lxcpath_and_name():
    a = netdev.state_path("/var/lib/lxc", "c1")
    assert a.startswith(netdev.STATE_DIR + "/") and a.endswith("-c1.state")
    assert a != netdev.state_path("/srv/lxc", "c1")


def test_configure_without_a_container_process_refuses_to_touch_the_host():
    from lxcz.errors import LxczError

    st = netdev.NetState("c", -1, [{"index": 0, "type": "veth", "flags": "up"}])
    st.made = [netdev.Made(0, "veth", host_name="vethA", peer_tmp="vpB")]
    with pytest.raises(LxczError, match="no process -1"):
        netdev.configure(st)

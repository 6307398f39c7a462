"""The usernet service's request logic with fake links (no root, no kernel state), the
socket protocol with real SO_PEERCRED and SCM_RIGHTS, the client, units and main()."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from lxcz.net import usernic
from lxcz.net.usernic import Service, UsernetError


class FakeLinks:
    def __init__(self):
        self.present = set()
        self.bridges = {"br0", "br1"}
        self.fail = None
        self.removed = []
        self.calls = []

    def exists(self, name):
        return name in self.present

    def check_bridge(self, bridge):
        if bridge not in self.bridges:
            raise UsernetError(f"bridge '{bridge}' does not exist")

    def create(self, host, bridge, fd, name):
        self.calls.append(("create", host, bridge, fd, name))
        if self.fail:
            raise UsernetError(self.fail)
        self.present.add(host)
        return (name.replace("%d", "0") if name else "eth0", 10, 2)

    def delete(self, host, bridge, fd):
        self.calls.append(("delete", host, bridge, fd))
        self.present.discard(host)

    def remove(self, host, bridge):
        self.removed.append(host)
        self.present.discard(host)


USERS = {1000: ("alice", ["alice", "lxc"]), 1001: ("bob", ["bob"]),
         1002: ("carol", ["carol", "lxc"])}


@pytest.fixture
def svc(tmp_path):
    conf = tmp_path / "lxc-usernet"
    conf.write_text("alice veth br0 1\n@lxc veth br0 1\nbob veth br1 2\nbob veth gone 1\n")
    owners = {}  # fd -> uid owning the netns
    log = []
    s = Service(str(conf), str(tmp_path / "run" / "nics"), links=FakeLinks(),
                owner_of=lambda fd: owners.get(fd, 0), who=lambda uid: USERS[uid],
                log=log.append)
    s.owners, s.logged = owners, log
    return s


def nics(s):
    try:
        with open(s.db_path) as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return []


def create(s, uid, fd=5, bridge="br0", name="eth0"):
    return s.handle({"op": "create", "type": "veth", "bridge": bridge, "name": name}, uid, fd)


def test_create_then_quota_then_group_rule(svc):
    svc.owners[5] = 1000
    r = create(svc, 1000)
    assert r["ok"] and r["name"] == "eth0" and r["host"].startswith("veth1000_")
    assert len(r["host"]) == 13
    assert nics(svc) == [f"alice veth br0 {r['host']}"]
    assert oct(os.stat(svc.db_path).st_mode & 0o777) == "0o600"
    # alice's own line is full: the next one counts against @lxc
    r2 = create(svc, 1000, name="eth1")
    assert r2["ok"]
    assert nics(svc)[1] == f"@lxc veth br0 {r2['host']}"
    r3 = create(svc, 1000, name="eth2")
    assert r3 == {"ok": False, "error": "quota reached: alice may attach 2 veth interfaces to "
                  f"bridge 'br0' and has 2 ({', '.join(sorted([r['host'], r2['host']]))})"}
    # carol shares @lxc, which alice filled
    svc.owners[6] = 1002
    r4 = create(svc, 1002, fd=6)
    assert not r4["ok"] and r4["error"].startswith("quota reached: carol may attach 1 veth "
                                                   "interface to bridge 'br0' and has 1")
    # alice's container goes away: its interfaces vanish and are pruned, carol gets one
    svc.links.present.clear()
    assert create(svc, 1002, fd=6)["ok"]
    assert len(nics(svc)) == 1 and nics(svc)[0].startswith("@lxc veth br0 veth1002_")


def test_refusals_touch_nothing(svc):
    svc.owners[5] = 1000
    cases = [
        ({"op": "create", "bridge": "br1"}, 1000, 5,
         "alice may not attach veth interfaces to bridge 'br1': no rule in " + svc.conf_path),
        ({"op": "create", "bridge": "br0"}, 1001, 5, "the network namespace is not owned by bob "
         "(uid 1001)"),
        ({"op": "create", "bridge": "br0"}, 1000, None, "no network namespace descriptor was "
         "sent with the request"),
        ({"op": "create", "bridge": "br0", "type": "macvlan"}, 1000, 5,
         "interface type 'macvlan' is not supported (only veth)"),
        ({"op": "create", "bridge": "br0", "name": "a/b"}, 1000, 5,
         "invalid interface name 'a/b'"),
        ({"op": "create", "bridge": "br0", "name": "e%s"}, 1000, 5,
         "invalid interface name 'e%s'"),
        ({"op": "create", "bridge": "x" * 16}, 1000, 5, "invalid bridge name '" + "x" * 16 + "'"),
        ({"op": "create", "bridge": 3}, 1000, 5, "malformed request: 'bridge' must be a string"),
        ({"op": "explode"}, 1000, 5, "unknown request 'explode'"),
        (["create"], 1000, 5, "malformed request"),
        (None, 1000, 5, "malformed request"),
    ]
    for req, uid, fd, error in cases:
        assert svc.handle(req, uid, fd) == {"ok": False, "error": error}, req
    assert svc.links.calls == []
    assert nics(svc) == []


def test_missing_bridge_and_create_failure(svc):
    svc.owners[5] = 1001
    r = create(svc, 1001, bridge="gone")
    assert r == {"ok": False, "error": "bridge 'gone' does not exist"}
    svc.links.fail = "cannot move the interface into the network namespace: File exists"
    r = create(svc, 1001, bridge="br1")
    assert r == {"ok": False, "error": svc.links.fail}
    assert nics(svc) == []


def test_accounting_failure_undoes_the_interface(svc, monkeypatch):
    svc.owners[5] = 1000

    def broken(self, entry):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(usernic.NicsFile, "add", broken)
    r = create(svc, 1000)
    assert not r["ok"] and "No space left on device" in r["error"]
    assert len(svc.links.removed) == 1 and svc.links.present == set()


def test_no_conf_file_means_nobody(svc):
    os.unlink(svc.conf_path)
    svc.owners[5] = 1000
    r = create(svc, 1000)
    assert r == {"ok": False, "error": "alice may not attach veth interfaces to bridge 'br0': "
                 f"no rule in {svc.conf_path}"}


def test_delete_own_only(svc):
    svc.owners.update({5: 1000, 6: 1002})
    host = create(svc, 1000)["host"]
    other = create(svc, 1002, fd=6)["host"]
    r = svc.handle({"op": "delete", "bridge": "br0", "host": host}, 1002, 6)
    assert r == {"ok": False, "error": f"carol was not given an interface '{host}' on "
                 "bridge 'br0'"}
    r = svc.handle({"op": "delete", "bridge": "br0", "host": host}, 1000, 6)
    assert r["error"] == "the network namespace is not owned by alice (uid 1000)"
    assert svc.handle({"op": "delete", "bridge": "br0", "host": host}, 1000, 5) == \
        {"ok": True, "host": host}
    assert nics(svc) == [f"@lxc veth br0 {other}"]
    assert ("delete", host, "br0", 5) in svc.links.calls
    assert svc.handle({"op": "delete", "bridge": "br0", "host": "../x"}, 1000, 5) == \
        {"ok": False, "error": "invalid interface name '../x'"}


def test_status(svc):
    svc.owners[5] = 1000
    host = create(svc, 1000)["host"]
    r = svc.handle({"op": "status"}, 1000, None)
    assert r["ok"] and r["user"] == "alice" and "all" not in r
    assert r["rules"] == [
        {"rule": "alice", "type": "veth", "bridge": "br0", "allowed": 1, "line": 1,
         "nics": [host]},
        {"rule": "@lxc", "type": "veth", "bridge": "br0", "allowed": 1, "line": 2, "nics": []}]
    assert svc.handle({"op": "status"}, 1001, None)["rules"][0]["bridge"] == "br1"


def test_host_nic_names():
    taken = set()
    n = usernic.host_nic_name(1000, taken.__contains__)
    assert n.startswith("veth1000_") and len(n) == 13 and n[9:].isalnum()
    assert len(usernic.host_nic_name(65536, taken.__contains__)) == 14
    for uid in (0, 65537, 4000000):
        n = usernic.host_nic_name(uid, taken.__contains__)
        assert n.startswith("veth") and len(n) == 10 and "_" not in n
    with pytest.raises(UsernetError, match="free host interface name"):
        usernic.host_nic_name(1000, lambda name: True)


def test_valid_ifname():
    for good in ("eth0", "e", "x" * 15, "veth1000_AbC9"):
        assert usernic.valid_ifname(good)
    for bad in ("", "x" * 16, ".", "..", "a/b", "a:b", "a b", "a\tb", "eth%d"):
        assert not usernic.valid_ifname(bad)
    assert usernic.valid_ifname("eth%d", pattern_ok=True)
    assert not usernic.valid_ifname("e%d%d", pattern_ok=True)


def test_ns_ioctl_numbers(monkeypatch):
    assert (usernic.NS_GET_USERNS, usernic.NS_GET_OWNER_UID) in (
        (0xB701, 0xB704), (0x2000B701, 0x2000B704))
    monkeypatch.setattr(usernic.platform, "machine", lambda: "ppc64le")
    assert usernic._ns_ioctl(1) == 0x2000B701
    monkeypatch.setattr(usernic.platform, "machine", lambda: "aarch64")
    assert usernic._ns_ioctl(4) == 0xB704


def test_netns_owner_of_host_and_non_namespaces(tmp_path):
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        with pytest.raises(UsernetError, match="belongs to the host"):
            usernic.netns_owner_uid(fd)
    finally:
        os.close(fd)
    fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
    try:
        with pytest.raises(UsernetError, match="not a network namespace"):
            usernic.netns_owner_uid(fd)
    finally:
        os.close(fd)
    (tmp_path / "f").write_text("x")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        with pytest.raises(UsernetError, match="not a namespace"):
            usernic.netns_owner_uid(fd)
    finally:
        os.close(fd)


@pytest.fixture
def served(svc, tmp_path):
    """svc on a real socket in a thread; the fake owner check is keyed by the inode of
    the descriptor that actually arrived over SCM_RIGHTS."""
    me = os.getuid()
    USERS.setdefault(me, ("me", ["me"]))
    with open(svc.conf_path, "a") as fh:
        fh.write("me veth br0 1\n")
    arrived = []

    def owner_of(fd):
        arrived.append(os.fstat(fd).st_ino)
        return me

    svc.owner_of = owner_of
    path = str(tmp_path / "s.sock")
    sock = usernic.listen(path)
    stop = threading.Event()
    t = threading.Thread(target=usernic.serve, args=(svc, sock, stop), daemon=True)
    t.start()
    try:
        yield path, arrived
    finally:
        stop.set()
        t.join(5)
        sock.close()


def test_protocol_round_trip(served, tmp_path):
    path, arrived = served
    (tmp_path / "ns").write_text("")
    fd = os.open(tmp_path / "ns", os.O_RDONLY)
    try:
        host, name = usernic.request_veth(fd, "br0", "eth3", socket_path=path)
        assert name == "eth3" and host.startswith("veth")
        assert arrived == [os.fstat(fd).st_ino]
        with pytest.raises(UsernetError, match="^quota reached: me may attach 1 veth"):
            usernic.request_veth(fd, "br0", "eth4", socket_path=path)
        st = usernic.request_status(socket_path=path)
        assert st["user"] == "me" and st["rules"][0]["nics"] == [host]
        usernic.request_delete(fd, "br0", host, socket_path=path)
    finally:
        os.close(fd)
    assert oct(os.stat(path).st_mode & 0o777) == "0o666"


def test_protocol_garbage_and_extra_fds(served):
    path, _ = served
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.send(b"{not json")
    assert s.recv(8192) == b'{"ok": false, "error": "malformed request"}'
    s.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    r, w = os.pipe()
    try:
        socket.send_fds(s, [b'{"op": "status"}'], [r, w])
        assert b"more than one descriptor" in s.recv(8192)
    finally:
        os.close(r)
        os.close(w)
        s.close()


def test_listen_refuses_live_and_non_socket(served, tmp_path):
    path, _ = served
    with pytest.raises(UsernetError, match="another service is already listening"):
        usernic.listen(path)
    (tmp_path / "plain").write_text("")
    with pytest.raises(UsernetError, match="exists and is not a socket"):
        usernic.listen(str(tmp_path / "plain"))
    # a stale socket (nobody listening) is replaced
    stale = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(stale)
    s.close()
    usernic.listen(stale).close()


def test_client_without_service(tmp_path, monkeypatch):
    missing = str(tmp_path / "none.sock")
    with pytest.raises(UsernetError) as err:
        usernic.request_veth(0, "br0", "eth0", socket_path=missing)
    assert str(err.value) == (f"cannot reach the usernet service at {missing}: No such file "
                              "or directory (is 'lxcz usernet serve' running?)")
    monkeypatch.setenv(usernic.SOCKET_ENV, missing)
    with pytest.raises(UsernetError, match=missing):
        usernic.request_status()


def test_units():
    u = usernic.units("/usr/local/bin/lxcz")
    assert set(u) == {"lxcz-usernet.socket", "lxcz-usernet.service"}
    from lxcz.service import MARK

    for text in u.values():
        assert text.startswith(MARK + "\n")
    assert "ListenSequentialPacket=/run/lxcz/usernet.sock\n" in u["lxcz-usernet.socket"]
    assert "SocketMode=0666\n" in u["lxcz-usernet.socket"]
    assert "WantedBy=sockets.target" in u["lxcz-usernet.socket"]
    assert "ExecStart=/usr/local/bin/lxcz usernet serve\n" in u["lxcz-usernet.service"]
    assert "Requires=lxcz-usernet.socket" in u["lxcz-usernet.service"]


def test_systemd_socket_activation(monkeypatch):
    monkeypatch.delenv("LISTEN_PID", raising=False)
    assert usernic.systemd_socket() is None
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "1")
    assert usernic.systemd_socket() is None


def test_main_usage_and_errors(capsys, monkeypatch, tmp_path):
    assert usernic.main([]) == 2
    assert "Usage: lxcz usernet serve" in capsys.readouterr().err
    assert usernic.main(["--help"]) == 0
    assert "Usage: lxcz usernet serve" in capsys.readouterr().out
    assert usernic.main(["frobnicate"]) == 2
    assert capsys.readouterr().err.startswith("lxcz usernet: unknown command 'frobnicate'\n")
    assert usernic.main(["serve", "--bogus"]) == 2
    assert capsys.readouterr().err.startswith("lxcz usernet: unknown option '--bogus'\n")
    assert usernic.main(["serve", "--socket"]) == 2
    assert capsys.readouterr().err.startswith("lxcz usernet: option '--socket' needs a value")
    monkeypatch.setattr(usernic.os, "geteuid", lambda: 1000)
    assert usernic.main(["serve", "--socket", str(tmp_path / "s")]) == 1
    assert capsys.readouterr().err == "lxcz usernet: serve must run as root\n"
    assert not os.path.exists(tmp_path / "s")
    assert usernic.main(["status", f"--socket={tmp_path / 'none'}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lxcz usernet: cannot reach the usernet service at ") and \
        err.count("\n") == 1


def test_main_status_output(served, capsys):
    path, _ = served
    assert usernic.main(["status", "--socket", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "user: me (groups: me)"
    assert out[1].split() == ["RULE", "TYPE", "BRIDGE", "ALLOWED", "USED", "INTERFACES"]
    assert out[2].split() == ["me", "veth", "br0", "1", "0"]

"""``lxcz usernet serve`` for real: throwaway users, their own user+net namespaces, a
bridge this test made, and the service on a temporary socket with temporary
lxc-usernet and nics files (never /etc/lxc or /run/lxc).

Everything made here is removed afterwards, even on failure: the users and group, the
service process, the namespace processes (only the ones started here), the bridge and
every veth, and the temporary files. No traffic is sent at all.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time

import pytest
from usernet_fixtures import host_links, sh

from lxcz.net import usernic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("useradd", "userdel", "groupadd",
                                                          "groupdel", "unshare", "nsenter",
                                                          "ip")),
                       reason="needs useradd/userdel/groupadd/groupdel, unshare, nsenter, ip"),
]


def _userns_allowed() -> bool:
    try:
        with open("/proc/sys/kernel/unprivileged_userns_clone") as fh:
            if fh.read().strip() == "0":
                return False
    except OSError:
        pass
    with open("/proc/sys/user/max_user_namespaces") as fh:
        return int(fh.read()) > 0


class User:
    def __init__(self, name: str) -> None:
        import pwd

        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, pw.pw_uid, pw.pw_gid
        self.groups = os.getgrouplist(name, pw.pw_gid)


@pytest.fixture(scope="module")
def people():
    """Group G; user a (own rule), b (member of G), c (no rule). Removed at the end."""
    if not _userns_allowed():
        pytest.skip("unprivileged user namespaces are disabled on this host")
    tag = f"{random.randint(0, 99999):05d}"
    group = f"uzg{tag}"
    names = {k: f"uz{k}{tag}" for k in "abc"}
    made_users, made_group = [], False
    try:
        sh("groupadd", group)
        made_group = True
        for key, name in names.items():
            cmd = ["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-K", "SUB_UID_COUNT=0",
                   "-K", "SUB_GID_COUNT=0"]
            if key == "b":
                cmd += ["-G", group]
            sh(*cmd, name)
            made_users.append(name)
        yield {"group": group, **{k: User(n) for k, n in names.items()}}
    finally:
        for name in made_users:
            subprocess.run(["userdel", name], capture_output=True)
        if made_group:
            subprocess.run(["groupdel", group], capture_output=True)


@pytest.fixture
def sleepers():
    """Processes in new namespaces (as a given user: userns+netns; as root: netns only).
    Only these are killed at the end."""
    procs = []

    def make(user=None) -> int:
        if user is None:
            p = subprocess.Popen(["unshare", "-n", "sleep", "120"])
        else:
            p = subprocess.Popen(["unshare", "-U", "-r", "-n", "sleep", "120"], user=user.uid,
                                 group=user.gid, extra_groups=user.groups)
        procs.append(p)
        host = os.stat("/proc/self/ns/net").st_ino
        for _ in range(200):
            try:
                if os.stat(f"/proc/{p.pid}/ns/net").st_ino != host:
                    return p.pid
            except FileNotFoundError:
                break
            time.sleep(0.01)
        raise RuntimeError("unshare did not make a network namespace")

    make.procs = procs
    yield make
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def as_user(user: User, fn, *args):
    """Run fn(*args) in a forked child with user's uid/gids; return ("ok", value) or
    ("err", message). Descriptors the parent opened are inherited (used to hand a
    namespace the user could not open itself)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            os.setgroups(user.groups)
            os.setgid(user.gid)
            os.setuid(user.uid)
            out = ["ok", fn(*args)]
        except usernic.UsernetError as err:
            out = ["err", str(err)]
        except BaseException as err:  # noqa: BLE001
            out = ["err", f"unexpected {err!r}"]
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return tuple(json.loads(b"".join(chunks)))


def create_for_pid(sock, pid, bridge, name=""):
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return list(usernic.request_veth(fd, bridge, name, socket_path=sock))
    finally:
        os.close(fd)


def create_with_fd(sock, fd, bridge, name=""):
    return list(usernic.request_veth(fd, bridge, name, socket_path=sock))


def delete_with_fd(sock, fd, bridge, host):
    usernic.request_delete(fd, bridge, host, socket_path=sock)
    return "deleted"


def links_in(pid: int) -> list:
    out = sh("nsenter", "-t", str(pid), "-n", "ip", "-o", "link")
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines())


def nics_lines(path: str) -> list:
    try:
        with open(path) as fh:
            return fh.read().split("\n")[:-1]
    except FileNotFoundError:
        return []


def wait_gone(name: str) -> None:
    for _ in range(300):
        if not os.path.exists(f"/sys/class/net/{name}"):
            return
        time.sleep(0.01)
    raise AssertionError(f"{name} still exists")


def test_create_on_bridge_quota_and_prune(people, service, sleepers):
    a = people["a"]
    service.write_conf(f"# comment\n{a.name} veth {service.bridge} 1\n")
    before = host_links()
    pid = sleepers(a)
    status, (host, cname) = as_user(a, create_for_pid, service.sock, pid, service.bridge, "eth1")
    assert status == "ok"
    assert cname == "eth1"
    assert host.startswith(f"veth{a.uid}_") or (a.uid > 65536 and host.startswith("veth"))
    assert "eth1" in links_in(pid)
    assert os.path.basename(os.readlink(f"/sys/class/net/{host}/master")) == service.bridge
    with open(f"/sys/class/net/{host}/mtu") as fh, \
            open(f"/sys/class/net/{service.bridge}/mtu") as bh:
        assert fh.read() == bh.read()
    assert nics_lines(service.nics) == [f"{a.name} veth {service.bridge} {host}"]

    # the count is enforced, with a message naming the quota and what is held
    status, msg = as_user(a, create_for_pid, service.sock, pid, service.bridge, "eth2")
    assert status == "err"
    assert "quota reached" in msg and host in msg and "1 veth interface" in msg
    assert "eth2" not in links_in(pid)

    # the container's netns goes away -> its veth too -> the entry is pruned, room again
    sleepers.procs[-1].kill()
    sleepers.procs[-1].wait()
    wait_gone(host)
    pid2 = sleepers(a)
    status, (host2, cname2) = as_user(a, create_for_pid, service.sock, pid2, service.bridge)
    assert status == "ok" and cname2 == "eth0"
    assert nics_lines(service.nics) == [f"{a.name} veth {service.bridge} {host2}"]
    sleepers.procs[-1].kill()
    sleepers.procs[-1].wait()
    wait_gone(host2)
    assert host_links() == before


def test_group_rule_and_user_without_rule(people, service, sleepers):
    b, c, group = people["b"], people["c"], people["group"]
    service.write_conf(f"@{group} veth {service.bridge} 2\n")
    pid_b = sleepers(b)
    status, (host, _) = as_user(b, create_for_pid, service.sock, pid_b, service.bridge, "eth0")
    assert status == "ok"
    assert nics_lines(service.nics) == [f"@{group} veth {service.bridge} {host}"]

    pid_c = sleepers(c)
    before = host_links()
    status, msg = as_user(c, create_for_pid, service.sock, pid_c, service.bridge, "eth0")
    assert status == "err"
    assert msg == (f"{c.name} may not attach veth interfaces to bridge '{service.bridge}': "
                   f"no rule in {service.conf}")
    assert links_in(pid_c) == ["lo"]
    assert host_links() == before


def test_netns_not_owned_by_caller(people, service, sleepers):
    a, b = people["a"], people["b"]
    service.write_conf(f"{a.name} veth {service.bridge} 5\n")
    pid_b = sleepers(b)
    pid_root = sleepers(None)
    before = host_links()
    for target, expect in ((f"/proc/{pid_b}/ns/net", f"not owned by {a.name}"),
                           (f"/proc/{pid_root}/ns/net", "belongs to the host"),
                           ("/proc/self/ns/net", "belongs to the host"),
                           ("/proc/self/ns/uts", "not a network namespace"),
                           ("/etc/hostname", "not a namespace")):
        fd = os.open(target, os.O_RDONLY)  # opened by root, inherited by the user's child
        try:
            status, msg = as_user(a, create_with_fd, service.sock, fd, service.bridge, "eth0")
        finally:
            os.close(fd)
        assert status == "err", target
        assert expect in msg, (target, msg)
    assert links_in(pid_b) == ["lo"] and links_in(pid_root) == ["lo"]
    assert host_links() == before
    assert nics_lines(service.nics) == []


def test_delete_only_own_interface(people, service, sleepers):
    a, b, group = people["a"], people["b"], people["group"]
    service.write_conf(f"{a.name} veth {service.bridge} 1\n@{group} veth {service.bridge} 1\n")
    pid_a, pid_b = sleepers(a), sleepers(b)
    status, (host, _) = as_user(a, create_for_pid, service.sock, pid_a, service.bridge, "eth0")
    assert status == "ok"
    # b may use the bridge but was not given host; b's own netns does not hold its peer
    fd_b = os.open(f"/proc/{pid_b}/ns/net", os.O_RDONLY)
    fd_a = os.open(f"/proc/{pid_a}/ns/net", os.O_RDONLY)
    try:
        status, msg = as_user(b, delete_with_fd, service.sock, fd_b, service.bridge, host)
        assert status == "err" and f"was not given an interface '{host}'" in msg
        # a with a netns a owns but that does not hold the peer
        pid_a2 = sleepers(a)
        fd_a2 = os.open(f"/proc/{pid_a2}/ns/net", os.O_RDONLY)
        try:
            status, msg = as_user(a, delete_with_fd, service.sock, fd_a2, service.bridge, host)
        finally:
            os.close(fd_a2)
        assert status == "err" and "is not in the network namespace sent" in msg
        assert os.path.exists(f"/sys/class/net/{host}")
        status, msg = as_user(a, delete_with_fd, service.sock, fd_a, service.bridge, host)
        assert (status, msg) == ("ok", "deleted")
    finally:
        os.close(fd_a)
        os.close(fd_b)
    wait_gone(host)
    assert links_in(pid_a) == ["lo"]
    assert nics_lines(service.nics) == []


def test_bad_requests_leave_nothing(people, service, sleepers):
    a = people["a"]
    missing = f"uzno{random.randint(0, 99999):05d}"
    service.write_conf(f"{a.name} veth {service.bridge} 3\n{a.name} veth {missing} 3\n")
    pid = sleepers(a)
    before = host_links()
    cases = [(missing, "eth0", f"bridge '{missing}' does not exist"),
             (service.bridge, "lo", "an interface named 'lo' already exists"),
             (service.bridge, "a/b", "invalid interface name 'a/b'"),
             (service.bridge, "x" * 16, "invalid interface name"),
             ("bad bridge", "eth0", "invalid bridge name")]
    for bridge, name, expect in cases:
        status, msg = as_user(a, create_for_pid, service.sock, pid, bridge, name)
        assert status == "err" and expect in msg, (bridge, name, msg)
    assert host_links() == before
    assert links_in(pid) == ["lo"]
    assert nics_lines(service.nics) == []


def test_status_command_as_user(people, service, sleepers):
    a = people["a"]
    service.write_conf(f"{a.name} veth {service.bridge} 2\n")
    pid = sleepers(a)
    status, (host, _) = as_user(a, create_for_pid, service.sock, pid, service.bridge, "eth0")
    assert status == "ok"
    res = subprocess.run([sys.executable, "-m", "lxcz", "usernet", "status", "--socket",
                          service.sock], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                         user=a.uid, group=a.gid, extra_groups=a.groups,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert f"user: {a.name}" in res.stdout
    row = [line for line in res.stdout.splitlines() if line.startswith(a.name)]
    assert row and row[0].split()[:5] == [a.name, "veth", service.bridge, "2", "1"]
    assert host in row[0]


def test_serve_refuses_live_socket_and_non_root(service):
    res = subprocess.run([sys.executable, "-m", "lxcz", "usernet", "serve", "--socket",
                          service.sock, "--conf", service.conf, "--nics", service.nics],
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert res.stderr.strip() == (f"lxcz usernet: another service is already listening on "
                                  f"{service.sock}")
    assert os.path.exists(service.sock)
    res = subprocess.run([sys.executable, "-m", "lxcz", "usernet", "serve", "--socket",
                          service.sock + "2"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                         user=65534, capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and "serve must run as root" in res.stderr
    assert not os.path.exists(service.sock + "2")


def test_socket_activation(tmp_path):
    """serve without --socket takes fd 3 when LISTEN_PID/LISTEN_FDS say so (systemd)."""
    path = str(tmp_path / "act.sock")
    conf = tmp_path / "lxc-usernet"
    conf.write_text("root veth none 1\n")
    listener = usernic.listen(path)
    fd = listener.fileno()
    wrapper = ("import os, sys; os.dup2(int(sys.argv[1]), 3); "
               "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
               "os.execv(sys.executable, [sys.executable, '-m', 'lxcz'] + sys.argv[2:])")
    proc = subprocess.Popen([sys.executable, "-c", wrapper, str(fd), "usernet", "serve",
                             "--conf", str(conf), "--nics", str(tmp_path / "nics")],
                            cwd=ROOT, pass_fds=[fd], env=dict(os.environ, PYTHONPATH=ROOT),
                            stderr=subprocess.DEVNULL)
    try:
        listener.close()
        st = usernic.request_status(socket_path=path)
        assert st["user"] == "root" and st["rules"][0]["bridge"] == "none"
        assert st["all"] == []
    finally:
        proc.terminate()
        proc.wait(10)
    assert os.path.exists(path)  # the socket belongs to systemd, serve leaves it

"""lxc-start, lxc-execute and lxc-attach with lxc.idmap: as root (a privileged user running
an unprivileged container) and as a throwaway unprivileged user (useradd + subuid ranges,
removed in teardown even on failure; fixtures from test_isolation_userns).

Container root is an unprivileged id outside, cannot write a root-owned host file
bind-mounted in, and the attached process lands in the same user namespace. Bad maps and
users without ranges are one line and leave nothing behind.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from test_isolation_userns import lxcz
from usernet_fixtures import host_links

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _shift(top, base):
    """Give a root-made tree to the ids base + (old id): what a mapped template makes."""
    st = os.lstat(top)
    os.lchown(top, base + st.st_uid, base + st.st_gid)
    for d, dirs, files in os.walk(top):
        for n in [os.path.join(d, x) for x in dirs + files]:
            st = os.lstat(n)
            os.lchown(n, base + st.st_uid, base + st.st_gid)


def make_container(lxcpath, name, base, owner=None, extra=""):
    """A busybox container whose rootfs fits `u/g 0 base 65536`, owned by owner (uid,gid)."""
    os.makedirs(lxcpath, exist_ok=True)
    res = lxcz("lxc-create", "-P", lxcpath, "-n", name, "-t", "busybox")
    assert res.returncode == 0, res.stderr
    cdir = os.path.join(lxcpath, name)
    _shift(os.path.join(cdir, "rootfs"), base)
    conf = os.path.join(cdir, "config")
    text = open(conf).read().replace("lxc.net.0.type = veth", "lxc.net.0.type = empty")
    text = "\n".join(ln for ln in text.split("\n") if not ln.startswith("lxc.net.0.link"))
    text += (f"\nlxc.idmap = u 0 {base} 65536\nlxc.idmap = g 0 {base} 65536\n"
             "lxc.apparmor.profile = unconfined\n" + extra)
    with open(conf, "w") as f:
        f.write(text)
    os.chmod(cdir, 0o771)  # the mapped root must reach its rootfs
    if owner:
        os.chown(lxcpath, *owner)
        os.chown(cdir, *owner)
        os.chown(conf, *owner)
    return conf


def _cgroups_named(name):
    """Cgroups left with our name, after giving a finishing monitor a moment."""
    import time

    for _ in range(50):
        found = _cgroups_now(name)
        if not found:
            break
        time.sleep(0.1)
    return found


def _cgroups_now(name):
    found = []
    for top in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.isdir(top):
            found += [e for e in os.listdir(top) if e.endswith("." + name)]
    return found


def _host_file(workdir):
    src = os.path.join(workdir, "host-file")
    with open(src, "w") as f:
        f.write("host data\n")
    os.chmod(src, 0o644)
    return src


INSIDE = ("id -u; cat /proc/self/uid_map; echo $$; touch /tmp/made; stat -c %u /tmp/made; "
          "if echo pwned >> /mnt/hostfile; then echo WROTE; else echo DENIED; fi")


def test_execute_start_attach_as_root(workdir):
    lxcpath = os.path.join(workdir, "lxc")
    src = _host_file(workdir)
    make_container(lxcpath, "ur1", 100000,
                   extra=f"lxc.mount.entry = {src} mnt/hostfile none bind,create=file 0 0\n")
    res = lxcz("lxc-execute", "-P", lxcpath, "-n", "ur1", "--", "sh", "-c", INSIDE)
    assert res.returncode == 0, res.stderr
    out = res.stdout.split("\n")
    assert out[0] == "0"
    assert out[1].split() == ["0", "100000", "65536"]
    assert out[2] == "2"  # lxc-execute's init is PID 1 of the container's own namespace
    assert out[3] == "0" and "DENIED" in res.stdout and "WROTE" not in res.stdout
    assert os.stat(os.path.join(lxcpath, "ur1/rootfs/tmp/made")).st_uid == 100000
    assert open(src).read() == "host data\n"

    res = lxcz("lxc-start", "-P", lxcpath, "-n", "ur1")
    assert res.returncode == 0, res.stderr
    try:
        pid = int(lxcz("lxc-info", "-P", lxcpath, "-n", "ur1", "-pH").stdout)
        assert os.stat(f"/proc/{pid}").st_uid == 100000  # init runs as 100000 outside
        res = lxcz("lxc-attach", "-P", lxcpath, "-n", "ur1", "--", "sh", "-c",
                   "id -u; cat /proc/self/uid_map; ls -ln /dev/console | awk '{print $3}'")
        assert res.returncode == 0, res.stderr
        lines = res.stdout.split("\n")
        assert lines[0] == "0" and lines[1].split() == ["0", "100000", "65536"]
        assert lines[2] == "0"  # the console belongs to the container's root
        assert lxcz("lxc-attach", "-P", lxcpath, "-n", "ur1", "--", "sh", "-c",
                    "exit 5").returncode == 5
        # the container's cgroup is handed to its root
        cg = [p for p in ("/sys/fs/cgroup/pids/lxc.payload.ur1",
                          "/sys/fs/cgroup/unified/lxc.payload.ur1") if os.path.isdir(p)]
        assert cg and all(os.stat(p).st_uid == 100000 for p in cg)
    finally:
        res = lxcz("lxc-stop", "-P", lxcpath, "-n", "ur1", "-k")
    assert res.returncode == 0, res.stderr
    assert _cgroups_named("ur1") == []


@pytest.mark.parametrize("maps,cause", [
    ("lxc.idmap = u 0 100000 65536\nlxc.idmap = u 10 300000 5\nlxc.idmap = g 0 100000 65536\n",
     "overlapping uid maps"),
    ("lxc.idmap = u 1 100000 100\nlxc.idmap = g 0 100000 65536\n",
     "no uid map for root"),
])
def test_bad_maps_as_root(workdir, maps, cause):
    lxcpath = os.path.join(workdir, "lxc")
    conf = make_container(lxcpath, "ub1", 100000)
    text = "\n".join(ln for ln in open(conf).read().split("\n")
                     if not ln.startswith("lxc.idmap"))
    with open(conf, "w") as f:
        f.write(text + "\n" + maps)
    for tool in ("lxc-start", "lxc-execute"):
        res = lxcz(tool, "-P", lxcpath, "-n", "ub1", "--", "true")
        assert res.returncode != 0
        assert res.stderr.count("\n") == 1 and cause in res.stderr, res.stderr
        assert res.stderr.startswith(f"{tool}: ub1: ")
    if cause.startswith("overlapping"):
        assert f"{conf}:" in res.stderr  # names the file and the line
    assert _cgroups_named("ub1") == []
    assert lxcz("lxc-info", "-P", lxcpath, "-n", "ub1", "-sH").stdout.strip() == "STOPPED"


def test_unprivileged_user_runs_a_container(unpriv_user, workdir):
    name = unpriv_user.name
    import pwd

    gid = pwd.getpwnam(name).pw_gid
    lxcpath = os.path.join(workdir, "ulxc")
    # no subordinate ids yet: one line, nothing started
    make_container(lxcpath, "uu1", 200000, owner=(unpriv_user.uid, gid))
    res = lxcz("lxc-execute", "-P", lxcpath, "-n", "uu1", "--", "true", user=name)
    assert res.returncode == 1
    assert "outside the ranges /etc/subuid grants user " + name in res.stderr or \
        f"user {name} has no range in /etc/subuid" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1

    unpriv_user.add_ranges()
    base = unpriv_user.base
    subprocess.run(["rm", "-rf", os.path.join(lxcpath, "uu1")], check=True)
    src = _host_file(workdir)
    make_container(lxcpath, "uu1", base, owner=(unpriv_user.uid, gid),
                   extra=f"lxc.mount.entry = {src} mnt/hostfile none bind,create=file 0 0\n")
    res = lxcz("lxc-execute", "-P", lxcpath, "-n", "uu1", "--", "sh", "-c", INSIDE,
               user=name)
    assert res.returncode == 0, res.stderr
    out = res.stdout.split("\n")
    assert out[0] == "0" and out[1].split() == ["0", str(base), "65536"] and out[2] == "2"
    assert "DENIED" in res.stdout and "WROTE" not in res.stdout
    assert "lxc-execute" not in res.stderr  # no delegated cgroup: LXC says so at INFO only

    res = lxcz("lxc-start", "-P", lxcpath, "-n", "uu1", user=name)
    assert res.returncode == 0, res.stderr
    try:
        assert lxcz("lxc-info", "-P", lxcpath, "-n", "uu1", "-sH",
                    user=name).stdout.strip() == "RUNNING"
        res = lxcz("lxc-attach", "-P", lxcpath, "-n", "uu1", "--", "sh", "-c",
                   "id -u; cat /proc/self/uid_map; echo $$; "
                   "ls -ln /dev/console /dev/tty1 | awk '{print $3}'", user=name)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.split("\n")
        assert lines[0] == "0" and lines[1].split() == ["0", str(base), "65536"]
        assert int(lines[2]) > 1  # inside the container's PID namespace
        assert lines[3:5] == ["0", "0"]  # terminals handed to the container's root
        res = lxcz("lxc-attach", "-P", lxcpath, "-n", "uu1", "--", "/no/such", user=name)
        assert res.returncode == 127 and res.stderr.count("\n") == 1
        ls = lxcz("lxc-ls", "-P", lxcpath, "-f", "-F", "NAME,STATE,UNPRIVILEGED", user=name)
        assert ls.stdout.split("\n")[1].split() == ["uu1", "RUNNING", "true"]
    finally:
        res = lxcz("lxc-stop", "-P", lxcpath, "-n", "uu1", "-k", user=name)
    assert res.returncode == 0, res.stderr
    assert lxcz("lxc-info", "-P", lxcpath, "-n", "uu1", "-sH",
                user=name).stdout.strip() == "STOPPED"


def test_unprivileged_without_idmap_is_refused(unpriv_user, workdir):
    import pwd

    gid = pwd.getpwnam(unpriv_user.name).pw_gid
    lxcpath = os.path.join(workdir, "ulxc")
    conf = make_container(lxcpath, "un1", 200000, owner=(unpriv_user.uid, gid))
    text = "\n".join(ln for ln in open(conf).read().split("\n")
                     if not ln.startswith("lxc.idmap"))
    with open(conf, "w") as f:
        f.write(text)
    res = lxcz("lxc-execute", "-P", lxcpath, "-n", "un1", "--", "true",
               user=unpriv_user.name)
    assert res.returncode == 1
    assert res.stderr == ("lxc-execute: un1: an unprivileged container needs lxc.idmap "
                          "entries (for example in ~/.config/lxc/default.conf): no map "
                          "for root\n")


def test_unprivileged_veth_through_usernet(unpriv_user, workdir, service):
    import pwd
    import time

    name = unpriv_user.name
    gid = pwd.getpwnam(name).pw_gid
    unpriv_user.add_ranges()
    base = unpriv_user.base
    lxcpath = os.path.join(workdir, "ulxc")
    conf = make_container(lxcpath, "uv1", base, owner=(unpriv_user.uid, gid))
    text = open(conf).read().replace("lxc.net.0.type = empty", "lxc.net.0.type = veth")
    text += (f"lxc.net.0.link = {service.bridge}\nlxc.net.0.name = eth0\n"
             "lxc.net.0.ipv4.address = 10.213.77.2/24\n")
    with open(conf, "w") as f:
        f.write(text)
    before = host_links()
    env = ["env", f"LXCZ_USERNET_SOCKET={service.sock}"]

    def run(tool, *args):
        from test_isolation_userns import PYTHON, ROOT

        argv = ["runuser", "-u", name, "--", *env, f"PYTHONPATH={ROOT}", "PATH=/usr/bin:/bin",
                PYTHON, "-m", "lxcz", tool, "-P", lxcpath, "-n", "uv1", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, cwd="/")

    # no rule for this user yet: one line, nothing left
    res = run("lxc-start")
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert "lxc.net.0" in res.stderr
    assert host_links() == before

    service.write_conf(f"{name} veth {service.bridge} 1\n")
    # lxc-execute: busybox's rcS (udhcpc) does not run to reset the address
    res = run("lxc-execute", "--", "sh", "-c", "ip addr show eth0")
    assert res.returncode == 0, res.stderr
    assert "inet 10.213.77.2/24" in res.stdout and ",UP" in res.stdout, res.stdout
    for _ in range(50):
        if host_links() == before:
            break
        time.sleep(0.1)
    assert host_links() == before

    res = run("lxc-start")
    assert res.returncode == 0, res.stderr
    try:
        res = run("lxc-attach", "--", "cat", "/sys/class/net/eth0/operstate")
        assert res.returncode == 0 and res.stdout == "up\n", res.stderr
        host_ends = [ln for ln in host_links() if ln not in before]
        assert len(host_ends) == 1 and host_ends[0].startswith(f"veth{unpriv_user.uid}_")
        master = os.path.realpath(f"/sys/class/net/{host_ends[0]}/master")
        assert os.path.basename(master) == service.bridge
    finally:
        res = run("lxc-stop", "-k")
    assert res.returncode == 0, res.stderr
    for _ in range(50):  # the host end goes with the container's network namespace
        if host_links() == before:
            break
        time.sleep(0.1)
    assert host_links() == before


def test_unprivileged_seccomp_and_caps_survive_attach(unpriv_user, workdir):
    import pwd

    if not os.path.exists("/usr/share/lxc/config/common.seccomp"):
        pytest.skip("Debian's common.seccomp is not installed (apt-get install lxc)")
    name = unpriv_user.name
    unpriv_user.add_ranges()
    lxcpath = os.path.join(workdir, "ulxc")
    make_container(lxcpath, "us1", unpriv_user.base,
                   owner=(unpriv_user.uid, pwd.getpwnam(name).pw_gid),
                   extra="lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp\n"
                         "lxc.cap.drop = sys_module mac_admin mac_override sys_time\n")
    probe = ("grep -E '^(Seccomp|CapBnd):' /proc/self/status | tr -s '\\t ' ' '")

    def fields(out):
        d = dict(ln.split(": ") for ln in out.strip().split("\n"))
        return d["Seccomp"], int(d["CapBnd"], 16)

    res = lxcz("lxc-execute", "-P", lxcpath, "-n", "us1", "--", "sh", "-c", probe, user=name)
    assert res.returncode == 0, res.stderr
    mode, bnd = fields(res.stdout)
    assert mode == "2" and not bnd & (1 << 16) and not bnd & (1 << 25)  # sys_module, sys_time
    res = lxcz("lxc-start", "-P", lxcpath, "-n", "us1", user=name)
    assert res.returncode == 0, res.stderr
    try:
        res = lxcz("lxc-attach", "-P", lxcpath, "-n", "us1", "--", "sh", "-c", probe,
                   user=name)
        assert res.returncode == 0, res.stderr
        assert fields(res.stdout) == (mode, bnd)
    finally:
        res = lxcz("lxc-stop", "-P", lxcpath, "-n", "us1", "-k", user=name)
    assert res.returncode == 0, res.stderr


def test_unprivileged_create_run_destroy(unpriv_user, workdir):
    """The whole life of an unprivileged container, every step as the user."""
    name = unpriv_user.name
    unpriv_user.add_ranges()
    base = unpriv_user.base
    lxcpath = os.path.join(workdir, "mine")
    conf = os.path.join(workdir, "default.conf")
    with open(conf, "w") as f:
        f.write(f"lxc.idmap = u 0 {base} 65536\nlxc.idmap = g 0 {base} 65536\n"
                "lxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n")
    os.chmod(conf, 0o644)
    import pwd

    os.mkdir(lxcpath)  # like ~/.local/share/lxc: the user's own, with the user's group
    os.chown(lxcpath, unpriv_user.uid, pwd.getpwnam(name).pw_gid)
    os.chmod(lxcpath, 0o755)
    res = lxcz("lxc-create", "-P", lxcpath, "-n", "life", "-t", "busybox", "-f", conf,
               user=name)
    assert res.returncode == 0, res.stderr
    rootfs = os.path.join(lxcpath, "life", "rootfs")
    assert os.stat(os.path.join(rootfs, "bin")).st_uid == base
    res = lxcz("lxc-execute", "-P", lxcpath, "-n", "life", "--", "sh", "-c",
               "id -u; touch /root/x; stat -c %u /root/x", user=name)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0", "0"]
    assert os.stat(os.path.join(rootfs, "root", "x")).st_uid == base
    res = lxcz("lxc-start", "-P", lxcpath, "-n", "life", user=name)
    assert res.returncode == 0, res.stderr
    res = lxcz("lxc-destroy", "-P", lxcpath, "-n", "life", "-f", user=name)
    assert res.returncode == 0, res.stderr
    assert os.listdir(lxcpath) == []


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/time"), reason="no time namespaces")
def test_time_namespace_inside_a_user_namespace(workdir):
    """The time namespace is made by the child inside the user namespace, like the PID one."""
    lxcpath = os.path.join(workdir, "lxc")
    make_container(lxcpath, "ut1", 100000, extra="lxc.time.offset.boot = 2h\n")
    res = lxcz("lxc-execute", "-P", lxcpath, "-n", "ut1", "--", "sh", "-c",
               "id -u; cat /proc/self/timens_offsets; echo $$")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split("\n")
    assert lines[0] == "0" and lines[2].split() == ["boottime", "7200", "0"]
    assert lines[3] == "2"

"""lxc-info, lxc-ls and lxc-ps on a running busybox container: states, PIDs, addresses
and interfaces read from /proc, resource use, filters, and the legacy lxc-ps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lifecycle_util as U  # noqa: E402

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(not U.have_busybox(), reason="no busybox on the host"),
              pytest.mark.skipif(not U.shutil.which("ip"), reason="needs iproute2")]


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    lxcpath = str(tmp_path_factory.mktemp("lcviews"))
    name = U.unique("lv")
    stopped = U.unique("ls")
    try:
        U.create_busybox(lxcpath, name)
        with open(os.path.join(lxcpath, name, "config"), "a") as f:
            f.write("lxc.group = web\nlxc.group = db\nlxc.start.auto = 1\n")
        U.create_busybox(lxcpath, stopped)
        pid = U.start(lxcpath, name)
        ns = ["nsenter", "-t", str(pid), "-n", "ip"]
        for cmd in (["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                    ["addr", "add", "10.77.1.2/24", "dev", "v0"],
                    ["addr", "add", "10.77.1.3/24", "dev", "v0"],
                    ["addr", "add", "fd77::2/64", "dev", "v0", "nodad"],
                    ["link", "set", "v0", "up"], ["link", "set", "v1", "up"]):
            subprocess.run(ns + cmd, check=True)
        yield lxcpath, name, pid, stopped
    finally:
        U.stop_and_destroy(lxcpath, name)
        U.stop_and_destroy(lxcpath, stopped)
        assert U.wait_gone(name, lxcpath) == {"mounts": [], "cgroups": [], "sockets": []}


def test_info_full(running):
    lxcpath, name, pid, _ = running
    r = U.tool("lxc-info", "-n", name, "-P", lxcpath)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:6] == [f"Name:           {name}", "State:          RUNNING",
                         f"PID:            {pid}", "IP:             10.77.1.2",
                         "IP:             10.77.1.3", "IP:             fd77::2"]
    assert any(ln.startswith("CPU use:        ") and ln.endswith(" seconds") for ln in lines)
    assert any(ln.startswith("Memory use:     ") for ln in lines)


def test_info_filters_and_raw(running):
    lxcpath, name, pid, stopped = running
    assert U.tool("lxc-info", "-n", name, "-P", lxcpath, "-s").stdout == \
        "State:          RUNNING\n"
    assert U.tool("lxc-info", "-n", name, "-P", lxcpath, "-pH").stdout == f"{pid}\n"
    assert U.tool("lxc-info", "-n", name, "-P", lxcpath, "-sH").stdout == "RUNNING\n"
    assert U.tool("lxc-info", "-n", name, "-P", lxcpath, "-s", "-p", "-H").stdout == \
        f"State:          RUNNING\nPID:            {pid}\n"
    raw = U.tool("lxc-info", "-n", name, "-P", lxcpath, "-S", "-H").stdout
    cpu = [ln for ln in raw.splitlines() if ln.startswith("CPU use:")]
    assert cpu and cpu[0].split()[-1].isdigit()
    assert U.tool("lxc-info", "-n", stopped, "-P", lxcpath).stdout == \
        f"Name:           {stopped}\nState:          STOPPED\n"


def test_info_config_keys(running):
    lxcpath, name, _, _ = running
    r = U.tool("lxc-info", "-n", name, "-P", lxcpath, "-c", "lxc.group", "-c",
               "lxc.rootfs.path")
    assert r.stdout == (f"lxc.group = web\ndb\n\nlxc.rootfs.path = "
                        f"dir:{lxcpath}/{name}/rootfs\n")
    assert U.tool("lxc-info", "-n", name, "-P", lxcpath, "-H", "-c",
                  "lxc.start.auto").stdout == "1\n"
    r = U.tool("lxc-info", "-n", name, "-P", lxcpath, "-c", "lxc.bogus")
    assert r.stderr == "lxc.bogus invalid\n"


def test_ls_plain_line_and_filters(running):
    lxcpath, name, _, stopped = running
    both = sorted([name, stopped])
    assert U.tool("lxc-ls", "-P", lxcpath, "-1").stdout == "".join(n + "\n" for n in both)
    assert U.tool("lxc-ls", "-P", lxcpath, "--running", "-1").stdout == name + "\n"
    assert U.tool("lxc-ls", "-P", lxcpath, "--active", "-1").stdout == name + "\n"
    assert U.tool("lxc-ls", "-P", lxcpath, "--stopped", "-1").stdout == stopped + "\n"
    assert U.tool("lxc-ls", "-P", lxcpath, "--frozen", "-1").stdout == ""
    assert U.tool("lxc-ls", "-P", lxcpath, "-g", "db,web", "-1").stdout == name + "\n"
    assert U.tool("lxc-ls", "-P", lxcpath, "-1", "--filter", "^ls").stdout == \
        stopped + "\n"
    width = max(len(n) for n in both)
    assert U.tool("lxc-ls", "-P", lxcpath).stdout == \
        "".join(f"{n:<{width}}\n" for n in both)


def test_ls_fancy(running):
    lxcpath, name, pid, stopped = running
    out = U.tool("lxc-ls", "-P", lxcpath, "-f").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATE", "AUTOSTART", "GROUPS", "IPV4", "IPV6",
                              "UNPRIVILEGED"]
    rows = {ln.split()[0]: ln for ln in out[1:]}
    assert rows[name].split(None, 3)[1:3] == ["RUNNING", "1"]
    assert "web, db" in rows[name] and "10.77.1.2, 10.77.1.3" in rows[name]
    assert "fd77::2" in rows[name] and rows[name].rstrip().endswith("false")
    assert rows[stopped].split()[1:] == ["STOPPED", "0", "-", "-", "-", "false"]
    out = U.tool("lxc-ls", "-P", lxcpath, "-f", "-F", "name,pid,interface,ram").stdout
    line = [ln for ln in out.splitlines() if ln.startswith(name)][0]
    assert line.split()[1] == str(pid) and "lo, v0, v1" in line and "MB" in line


def _nest(rootfs: str, lxcpath: str, inner: str) -> str:
    """A container INNER defined at LXCPATH inside ROOTFS (as a container running there
    would see it); returns its directory on the host."""
    d = os.path.join(rootfs + lxcpath, inner)
    os.makedirs(os.path.join(d, "rootfs"))
    with open(os.path.join(d, "config"), "w") as f:
        f.write(f"lxc.rootfs.path = dir:{lxcpath}/{inner}/rootfs\n")
    return d


def test_ls_nesting(running):
    """--nesting as LXC 5: a running container's nested containers are listed by a
    process attached to it, a stopped one's from ROOTFS/LXCPATH on the host; plain and -1
    name them PARENT/CHILD, -f indents them with a backslash per level; NUM caps depth."""
    lxcpath, name, _, stopped = running
    import shutil

    made = [_nest(os.path.join(lxcpath, name, "rootfs"), lxcpath, "in1"),
            _nest(os.path.join(lxcpath, stopped, "rootfs"), lxcpath, "in2")]
    _nest(os.path.join(made[1], "rootfs"), lxcpath, "deep")
    try:
        tree = {name: [f"{name}/in1"], stopped: [f"{stopped}/in2", f"{stopped}/in2/deep"]}
        want = [row for top in sorted(tree) for row in [top] + tree[top]]
        r = U.tool("lxc-ls", "-P", lxcpath, "--nesting", "-1")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == want
        width = max(len(n) + n.count("/") for n in want)
        assert U.tool("lxc-ls", "-P", lxcpath, "--nesting").stdout == \
            "".join(f"{n:<{width}}\n" for n in want)
        assert U.tool("lxc-ls", "-P", lxcpath, "--nesting=1", "-1").stdout.splitlines() == \
            [n for n in want if n.count("/") <= 1]
        assert U.tool("lxc-ls", "-P", lxcpath, "--nesting=0", "-1").stdout.splitlines() == \
            sorted(tree)
        # filters apply at every level: in1 is stopped
        assert U.tool("lxc-ls", "-P", lxcpath, "--nesting", "--running", "-1").stdout == \
            name + "\n"
        out = U.tool("lxc-ls", "-P", lxcpath, "--nesting", "-f", "-F",
                     "NAME,STATE").stdout.splitlines()
        rows = [ln.rstrip() for ln in out[1:]]
        nested = {n: ln.split() for n, ln in zip(want, rows)}
        assert nested[name] == [name, "RUNNING"]
        assert nested[f"{name}/in1"] == ["\\in1", "STOPPED"]
        assert nested[f"{stopped}/in2/deep"] == ["\\deep", "STOPPED"]
        assert rows[want.index(f"{stopped}/in2/deep")].startswith(" \\deep ")
        # a frozen container is listed, not attached to (the attached process would
        # freeze with it, and lxc-ls wait for ever)
        r = U.tool("lxc-freeze", "-n", name, "-P", lxcpath)
        assert r.returncode == 0, r.stderr
        try:
            r = U.tool("lxc-ls", "-P", lxcpath, "--nesting", "-1", timeout=30)
            assert r.stdout.splitlines() == [n for n in want if n != f"{name}/in1"]
        finally:
            U.tool("lxc-unfreeze", "-n", name, "-P", lxcpath)
    finally:
        for d in made:
            shutil.rmtree(d, ignore_errors=True)


def test_ls_shows_the_running_configuration(running):
    """A running container's AUTOSTART, GROUPS and UNPRIVILEGED are those it was started
    with (its monitor's), as LXC asks the running config; an edit shows at the next start."""
    lxcpath, name, pid, stopped = running
    path = os.path.join(lxcpath, name, "config")
    with open(path) as f:
        before = f.read()
    try:
        with open(path, "w") as f:
            f.write(before.replace("lxc.group = web\nlxc.group = db\nlxc.start.auto = 1\n",
                                   "lxc.group = other\nlxc.start.auto = 0\n"))
        out = U.tool("lxc-ls", "-P", lxcpath, "-f", "-F", "NAME,AUTOSTART,GROUPS").stdout
        row = [ln for ln in out.splitlines() if ln.startswith(name + " ")][0]
        assert row.rstrip().split(None, 2)[1:] == ["1", "web, db"], out
        assert U.tool("lxc-ls", "-P", lxcpath, "-g", "web", "-1").stdout == name + "\n"
        assert U.tool("lxc-ls", "-P", lxcpath, "-g", "other", "-1").stdout == ""
    finally:
        with open(path, "w") as f:
            f.write(before)


def test_ps(running):
    lxcpath, name, pid, stopped = running
    r = U.tool("lxc-ps", "-n", name, "-P", lxcpath, "--", "-o", "pid,comm")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["CONTAINER", "PID", "COMMAND"]
    assert [name, str(pid), "init"] in [ln.split() for ln in lines[1:]]
    r = U.tool("lxc-ps", "-n", stopped, "-P", lxcpath)
    assert r.returncode != 0 and r.stderr == f"lxc-ps: {stopped} is not running\n"


def test_frozen_state(running):
    lxcpath, name, _, stopped = running
    r = U.tool("lxc-freeze", "-n", name, "-P", lxcpath)
    if r.returncode != 0:
        pytest.skip(f"lxc-freeze failed: {r.stderr.strip()}")
    try:
        assert U.tool("lxc-ls", "-P", lxcpath, "--frozen", "-1").stdout == name + "\n"
        assert U.tool("lxc-info", "-n", name, "-P", lxcpath, "-sH").stdout == "FROZEN\n"
        out = U.tool("lxc-ls", "-P", lxcpath, "-f", "-F", "NAME,STATE").stdout
        assert f"{name} FROZEN" in " ".join(out.split())
        assert U.tool("lxc-ls", "-P", lxcpath, "--running", "-1").stdout == name + "\n"
    finally:
        U.tool("lxc-unfreeze", "-n", name, "-P", lxcpath)

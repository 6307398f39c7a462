"""lxcz.cgroups on this host's real cgroups: create, limits, attach, freezer, stats, removal.

Every test uses its own cgroup names (lxczcgt<pid><random>) and its own child processes;
teardown kills those children, removes whatever cgroups carry the test's name in any
hierarchy, and fails if something could not be removed.
"""

from __future__ import annotations

import glob
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from lxcz.cgroups import layout as L
from lxcz.cgroups.manager import CgroupManager
from lxcz.errors import LxczError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOUNTINFO = open("/proc/self/mountinfo").read() if os.path.exists("/proc/self/mountinfo") \
    else ""
MOUNTS = [h.mountpoint for h in L.parse_mountinfo(MOUNTINFO)]

pytestmark = pytest.mark.skipif(not MOUNTS, reason="no cgroup filesystem mounted")


def leftovers(tag):
    found = []
    for mp in MOUNTS:
        found += glob.glob(os.path.join(mp, f"*{tag}*"))
        found += glob.glob(os.path.join(mp, "*", f"*{tag}*"))
    return sorted(set(found))


def remove_tree(path):
    for top, dirs, _ in os.walk(path, topdown=False):
        for d in dirs:
            _rmdir(os.path.join(top, d))
    _rmdir(path)


def _rmdir(path):
    # only cgroups named after this test: the processes in them are ours
    for _ in range(200):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            try:
                pids = open(os.path.join(path, "cgroup.procs")).read().split()
            except OSError:
                pids = []
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if os.path.exists(os.path.join(path, "freezer.state")):
                with open(os.path.join(path, "freezer.state"), "w") as f:
                    f.write("THAWED")
            if os.path.exists(os.path.join(path, "cgroup.freeze")):
                with open(os.path.join(path, "cgroup.freeze"), "w") as f:
                    f.write("0")
            time.sleep(0.01)


@pytest.fixture
def name():
    tag = f"lxczcgt{os.getpid()}{secrets.token_hex(3)}"
    yield tag
    for path in sorted(leftovers(tag), key=len, reverse=True):
        remove_tree(path)
    assert leftovers(tag) == [], "cgroups left behind"


@pytest.fixture
def procs(name):
    """Start children; all killed and reaped at teardown (before the cgroups go)."""
    started = []

    def start(argv, **kw):
        p = subprocess.Popen(argv, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


@pytest.fixture
def mgr():
    return CgroupManager()


def gated(procs, code):
    """A child that waits on stdin before running code, so it can be attached first."""
    return procs([sys.executable, "-c", f"import sys; sys.stdin.readline(); {code}"],
                 stdin=subprocess.PIPE)


def release(p):
    p.stdin.write(b"go\n")
    p.stdin.flush()


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


# -- the host ---------------------------------------------------------------------------
def test_layout_of_this_host(mgr):
    kinds = {h.version for h in L.parse_mountinfo(MOUNTINFO)}
    expect = L.HYBRID if kinds == {1, 2} else (L.UNIFIED if kinds == {2} else L.LEGACY)
    assert mgr.layout == expect
    for h in mgr.hierarchies:
        assert os.path.isdir(h.base_dir)
    if os.geteuid() == 0:
        assert all(h.base == L.prune_init_scope(
            L.parse_proc_cgroup(open("/proc/1/cgroup").read())[L.hierarchy_ident(h)]
        ).strip("/") for h in mgr.hierarchies)


# -- create, attach, find -------------------------------------------------------------
def test_create_attach_find_destroy(mgr, name, procs):
    cg = mgr.create(name)
    assert cg.cgname == f"lxc.payload.{name}"
    for path in cg.paths.values():
        assert os.path.isdir(path)
    if "cpuset" in cg.paths:
        assert open(os.path.join(cg.paths["cpuset"], "cpuset.cpus")).read().strip()
        assert open(os.path.join(cg.paths["cpuset"], "cpuset.mems")).read().strip()
    p = procs(["sleep", "300"])
    cg.attach(p.pid)
    assert cg.pids() == [p.pid]
    lines = open(f"/proc/{p.pid}/cgroup").read().splitlines()
    assert all(line.endswith(f"/lxc.payload.{name}") for line in lines
               if line.split(":")[1] in {L.hierarchy_ident(h) if h.version == 1 else ""
                                          for h in mgr.hierarchies})
    assert mgr.find(name).paths == cg.paths
    assert mgr.find(name, pid=p.pid).paths == cg.paths
    assert mgr.find(name + "x") is None
    assert mgr.cgroup_of(p.pid) == cg.paths
    with pytest.raises(LxczError, match=f"lxc.payload.{name} is busy: 1 process"):
        cg.destroy()
    assert cg.exists()
    assert cg.kill_all() == 1
    p.wait(timeout=5)
    cg.destroy()
    assert leftovers(name) == []


def test_collision_gets_suffix(mgr, name):
    a = mgr.create(name)
    b = mgr.create(name)
    mon = mgr.create(name, kind="monitor")
    assert (a.cgname, b.cgname, mon.cgname) == (
        f"lxc.payload.{name}", f"lxc.payload.{name}-1", f"lxc.monitor.{name}")
    for cg in (a, b, mon):
        cg.destroy()
    assert leftovers(name) == []


def test_pattern_directory(mgr, name):
    cg = mgr.create(name, pattern=f"lxczpat-{name}/%n")
    assert cg.cgname == f"lxczpat-{name}/{name}/lxc.payload.{name}"
    assert all(os.path.isdir(p) for p in cg.paths.values())
    cg.destroy()  # parents stay, as with LXC; the fixture removes them


# -- limits --------------------------------------------------------------------------------
def test_apply_limits_and_errors(mgr, name):
    cg = mgr.create(name)
    if mgr.hierarchy_for("memory") is None or mgr.hierarchy_for("memory").version != 1:
        pytest.skip("needs the v1 memory controller")
    warnings = cg.apply(v1=[("memory.limit_in_bytes", "64M"), ("devices.deny", "a"),
                            ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 1:5 rwm")],
                        v2={"pids.max": "10"} if mgr.layout == L.HYBRID else None)
    assert cg.get("memory.limit_in_bytes") == str(64 << 20)
    if mgr.hierarchy_for("devices"):
        assert cg.get("devices.list").splitlines() == ["c 1:3 rwm", "c 1:5 rwm"]
    if mgr.layout == L.HYBRID and not os.path.exists(
            os.path.join(cg.paths["unified"], "pids.max")):
        assert warnings and "lxc.cgroup2.pids.max" in warnings[0]
    with pytest.raises(LxczError, match='unknown cgroup key "lxc.cgroup.memory.foo"'):
        cg.apply(v1={"memory.foo": "1"})
    with pytest.raises(LxczError, match="cannot apply lxc.cgroup.memory.limit_in_bytes = "
                                        "lots: Invalid argument"):
        cg.apply(v1={"memory.limit_in_bytes": "lots"})
    cg.set("memory.limit_in_bytes", "128M")
    assert cg.get("memory.limit_in_bytes") == str(128 << 20)
    with pytest.raises(LxczError, match='unknown cgroup key "memory.nope"'):
        cg.set("memory.nope", "1")
    cg.destroy()


# -- freezer -----------------------------------------------------------------------------
def test_freeze_thaw(mgr, name, procs):
    cg = mgr.create(name)
    p = gated(procs, "import time\nwhile True: time.sleep(0.01)")
    cg.attach(p.pid)
    release(p)
    cg.freeze(timeout=10)
    assert cg.state() == "FROZEN"
    if mgr.hierarchy_for("freezer") is not None:
        assert cg.get("freezer.state") == "FROZEN"
    ticks = open(f"/proc/{p.pid}/stat").read().split()[13]
    time.sleep(0.2)
    assert open(f"/proc/{p.pid}/stat").read().split()[13] == ticks  # no CPU while frozen
    cg.thaw()
    assert cg.state() == "THAWED"
    cg.kill_all()
    p.wait(timeout=5)
    cg.destroy()


# -- stats -------------------------------------------------------------------------------
def test_stats(mgr, name, procs):
    cg = mgr.create(name)
    p = gated(procs, "b = bytearray(8 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
                     "x = sum(range(10000000))\nprint('ok', flush=True)\nsys.stdin.readline()")
    p.stdout = None
    cg.attach(p.pid)
    release(p)
    assert wait_for(lambda: (cg.stats()["cpu_ns"] or 0) > 20_000_000, timeout=20)
    s = cg.stats()
    assert s["mem_used"] is not None and s["mem_used"] >= 4 << 20
    if mgr.hierarchy_for("memory") and mgr.hierarchy_for("memory").version == 1:
        assert s["mem_limit"] and s["mem_limit"] > 1 << 40  # unlimited
        assert s["kmem_used"] is not None
    assert s["blkio_bytes"] is not None
    release(p)
    p.wait(timeout=10)
    cg.destroy()


def test_kill_all_reaches_forked_children(mgr, name, procs):
    cg = mgr.create(name)
    p = procs(["sh", "-c", "read x; sleep 300 & sleep 300 & wait"], stdin=subprocess.PIPE)
    cg.attach(p.pid)
    release(p)
    assert wait_for(lambda: len(cg.pids()) == 3)
    assert cg.kill_all(signal.SIGKILL) == 3
    p.wait(timeout=5)
    assert cg.pids() == []
    cg.destroy()


# -- the cgroup2 code, on the cgroup2 mount alone -----------------------------------------
@pytest.fixture
def v2mgr():
    lines = [line for line in MOUNTINFO.splitlines() if " - cgroup2 " in line]
    if not lines:
        pytest.skip("no cgroup2 mount")
    # delegate=False: do not change the host's cgroup.subtree_control
    return CgroupManager(mountinfo=lines[0] + "\n", delegate=False)


def test_v2_create_freeze_stats_kill_destroy(v2mgr, name, procs):
    assert v2mgr.layout == L.UNIFIED
    cg = v2mgr.create(name)
    assert list(cg.paths) == ["unified"]
    p = gated(procs, "import time\nwhile True: time.sleep(0.01)")
    cg.attach(p.pid)
    release(p)
    assert v2mgr.find(name, pid=p.pid).paths == cg.paths
    cg.freeze(timeout=10)
    assert cg.state() == "FROZEN"
    assert "frozen 1" in cg.get("cgroup.events").splitlines()
    cg.thaw()
    assert cg.state() == "THAWED" and cg.get("cgroup.freeze") == "0"
    assert wait_for(lambda: (cg.stats()["cpu_ns"] or 0) > 0)
    assert "populated 1" in cg.get("cgroup.events").splitlines()
    with pytest.raises(LxczError, match="busy"):
        cg.destroy()
    cg.kill_all()  # cgroup.kill
    p.wait(timeout=5)
    cg.destroy()
    assert not os.path.exists(cg.paths["unified"])


# -- the tools on a container-shaped cgroup ---------------------------------------------------
def tool(*argv):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "lxcz", *argv], capture_output=True,
                          text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)


def test_tools_on_running_cgroup(mgr, name, procs, tmp_path):
    lxcpath = str(tmp_path)
    os.makedirs(os.path.join(lxcpath, name))
    with open(os.path.join(lxcpath, name, "config"), "w") as f:
        f.write(f"lxc.uts.name = {name}\n")
    cg = mgr.create(name)
    p = procs(["sleep", "300"])
    cg.attach(p.pid)
    r = tool("lxc-cgroup", "-n", name, "-P", lxcpath, "pids.max", "77")
    assert (r.returncode, r.stderr) == (0, "")
    r = tool("lxc-cgroup", "-n", name, "-P", lxcpath, "pids.max")
    assert (r.returncode, r.stdout) == (0, "77\n\n")  # as LXC: an empty line
    r = tool("lxc-cgroup", "-n", name, "-P", lxcpath, "memory.foo")
    assert r.returncode == 1
    assert r.stderr == f'lxc-cgroup: {name}: unknown cgroup key "memory.foo"\n'
    r = tool("lxc-cgroup", "-n", name, "-P", lxcpath, "pids.max", "many")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f'lxc-cgroup: {name}: cannot set cgroup key "pids.max"')
    r = tool("lxc-freeze", "-n", name, "-P", lxcpath)
    assert (r.returncode, r.stderr) == (0, "")
    assert cg.state() == "FROZEN"
    r = tool("lxc-unfreeze", "-n", name, "-P", lxcpath)
    assert (r.returncode, r.stderr) == (0, "")
    assert cg.state() == "THAWED"
    r = tool("lxc-freeze", "-n", name + "x", "-P", lxcpath)
    assert r.returncode == 1 and r.stderr.startswith(f"lxc-freeze: {name}x: no such container")
    cg.kill_all()
    p.wait(timeout=5)
    r = tool("lxc-cgroup", "-n", name, "-P", lxcpath, "pids.max")
    assert r.returncode == 1 and "container is not running" in r.stderr
    cg.destroy()
    assert leftovers(name) == []


def test_v2_device_rules_enforced_by_bpf(v2mgr, name):
    cg = v2mgr.create(name)
    cg.apply(v2=[("devices.deny", "a"), ("devices.allow", "c 1:3 rwm")])
    r = subprocess.run(
        [sys.executable, "-c",
         "import os, sys\n"
         f"open('{cg.paths['unified']}/cgroup.procs', 'w').write(str(os.getpid()))\n"
         "res = []\n"
         "for dev in ('/dev/null', '/dev/zero'):\n"
         "    try:\n"
         "        os.close(os.open(dev, os.O_RDONLY)); res.append('ok')\n"
         "    except OSError as e:\n"
         "        res.append(str(e.errno))\n"
         "print(' '.join(res))\n"],
        capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "ok 1", r.stderr  # EPERM for /dev/zero
    cg.destroy()
    with pytest.raises(LxczError, match="cannot apply lxc.cgroup2.devices.allow = z: "):
        v2mgr.create(name).apply(v2={"devices.allow": "z"})

"""lxcz.cgroups over the in-memory cgroupfs: layouts, naming, limits, freezer, removal."""

from __future__ import annotations

import signal

import pytest

from lxcz.cgroups import get_manager
from lxcz.cgroups import layout as L
from lxcz.cgroups.fake import FakeCgroupFS
from lxcz.cgroups.manager import _format_cpulist, _parse_cpulist
from lxcz.errors import LxczError

HOST_MOUNTINFO = """\
23 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
42 31 0:29 / /mnt/cpu\\040again rw,relatime - cgroup cgroup rw,cpu
"""


def manager(layout="hybrid", **kw):
    fs = FakeCgroupFS(layout)
    return fs, get_manager(fs=fs, euid=0, **kw)


@pytest.fixture(params=["legacy", "hybrid", "unified"])
def anylayout(request):
    return manager(request.param)


# -- layout ---------------------------------------------------------------------------
def test_parse_mountinfo_host_hybrid():
    hs = L.parse_mountinfo(HOST_MOUNTINFO)
    assert [(h.version, h.mountpoint, h.key) for h in hs] == [
        (1, "/sys/fs/cgroup/cpu", "cpu"), (1, "/sys/fs/cgroup/cpuacct", "cpuacct"),
        (1, "/sys/fs/cgroup/cpuset", "cpuset"), (1, "/sys/fs/cgroup/systemd", "name=systemd"),
        (2, "/sys/fs/cgroup/unified", "unified")]
    assert L.classify(hs) == L.HYBRID
    assert L.classify([h for h in hs if h.version == 2]) == L.UNIFIED
    assert L.classify([h for h in hs if h.version == 1]) == L.LEGACY


def test_parse_proc_cgroup_and_paths():
    text = "4:memory:/a/b\n2:cpuacct,cpu:/x\n9:name=systemd:/init.scope\n0::/init.scope\n"
    got = L.parse_proc_cgroup(text)
    assert got == {"memory": "/a/b", "cpu,cpuacct": "/x", "name=systemd": "/init.scope",
                   "unified": "/init.scope"}
    assert L.prune_init_scope("/init.scope") == "/"
    assert L.prune_init_scope("/a/init.scope") == "/a"
    assert L.relative_to_mount("/a/b", "/") == "a/b"
    assert L.relative_to_mount("/a/b", "/a") == "b"
    assert L.relative_to_mount("/c", "/a") is None


def test_layouts_detected():
    for name, expect in (("legacy", L.LEGACY), ("hybrid", L.HYBRID), ("unified", L.UNIFIED)):
        _, mgr = manager(name)
        assert mgr.layout == expect
    _, mgr = manager("hybrid")
    assert mgr.unified.controllers == ["hugetlb"]
    assert mgr.hierarchy_for("freezer").mountpoint == "/sys/fs/cgroup/freezer"
    assert mgr.hierarchy_for("hugetlb") is mgr.unified
    assert mgr.hierarchy_for("nope") is None


def test_root_uses_pid1_cgroup_user_uses_own():
    fs = FakeCgroupFS("hybrid")
    fs.mkdir("/sys/fs/cgroup/memory/user")
    fs.mkdir("/sys/fs/cgroup/unified/user")
    fs.spawn(fs.self_pid, {"/sys/fs/cgroup/memory": "/sys/fs/cgroup/memory/user",
                           "/sys/fs/cgroup/unified": "/sys/fs/cgroup/unified/user"})
    root = get_manager(fs=fs, euid=0)
    assert all(h.base == "" for h in root.hierarchies)
    user = get_manager(fs=fs, euid=1000)
    bases = {h.key: h.base for h in user.hierarchies}
    assert bases["memory"] == "user" and bases["unified"] == "user" and bases["cpu"] == ""
    rel = get_manager(fs=fs, euid=0, relative=True)
    assert {h.key: h.base for h in rel.hierarchies}["memory"] == "user"


# -- create / naming --------------------------------------------------------------------
def test_create_payload_and_monitor_names(anylayout):
    fs, mgr = anylayout
    cg = mgr.create("c1")
    mon = mgr.create("c1", kind="monitor")
    assert cg.cgname == "lxc.payload.c1" and mon.cgname == "lxc.monitor.c1"
    assert set(cg.paths) == {h.key for h in mgr.hierarchies}
    for path in cg.paths.values():
        assert fs.isdir(path) and path.endswith("/lxc.payload.c1")


def test_collision_suffixes_and_cleanup():
    fs, mgr = manager("hybrid")
    fs.mkdir("/sys/fs/cgroup/pids/lxc.payload.c1")  # taken in one hierarchy only
    a = mgr.create("c1")
    assert a.cgname == "lxc.payload.c1-1"
    # the half-made lxc.payload.c1 attempt left nothing in the other hierarchies
    assert not fs.isdir("/sys/fs/cgroup/cpu/lxc.payload.c1")
    b = mgr.create("c1")
    assert b.cgname == "lxc.payload.c1-2"


def test_create_with_pattern_and_exact_path():
    fs, mgr = manager("legacy")
    cg = mgr.create("web", pattern="lxc/%n")
    assert cg.cgname == "lxc/web/lxc.payload.web"
    assert fs.isdir("/sys/fs/cgroup/memory/lxc/web/lxc.payload.web")
    exact = mgr.create("web", path="custom/web")
    assert exact.cgname == "custom/web"
    with pytest.raises(LxczError, match="already exists"):
        mgr.create("web", path="custom/web")
    with pytest.raises(LxczError, match="invalid cgroup path"):
        mgr.create("web", path="../escape")


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_create_bad_names(bad):
    _, mgr = manager()
    with pytest.raises(LxczError):
        mgr.create(bad)
    with pytest.raises(LxczError, match="unknown cgroup kind"):
        mgr.create("c1", kind="other")


def test_create_failure_removes_partial_tree():
    fs, mgr = manager("hybrid")
    real_mkdir = fs.mkdir

    def failing(path):
        if path.startswith("/sys/fs/cgroup/freezer/"):
            raise PermissionError(13, "Permission denied", path)
        real_mkdir(path)

    fs.mkdir = failing
    with pytest.raises(LxczError, match="cannot create cgroup .*freezer.*Permission denied"):
        mgr.create("c1")
    assert not [d for d in fs.dirs if "lxc.payload" in d]


def test_cpuset_initialised_from_parent():
    fs, mgr = manager("hybrid")
    fs.proc_text["/sys/devices/system/cpu/isolated"] = "1\n"
    fs.files["/sys/fs/cgroup/cpuset/cpuset.cpus"] = "0-3"
    cg = mgr.create("c1")
    d = cg.paths["cpuset"]
    assert fs.files[d + "/cpuset.cpus"] == "0,2-3"
    assert fs.files[d + "/cpuset.mems"] == "0"
    assert fs.files[d + "/cgroup.clone_children"] == "1"
    fs.spawn(4242)
    cg.attach(4242)  # an empty cpuset would refuse it with ENOSPC
    assert cg.pids() == [4242]


def test_cpulist_roundtrip():
    assert _parse_cpulist("0-2,5,7-8\n") == [0, 1, 2, 5, 7, 8]
    assert _format_cpulist([8, 0, 1, 2, 5, 7]) == "0-2,5,7-8"
    assert _format_cpulist([]) == ""


def test_unified_delegates_controllers():
    fs, mgr = manager("unified")
    cg = mgr.create("c1", pattern="lxc")
    assert "memory" in fs.files["/sys/fs/cgroup/cgroup.subtree_control"].split()
    assert "pids" in fs.files["/sys/fs/cgroup/lxc/cgroup.subtree_control"].split()
    cg.apply(v2={"memory.max": "128M", "pids.max": "50"})
    assert cg.get("pids.max") == "50"


# -- attach, pids, find --------------------------------------------------------------------
def test_attach_pids_find(anylayout):
    fs, mgr = anylayout
    cg = mgr.create("c1")
    fs.spawn(500)
    cg.attach(500)
    assert cg.pids() == [500] and cg.all_pids() == [500]
    found = mgr.find("c1")
    assert found is not None and found.paths == cg.paths
    assert mgr.find("c2") is None
    by_pid = mgr.find("c1", pid=500)
    assert by_pid is not None and by_pid.cgname == "lxc.payload.c1"
    assert mgr.find("c1", pid=1) is None
    assert mgr.find("c1", pid=99999) is None
    assert mgr.cgroup_of(500) == cg.paths


def test_find_suffixed_by_pid():
    fs, mgr = manager("hybrid")
    mgr.create("c1")
    other = mgr.create("c1")
    fs.spawn(77)
    other.attach(77)
    assert mgr.find("c1", pid=77).cgname == "lxc.payload.c1-1"


def test_attach_dead_pid_names_the_cgroup():
    _, mgr = manager()
    cg = mgr.create("c1")
    with pytest.raises(LxczError, match="cannot attach 31337 to cgroup .*lxc.payload.c1"):
        cg.attach(31337)


# -- keys ----------------------------------------------------------------------------------
def test_get_set_known_and_unknown_keys():
    fs, mgr = manager("hybrid")
    cg = mgr.create("c1")
    cg.set("memory.limit_in_bytes", "256M")
    assert cg.get("memory.limit_in_bytes") == str(256 << 20)
    assert cg.get("cgroup.freeze") == "0"  # cgroup2 core file on a hybrid host
    with pytest.raises(LxczError, match='unknown cgroup key "memory.foo"'):
        cg.get("memory.foo")
    with pytest.raises(LxczError, match='cannot set cgroup key "memory.limit_in_bytes" '
                                        'to "abc": Invalid argument'):
        cg.set("memory.limit_in_bytes", "abc")
    for bad in ("../memory/memory.max", "/etc/passwd", ".hidden", "a/b", ""):
        with pytest.raises(LxczError, match="invalid cgroup key"):
            cg.get(bad)


def test_apply_v1_order_devices_last_and_errors_name_key():
    fs, mgr = manager("hybrid")
    cg = mgr.create("c1")
    cg.apply(v1=[("devices.deny", "a"), ("lxc.cgroup.memory.limit_in_bytes", "1G"),
                 ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 1:5 rwm")])
    writes = [p.rsplit("/", 1)[1] for p, _ in fs.writes if "lxc.payload.c1/" in p
              and not p.endswith(("cpuset.cpus", "cpuset.mems", "clone_children"))]
    assert writes == ["memory.limit_in_bytes", "devices.deny", "devices.allow",
                      "devices.allow"]
    assert cg.get("devices.list") == "c 1:3 rwm\nc 1:5 rwm"
    with pytest.raises(LxczError, match='unknown cgroup key "lxc.cgroup.memory.foo"'):
        cg.apply(v1={"memory.foo": "1"})
    with pytest.raises(LxczError,
                       match=r"cannot apply lxc.cgroup.devices.allow = x 1:3: Invalid argument"):
        cg.apply(v1={"devices.allow": ["x 1:3"]})
    with pytest.raises(LxczError, match='invalid cgroup key "lxc.cgroup.../x"'):
        cg.apply(v1={"../x": "1"})


def test_apply_v2_on_hybrid_warns_and_skips_missing():
    fs, mgr = manager("hybrid")
    cg = mgr.create("c1")
    warnings = cg.apply(v2={"pids.max": "100", "cgroup.max.descendants": "5"},
                        v1={"pids.max": "100"})
    assert cg.get("pids.max") == "100"  # v1 pids hierarchy
    assert len(warnings) == 1 and "lxc.cgroup2.pids.max" in warnings[0]


def test_apply_v1_on_unified_warns_v2_errors():
    fs, mgr = manager("unified")
    cg = mgr.create("c1")
    warnings = cg.apply(v1={"memory.limit_in_bytes": "1G"})
    assert "ignoring lxc.cgroup.memory.limit_in_bytes" in warnings[0]
    with pytest.raises(LxczError, match='unknown cgroup key "lxc.cgroup2.memory.nope"'):
        cg.apply(v2={"memory.nope": "1"})
    with pytest.raises(LxczError, match="cannot apply lxc.cgroup2.memory.max = lots"):
        cg.apply(v2={"memory.max": "lots"})
    assert cg.apply(v2=[("devices.deny", "a"), ("devices.allow", "c 1:3 rwm")]) == []
    assert len(fs.device_programs[cg.paths["unified"]]) == 1
    with pytest.raises(LxczError, match="cannot apply lxc.cgroup2.devices.allow = c 1:3 rx: "
                                        "invalid device rule"):
        cg.apply(v2={"devices.allow": "c 1:3 rx"})


def test_v2_devices_ignored_on_hybrid():
    fs, mgr = manager("hybrid")
    cg = mgr.create("c1")
    warnings = cg.apply(v2={"devices.allow": "c 1:3 rwm"})
    assert "v1 devices controller" in warnings[0] and not fs.device_programs


# -- freezer ---------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["legacy", "hybrid", "unified"])
def test_freeze_thaw(layout):
    fs, mgr = manager(layout)
    fs.freeze_delay = 3
    cg = mgr.create("c1")
    fs.spawn(600)
    cg.attach(600)
    assert cg.state() == "THAWED"
    cg.freeze(timeout=5)
    assert cg.state() == "FROZEN"
    cg.thaw()
    assert cg.state() == "THAWED"
    if layout == "unified":
        assert cg.get("cgroup.freeze") == "0"
    else:
        assert cg.get("freezer.state") == "THAWED"


def test_freeze_timeout_thaws_back():
    fs, mgr = manager("hybrid")
    fs.freeze_delay = 10 ** 9
    cg = mgr.create("c1")
    with pytest.raises(LxczError, match="timed out after 0.05s"):
        cg.freeze(timeout=0.05)
    assert cg.state() == "THAWED"


# -- stats ----------------------------------------------------------------------------
def test_stats_v1():
    fs, mgr = manager("hybrid")
    cg = mgr.create("c1")
    p = cg.paths
    fs.files[p["cpuacct"] + "/cpuacct.usage"] = "1500000000\n"
    fs.files[p["cpuacct"] + "/cpuacct.stat"] = "user 120\nsystem 30\n"
    fs.files[p["memory"] + "/memory.usage_in_bytes"] = "1048576\n"
    fs.files[p["memory"] + "/memory.kmem.usage_in_bytes"] = "4096\n"
    fs.files[p["blkio"] + "/blkio.throttle.io_service_bytes"] = (
        "8:0 Read 100\n8:0 Write 50\n8:0 Sync 0\n8:0 Total 150\nTotal 150\n")
    fs.files[p["blkio"] + "/blkio.throttle.io_serviced"] = "8:0 Read 3\nTotal 3\n"
    s = cg.stats()
    assert s["cpu_ns"] == 1500000000 and s["cpu_user_hz"] == 120 and s["cpu_sys_hz"] == 30
    assert s["mem_used"] == 1048576 and s["kmem_used"] == 4096
    assert s["mem_limit"] == 9223372036854771712
    assert (s["blkio_bytes"], s["blkio_read"], s["blkio_write"], s["blkio_ios"]) == \
        (150, 100, 50, 3)


def test_stats_v2():
    fs, mgr = manager("unified")
    cg = mgr.create("c1")
    d = cg.paths["unified"]
    fs.files[d + "/cpu.stat"] = "usage_usec 2000\nuser_usec 1000000\nsystem_usec 500000\n"
    fs.files[d + "/memory.current"] = "2048\n"
    fs.files[d + "/memory.max"] = "max\n"
    fs.files[d + "/memory.stat"] = "anon 1000\nfile 24\nkernel 300\nkernel_stack 100\nslab 50\n"
    fs.files[d + "/io.stat"] = "8:0 rbytes=10 wbytes=5 rios=1 wios=1\n8:16 rbytes=1 wbytes=0\n"
    s = cg.stats()
    assert s["cpu_ns"] == 2000000
    assert s["mem_used"] == 2048 and s["mem_limit"] is None and s["kmem_used"] == 300
    assert s["mem_user"] == 1024 and s["mem_kernel"] == 150
    assert (s["blkio_bytes"], s["blkio_read"], s["blkio_write"]) == (16, 11, 5)


# -- kill / destroy -------------------------------------------------------------------
def test_destroy_refuses_busy_then_removes_tree(anylayout):
    fs, mgr = anylayout
    cg = mgr.create("c1")
    fs.spawn(700)
    cg.attach(700)
    inner = cg.paths[mgr.hierarchies[0].key] + "/inner"
    fs.mkdir(inner)
    with pytest.raises(LxczError, match="busy: 1 process still in it \\(700\\)"):
        cg.destroy()
    assert cg.exists()
    assert cg.kill_all(signal.SIGKILL) == 1
    assert cg.pids() == []
    cg.destroy()
    assert not [d for d in fs.dirs if "lxc.payload" in d]
    cg.destroy()  # again: nothing to do


def test_kill_all_other_signal_once():
    fs, mgr = manager("legacy")
    cg = mgr.create("c1")
    fs.spawn(1); fs.spawn(801); fs.spawn(802)  # noqa: E702
    cg.attach(801)
    cg.attach(802)
    assert cg.kill_all(signal.SIGUSR1) == 2
    assert cg.pids() == [801, 802]  # the fake ignores SIGUSR1


def test_monitor_leaves_to_pivot_then_destroys():
    fs, mgr = manager("hybrid")
    mon = mgr.create("c1", kind="monitor")
    mon.attach(fs.self_pid)
    mon.leave(fs.self_pid)
    assert fs.isdir("/sys/fs/cgroup/memory/lxc.pivot")
    mon.destroy()
    assert not fs.isdir("/sys/fs/cgroup/memory/lxc.monitor.c1")


def test_get_manager_default_is_cached():
    assert get_manager() is get_manager()


def test_check_key_accepts_real_names_only():
    from lxcz.cgroups.manager import check_key

    for good in ("cpu.cfs_quota_us", "hugetlb.2MB.limit_in_bytes", "tasks", "io.bfq.weight",
                 "memory.kmem.tcp.limit_in_bytes", "notify_on_release", "cgroup.freeze"):
        check_key(good)
    for bad in ("", ".", "..", "a/b", "-x", ".hidden", "memory..max", "a b", "x\n"):
        with pytest.raises(LxczError, match="invalid cgroup key"):
            check_key(bad)


def test_mountinfo_escapes_and_ro_mounts():
    text = ("50 31 0:50 / /mnt/my\\040cgroup rw - cgroup cgroup rw,name=test\n"
            "51 31 0:51 / /mnt/ro ro,relatime - cgroup cgroup ro,pids\n")
    hs = L.parse_mountinfo(text)
    assert hs[0].mountpoint == "/mnt/my cgroup" and hs[0].key == "name=test"
    assert hs[1].readonly
    fs = FakeCgroupFS("legacy")
    mgr = get_manager(fs=fs, mountinfo=text, proc_cgroup="1:name=test:/\n2:pids:/\n", euid=0)
    assert [h.key for h in mgr.hierarchies] == ["name=test"]  # read-only one skipped

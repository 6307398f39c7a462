"""lxc-cgroup, lxc-freeze, lxc-unfreeze, lxc-top and lxcz.cgroups.ops over the fake cgroupfs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import lxcz.cgroups as cgroups
from lxcz.cgroups import ops
from lxcz.cgroups.fake import FakeCgroupFS
from lxcz.errors import LxczError
from lxcz.tools import lxc_cgroup, lxc_freeze, lxc_top, lxc_unfreeze

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Box:
    """A container-like object: what ops needs."""

    def __init__(self, name, path):
        self.name = name
        self.config_path = path


@pytest.fixture
def host(monkeypatch, tmp_path):
    """A fake hybrid host as the default manager, with container c1 running (pid 900)."""
    fs = FakeCgroupFS("hybrid")
    mgr = cgroups.get_manager(fs=fs, euid=0)
    monkeypatch.setattr(cgroups, "_default", mgr)
    lxcpath = tmp_path / "lxc"
    (lxcpath / "c1").mkdir(parents=True)
    (lxcpath / "c1" / "config").write_text("lxc.uts.name = c1\n")
    (lxcpath / "idle").mkdir()
    (lxcpath / "idle" / "config").write_text("lxc.uts.name = idle\n")
    cg = mgr.create("c1")
    fs.spawn(900)
    cg.attach(900)
    return fs, mgr, cg, str(lxcpath)


# -- ops --------------------------------------------------------------------------------
def test_ops_get_set_freeze(host):
    fs, mgr, cg, lxcpath = host
    c = Box("c1", lxcpath)
    assert ops.set_item(c, "memory.limit_in_bytes", "64M")
    assert ops.get_item(c, "memory.limit_in_bytes") == str(64 << 20)
    assert ops.freeze(c) and ops.freezer_state(c) == "FROZEN"
    assert ops.freeze(c)  # already frozen: fine, like LXC
    assert ops.unfreeze(c) and ops.freezer_state(c) == "THAWED"
    assert ops.pids(c) == [900]
    assert ops.stats(c)["mem_limit"] == 64 << 20


def test_ops_errors(host):
    fs, mgr, cg, lxcpath = host
    with pytest.raises(LxczError, match='unknown cgroup key "memory.foo"'):
        ops.get_item(Box("c1", lxcpath), "memory.foo")
    with pytest.raises(LxczError, match='invalid cgroup key "../x"'):
        ops.get_item(Box("c1", lxcpath), "../x")
    with pytest.raises(LxczError, match="empty value"):
        ops.set_item(Box("c1", lxcpath), "pids.max", " ")
    with pytest.raises(LxczError, match="container is not running"):
        ops.freeze(Box("idle", lxcpath))
    with pytest.raises(LxczError, match="no such container"):
        ops.get_item(Box("ghost", lxcpath), "pids.max")
    fs.kill(900)  # cgroup still there but empty: not running
    with pytest.raises(LxczError, match="not running"):
        ops.unfreeze(Box("c1", lxcpath))


# -- the tools in-process ----------------------------------------------------------------
def test_lxc_cgroup_get_set(host, capsys):
    fs, mgr, cg, lxcpath = host
    assert lxc_cgroup.main(["-n", "c1", "-P", lxcpath, "pids.max", "42"]) == 0
    assert lxc_cgroup.main(["-n", "c1", "-P", lxcpath, "pids.max"]) == 0
    assert capsys.readouterr().out == "42\n\n"  # LXC prints an empty line after
    assert fs.files[cg.paths["pids"] + "/pids.max"] == "42"


@pytest.mark.parametrize("argv,message", [
    (["-n", "c1", "memory.foo"], 'lxc-cgroup: c1: unknown cgroup key "memory.foo"\n'),
    (["-n", "c1", "memory.limit_in_bytes", "abc"],
     'lxc-cgroup: c1: cannot set cgroup key "memory.limit_in_bytes" to "abc": '
     "Invalid argument\n"),
    (["-n", "idle", "pids.max"], "lxc-cgroup: idle: container is not running"),
    (["-n", "ghost", "pids.max"], "lxc-cgroup: ghost: no such container in"),
    (["-n", "c1", "../../etc/passwd"], 'lxc-cgroup: c1: invalid cgroup key "../../etc/passwd"'),
])
def test_lxc_cgroup_bad_input(host, capsys, argv, message):
    lxcpath = host[3]
    assert lxc_cgroup.main(argv + ["-P", lxcpath]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_lxc_cgroup_usage_errors(host, capsys):
    lxcpath = host[3]
    assert lxc_cgroup.main(["-n", "c1", "-P", lxcpath]) == 1
    assert "lxc-cgroup: c1: missing state object" in capsys.readouterr().err  # one line
    assert lxc_cgroup.main(["-n", "c1", "-P", lxcpath, "a", "b", "c"]) == 1
    assert "unexpected argument 'c'" in capsys.readouterr().err
    # as LXC: without -n the first operand is the name (then the state object is missing)
    assert lxc_cgroup.main(["pids.max"]) == 1
    assert "missing state object" in capsys.readouterr().err
    assert lxc_cgroup.main([]) == 1
    assert "missing container name" in capsys.readouterr().err


def test_lxc_freeze_unfreeze(host, capsys):
    fs, mgr, cg, lxcpath = host
    assert lxc_freeze.main(["-n", "c1", "-P", lxcpath]) == 0
    assert cg.state() == "FROZEN"
    assert lxc_unfreeze.main(["-n", "c1", "-P", lxcpath]) == 0
    assert cg.state() == "THAWED"
    assert lxc_freeze.main(["-n", "idle", "-P", lxcpath]) == 1
    assert capsys.readouterr().err.startswith("lxc-freeze: idle: container is not running")
    assert lxc_unfreeze.main(["-P", lxcpath]) == 1


def test_help_texts_match_lxc_layout(capsys):
    assert lxc_freeze.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: lxc-freeze --name=NAME\n\nlxc-freeze freezes a container "
                          "with the identifier NAME\n")
    assert lxc_top.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "  -s, --sort      sort by [n,c,b,m] (default: n) where\n" in out
    assert lxc_cgroup.main(["-?"]) == 0
    assert "Get or set the value of a state object" in capsys.readouterr().out


# -- lxc-top ---------------------------------------------------------------------------
def test_size_humanize_like_lxc():
    assert lxc_top.size_humanize(0) == "  0.00   "
    assert lxc_top.size_humanize(1024) == "1024.00   "
    assert lxc_top.size_humanize(356352) == "348.00 KiB"
    assert lxc_top.size_humanize(933888) == "912.00 KiB"
    assert lxc_top.size_humanize(5 << 20) == "5.00 MiB"
    assert lxc_top.size_humanize(3 << 30) == "3.00 GiB"


def _rows():
    base = {k: 0 for k in lxc_top.FIELDS}
    a = dict(base, cpu_ns=3_000_000_000, mem_used=10 << 20, blkio_bytes=5)
    b = dict(base, cpu_ns=1_000_000_000, mem_used=30 << 20, blkio_bytes=9, kmem_used=4096)
    return [("b", b), ("a", a)]


def test_sorting():
    rows = _rows()
    lxc_top.sort_rows(rows, "n", False)
    assert [r[0] for r in rows] == ["a", "b"]
    lxc_top.sort_rows(rows, "n", True)
    assert [r[0] for r in rows] == ["b", "a"]
    lxc_top.sort_rows(rows, "c", False)
    assert [r[0] for r in rows] == ["a", "b"]  # most CPU first
    lxc_top.sort_rows(rows, "m", False)
    assert [r[0] for r in rows] == ["b", "a"]
    lxc_top.sort_rows(rows, "m", True)
    assert [r[0] for r in rows] == ["a", "b"]


def test_table_layout_matches_lxc():
    rows = _rows()
    total = lxc_top.total_of(rows)
    text = lxc_top.render_table(rows, total, 100, 22)
    lines = text.split("\n")
    assert lines[0] == ("\033[H\033[J\033[7m\033[1mContainer                   CPU          CPU"
                        "          CPU                                BlkIO        Mem"
                        "       KMem")
    assert lines[1].startswith("Name                       Used          Sys         User"
                               "                    Total(Read/Write)       Used")
    assert lines[2].startswith("\033[0mb                          1.00         0.00")
    assert lines[-1].startswith("TOTAL 2 of 2               4.00")
    assert "40.00 MiB" in lines[-1] and not text.endswith("\n")
    assert lxc_top.render_table(rows, total, 100, 1).split("\n")[-1].startswith("TOTAL 1 of 2")


def test_batch_lines():
    rows = _rows()
    text = lxc_top.render_batch(rows, 1700000000123)
    assert text.splitlines()[0] == ("1700000000123,b,1000000000,0,0,9,0,31457280,0,4096")
    assert lxc_top.CSV_HEADER.count(",") == text.splitlines()[0].count(",")


@pytest.mark.parametrize("argv,message", [
    (["-s", "x"], "invalid sort key 'x'"),
    (["-d", "0"], "invalid delay '0'"),
    (["-d", "soon"], "invalid delay 'soon'"),
])
def test_top_bad_options(capsys, argv, message):
    assert lxc_top.main(argv) == 1
    assert message in capsys.readouterr().err


def test_top_interactive_needs_a_tty(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "lxcz", "lxc-top", "-P", str(tmp_path)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                       timeout=30)
    assert r.returncode == 1
    assert r.stderr == "lxc-top: stdin is not a tty (use -b for batch output)\n"


def test_top_batch_without_tty(host, monkeypatch, capsys):
    fs, mgr, cg, lxcpath = host
    monkeypatch.setattr(ops, "active_names", lambda path: ["c1"])
    calls = []

    def fake_sleep(seconds):
        calls.append(seconds)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(lxc_top.time, "sleep", fake_sleep)
    fs.files[cg.paths["cpuacct"] + "/cpuacct.usage"] = "777"
    assert lxc_top.main(["-b", "-P", lxcpath]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == lxc_top.CSV_HEADER
    assert len(out) == 3 and out[1].split(",")[1:3] == ["c1", "777"]
    assert calls == [300.0, 300.0]  # LXC's batch default delay

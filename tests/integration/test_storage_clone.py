"""lxc-copy, lxc-snapshot and lxc-clone on real stores, with dependency rules and cleanup."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lxcz", name, *args], cwd=ROOT,
                          capture_output=True, text=True)


def mounts() -> set:
    with open("/proc/self/mountinfo") as fh:
        return {line.split()[4] for line in fh}


@pytest.fixture
def base(lxcpath):
    """A stopped dir-backed container made by hand (no template needed)."""
    cdir = os.path.join(lxcpath, "base")
    os.makedirs(os.path.join(cdir, "rootfs", "etc"))
    with open(os.path.join(cdir, "rootfs", "etc", "hostname"), "w") as fh:
        fh.write("base\n")
    with open(os.path.join(cdir, "fstab"), "w") as fh:
        fh.write("# empty\n")
    with open(os.path.join(cdir, "config"), "w") as fh:
        fh.write("# made by the test\n"
                 f"lxc.rootfs.path = dir:{cdir}/rootfs\n"
                 "lxc.uts.name = base\n"
                 "lxc.net.0.type = empty\n"
                 "lxc.net.0.hwaddr = 00:16:3e:12:34:56\n"
                 f"lxc.mount.fstab = {cdir}/fstab\n")
    before = mounts()
    yield lxcpath
    assert mounts() == before


def config(lxcpath: str, name: str) -> str:
    with open(os.path.join(lxcpath, name, "config")) as fh:
        return fh.read()


def test_full_copy_rewrites_name_paths_and_mac(base):
    r = tool("lxc-copy", "-P", base, "-n", "base", "-N", "c2")
    assert r.returncode == 0, r.stderr
    text = config(base, "c2")
    assert f"lxc.rootfs.path = dir:{base}/c2/rootfs" in text
    assert "lxc.uts.name = c2" in text and "# made by the test" in text
    assert f"lxc.mount.fstab = {base}/c2/fstab" in text
    assert "00:16:3e:12:34:56" not in text and "lxc.net.0.hwaddr = 00:16:3e:" in text
    assert os.path.isfile(os.path.join(base, "c2", "fstab"))
    with open(os.path.join(base, "c2", "rootfs", "etc", "hostname")) as fh:
        assert fh.read() == "base\n"
    r = tool("lxc-copy", "-P", base, "-n", "base", "-N", "c3", "-K", "-M")
    text = config(base, "c3")
    assert "lxc.uts.name = base" in text and "00:16:3e:12:34:56" in text
    assert "base\n" == config(base, "base").split("lxc.uts.name = ")[1][:5]


def test_snapshot_clone_is_overlay_and_protects_its_base(base):
    r = tool("lxc-copy", "-P", base, "-n", "base", "-N", "s1", "-s")
    assert r.returncode == 0, r.stderr
    assert (f"lxc.rootfs.path = overlay:{base}/base/rootfs:{base}/s1/overlay/delta"
            in config(base, "s1"))
    with open(os.path.join(base, "s1", "lxc_rdepends")) as fh:
        assert fh.read() == f"{base}\nbase\n"
    with open(os.path.join(base, "base", "lxc_snapshots")) as fh:
        assert fh.read() == f"{base}\ns1\n"  # LXC 5's format: lxcpath, name
    r = tool("lxc-destroy", "-P", base, "-n", "base")
    assert r.returncode != 0 and "s1" in r.stderr and r.stderr.count("\n") == 1
    assert os.path.isdir(os.path.join(base, "base", "rootfs"))
    assert tool("lxc-destroy", "-P", base, "-n", "s1").returncode == 0
    assert not os.path.exists(os.path.join(base, "base", "lxc_snapshots"))
    assert tool("lxc-destroy", "-P", base, "-n", "base").returncode == 0


def test_copy_bad_inputs_leave_nothing(base):
    before = sorted(os.listdir(base))
    cases = [
        (["-n", "base", "-N", "base"], "already exists"),
        (["-n", "nope", "-N", "x1"], "nope does not exist"),
        (["-n", "base", "-N", "x2", "-B", "zzz"], "unknown backing store type 'zzz'"),
        (["-n", "base", "-N", "x3", "-B", "loop", "-L", "12"], "invalid size '12'"),
        (["-n", "base", "-N", "x4", "-B", "btrfs"], "not on a btrfs filesystem"),
        (["-n", "base", "-N", "a/b"], "invalid container name"),
    ]
    for argv, msg in cases:
        r = tool("lxc-copy", "-P", base, *argv)
        assert r.returncode != 0, argv
        assert msg in r.stderr and r.stderr.count("\n") == 1, (argv, r.stderr)
    assert sorted(os.listdir(base)) == before
    assert config(base, "base").count("lxc.uts.name = base") == 1


def test_loop_copy_and_rename(base):
    r = tool("lxc-copy", "-P", base, "-n", "base", "-N", "lp", "-B", "loop", "-L", "32M")
    assert r.returncode == 0, r.stderr
    assert f"lxc.rootfs.path = loop:{base}/lp/rootdev" in config(base, "lp")
    assert os.path.getsize(os.path.join(base, "lp", "rootdev")) == 32 << 20
    r = tool("lxc-copy", "-P", base, "-n", "lp", "-N", "lp2", "-R")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(base, "lp"))
    text = config(base, "lp2")
    assert f"loop:{base}/lp2/rootdev" in text and "lxc.uts.name = lp2" in text
    assert tool("lxc-destroy", "-P", base, "-n", "lp2").returncode == 0
    assert not os.path.exists(os.path.join(base, "lp2"))


def test_snapshot_list_restore_destroy(base, tmp_path):
    comment = tmp_path / "comment"
    comment.write_text("before the upgrade\n")
    r = tool("lxc-snapshot", "-P", base, "-n", "base", "-c", str(comment))
    assert r.returncode == 0, r.stderr
    assert "making a full copy" in r.stderr  # a dir container: copy with a warning
    assert tool("lxc-snapshot", "-P", base, "-n", "base").returncode == 0
    out = tool("lxc-snapshot", "-P", base, "-n", "base", "-L", "-C").stdout.splitlines()
    assert out[0].startswith(f"snap0 ({base}/base/snaps) ")
    assert out[1] == "before the upgrade" and out[2].startswith("snap1 ")
    hostname = os.path.join(base, "base", "rootfs", "etc", "hostname")
    with open(hostname, "w") as fh:
        fh.write("changed\n")
    r = tool("lxc-snapshot", "-P", base, "-n", "base", "-r", "snap0")
    assert r.returncode == 0, r.stderr
    with open(hostname) as fh:
        assert fh.read() == "base\n"
    assert "lxc.uts.name = base" in config(base, "base")
    assert f"dir:{base}/base/rootfs" in config(base, "base")
    r = tool("lxc-snapshot", "-P", base, "-n", "base", "-r", "snap1", "-N", "fromsnap")
    assert r.returncode == 0, r.stderr
    assert "lxc.uts.name = fromsnap" in config(base, "fromsnap")
    bad = tool("lxc-snapshot", "-P", base, "-n", "base", "-r", "snap9")
    assert bad.returncode != 0 and "no snapshot snap9" in bad.stderr
    assert tool("lxc-snapshot", "-P", base, "-n", "base", "-d", "snap0").returncode == 0
    assert [ln.split()[0] for ln in tool("lxc-snapshot", "-P", base, "-n", "base",
                                         "-L").stdout.splitlines()] == ["snap1"]
    assert tool("lxc-snapshot", "-P", base, "-n", "base", "-d", "ALL").returncode == 0
    assert tool("lxc-snapshot", "-P", base, "-n", "base", "-L").stdout == "No snapshots\n"


def test_destroy_with_snapshots(base):
    assert tool("lxc-snapshot", "-P", base, "-n", "base").returncode == 0
    r = tool("lxc-destroy", "-P", base, "-n", "base")
    assert r.returncode != 0
    r = tool("lxc-destroy", "-P", base, "-n", "base", "-s")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(base, "base"))


def test_legacy_lxc_clone(base):
    r = tool("lxc-clone", "-p", base, "-o", "base", "-n", "old1", "-s")
    assert r.returncode == 0, r.stderr
    assert "overlay:" in config(base, "old1")
    assert "deprecated" in r.stderr

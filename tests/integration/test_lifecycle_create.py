"""lxc-create and lxc-destroy as root: the built-in busybox template (compared with
upstream's when LXC is installed), external templates, -t none, -f, hwaddr, --dir,
failures that leave nothing, and every bad input with its one-line message."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lifecycle_util as U  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
needs_busybox = pytest.mark.skipif(not U.have_busybox(), reason="no busybox on the host")


@pytest.fixture
def lxcpath(tmp_path):
    path = tmp_path / "lxc"
    path.mkdir()
    yield str(path)
    for name in os.listdir(path):
        U.stop_and_destroy(str(path), name)


@needs_busybox
def test_busybox_layout_and_config(lxcpath):
    r = U.tool("lxc-create", "-n", "bb", "-P", lxcpath, "-t", "busybox")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    c = os.path.join(lxcpath, "bb")
    root = os.path.join(c, "rootfs")
    assert stat.S_IMODE(os.stat(c).st_mode) == 0o770
    assert stat.S_IMODE(os.stat(os.path.join(c, "config")).st_mode) == 0o640
    for d in ("bin", "sbin", "etc/init.d", "dev/pts", "proc", "sys", "tmp", "root",
              "var/log", "var/run", "usr/bin", "usr/sbin", "home", "mnt", "lib"):
        assert os.path.isdir(os.path.join(root, d)), d
    assert stat.S_IMODE(os.stat(os.path.join(root, "tmp")).st_mode) == 0o1777
    bb = os.stat(os.path.join(root, "bin", "busybox"))
    assert bb.st_mode & stat.S_ISUID and bb.st_nlink == 2
    assert os.stat(os.path.join(root, "sbin", "init")).st_ino == bb.st_ino
    assert os.readlink(os.path.join(root, "bin", "sh")) == "busybox"
    with open(os.path.join(root, "etc", "passwd")) as f:
        assert f.read() == "root:x:0:0:root:/root:/bin/sh\n"
    with open(os.path.join(root, "etc", "hostname")) as f:
        assert f.read() == "bb\n"
    assert os.path.exists(os.path.join(root, "etc", "inittab"))
    with open(os.path.join(c, "config")) as f:
        text = f.read()
    assert text.startswith("# Template used to create this container: busybox")
    assert f"lxc.rootfs.path = dir:{root}\n" in text
    assert 'lxc.uts.name = "bb"' in text
    assert "lxc.mount.auto = cgroup:mixed proc:mixed sys:ro" in text
    assert not os.path.exists(os.path.join(c, "partial"))


@needs_busybox
@pytest.mark.skipif(not (os.path.exists("/usr/bin/lxc-create") and
                         os.path.exists("/usr/share/lxc/templates/lxc-busybox")),
                    reason="upstream LXC and its busybox template are not installed")
def test_busybox_matches_upstream_template(lxcpath, tmp_path):
    ref_path = str(tmp_path / "ref")
    os.mkdir(ref_path)
    r = __import__("subprocess").run(["/usr/bin/lxc-create", "-n", "ref", "-P", ref_path, "-t",
                                      "busybox"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert U.tool("lxc-create", "-n", "ref", "-P", lxcpath, "-t", "busybox").returncode == 0

    def tree(top):
        out = {}
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                rel = os.path.relpath(p, top)
                out[rel] = (stat.S_IFMT(st.st_mode), os.readlink(p)
                            if stat.S_ISLNK(st.st_mode) else None)
        return out

    theirs = tree(os.path.join(ref_path, "ref", "rootfs"))
    ours = tree(os.path.join(lxcpath, "ref", "rootfs"))
    assert set(ours) - set(theirs) == {"etc/hostname"}
    assert set(theirs) - set(ours) == set()
    assert {k: v for k, v in ours.items() if k in theirs} == theirs

    def body(path):
        with open(path) as f:
            lines = f.read().splitlines()
        return [ln.replace(path.rsplit("/", 2)[0], "LXCPATH") for ln in lines[1:]]

    assert body(os.path.join(lxcpath, "ref", "config")) == \
        body(os.path.join(ref_path, "ref", "config"))
    shutil.rmtree(ref_path)


def test_none_with_config_file_and_hwaddr(lxcpath, tmp_path):
    conf = tmp_path / "net.conf"
    conf.write_text("lxc.net.0.type = veth\nlxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n"
                    "lxc.net.1.type = empty\nlxc.net.1.hwaddr = xx:xx:xx:xx:xx:xx\n")
    r = U.tool("lxc-create", "-n", "n1", "-P", lxcpath, "-t", "none", "-f", str(conf))
    assert r.returncode == 0, r.stderr
    with open(os.path.join(lxcpath, "n1", "config")) as f:
        text = f.read()
    macs = re.findall(r"hwaddr = (\S+)", text)
    assert len(macs) == 2 and all(re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", m)
                                  for m in macs)
    assert macs[0].startswith("00:16:3e:") and int(macs[1][1], 16) % 2 == 0
    assert os.listdir(os.path.join(lxcpath, "n1")) == ["config"]
    r = U.tool("lxc-ls", "-P", lxcpath, "-1")
    assert r.stdout == "n1\n"


@pytest.fixture
def template_dir(tmp_path):
    d = tmp_path / "templates"
    d.mkdir()
    script = d / "lxc-recorder"
    script.write_text(
        "#!/bin/sh\n"
        "printf '%s\\n' \"$0\" \"$@\" > \"$(dirname \"$0\")/args\"\n"
        "for a in \"$@\"; do case \"$a\" in --path=*) p=${a#--path=};; "
        "--rootfs=*) r=${a#--rootfs=};; --fail) exit 3;; esac; done\n"
        "mkdir -p \"$r/etc\" && echo made > \"$r/etc/marker\"\n"
        "echo 'lxc.uts.name = fromtemplate' >> \"$p/config\"\n")
    script.chmod(0o755)
    return d


def test_external_template_with_args(lxcpath, template_dir):
    env = dict(os.environ, LXCZ_TEMPLATE_DIR=str(template_dir))
    r = U.tool("lxc-create", "-n", "ext", "-P", lxcpath, "-t", "recorder", "--", "-r",
               "bookworm", "--flag", env=env)
    assert r.returncode == 0, r.stderr
    with open(template_dir / "args") as f:
        args = f.read().splitlines()
    c = os.path.join(lxcpath, "ext")
    assert args[1:] == [f"--path={c}", "--name=ext", f"--rootfs={c}/rootfs", "-r",
                        "bookworm", "--flag"]
    assert os.path.basename(args[0]) == "lxc-recorder"
    with open(os.path.join(c, "rootfs", "etc", "marker")) as f:
        assert f.read() == "made\n"
    with open(os.path.join(c, "config")) as f:
        text = f.read()
    assert text.startswith(f"# Template used to create this container: "
                           f"{template_dir}/lxc-recorder\n"
                           "# Parameters passed to the template: -r bookworm --flag\n")
    assert text.rstrip().endswith("lxc.uts.name = fromtemplate")


def test_external_template_by_path_and_dir_option(lxcpath, template_dir, tmp_path):
    rootdir = str(tmp_path / "elsewhere-rootfs")
    r = U.tool("lxc-create", "-n", "ext2", "-P", lxcpath, "-t",
               str(template_dir / "lxc-recorder"), "--dir", rootdir)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(rootdir, "etc", "marker"))
    with open(os.path.join(lxcpath, "ext2", "config")) as f:
        assert f"lxc.rootfs.path = dir:{rootdir}\n" in f.read()
    r = U.tool("lxc-destroy", "-n", "ext2", "-P", lxcpath)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(lxcpath, "ext2"))
    assert os.path.isdir(rootdir)  # outside the lxcpath: never touched


def test_failing_template_leaves_nothing(lxcpath, template_dir):
    env = dict(os.environ, LXCZ_TEMPLATE_DIR=str(template_dir))
    r = U.tool("lxc-create", "-n", "bad", "-P", lxcpath, "-t", "recorder", "--", "--fail",
               env=env)
    assert r.returncode != 0
    assert r.stderr.strip() == (f"lxc-create: bad: template {template_dir}/lxc-recorder "
                                "failed (exit status 3)")
    assert os.listdir(lxcpath) == []


@needs_busybox
def test_busybox_failure_leaves_nothing(lxcpath):
    r = U.tool("lxc-create", "-n", "bad", "-P", lxcpath, "-t", "busybox", "--",
               "--busybox-path", "/nonexistent/busybox")
    assert r.returncode != 0 and "busybox" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert os.listdir(lxcpath) == []


@pytest.mark.parametrize("argv,message", [
    (["-n", "x", "-t", "nosuch"], 'lxc-create: x: template "nosuch" not found'),
    (["-n", "a/b", "-t", "none"], "lxc-create: a/b: invalid container name"),
    (["-n", "..", "-t", "none"], "lxc-create: ..: invalid container name"),
    (["-n", "", "-t", "none"], "lxc-create:"),
    (["-n", "y" * 80, "-t", "none"], "longer than 64 characters"),
    (["-n", "x"], "lxc-create: x: A template must be specified"),
    (["-n", "x", "-t", "none", "-f", "/nonexistent.conf"],
     "lxc-create: x: configuration file /nonexistent.conf not found"),
    (["-n", "x", "-t", "none", "-B", "bogus"],
     "lxc-create: x: bogus is not a valid backing storage type"),
    (["-n", "x", "-t", "none", "--dir", "rel"], "--dir should use absolute path"),
])
def test_create_bad_input(lxcpath, argv, message):
    r = U.tool("lxc-create", "-P", lxcpath, *argv)
    assert r.returncode != 0
    assert r.stderr.startswith("lxc-create:") and message in r.stderr, r.stderr
    if argv[1]:  # a usage error (no name at all) also prints the usage
        assert len(r.stderr.splitlines()) == 1, r.stderr
    assert os.listdir(lxcpath) == []


def test_create_existing_and_destroy_bad_input(lxcpath, tmp_path):
    assert U.tool("lxc-create", "-n", "c", "-P", lxcpath, "-t", "none").returncode == 0
    r = U.tool("lxc-create", "-n", "c", "-P", lxcpath, "-t", "none")
    assert r.returncode != 0 and r.stderr == "lxc-create: c: Container already exists\n"
    r = U.tool("lxc-destroy", "-n", "nosuch", "-P", lxcpath)
    assert r.returncode != 0 and r.stderr == "lxc-destroy: nosuch: Container is not defined\n"
    r = U.tool("lxc-destroy", "-n", "../c", "-P", lxcpath)
    assert r.returncode != 0 and "invalid container name" in r.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config").write_text("lxc.uts.name = o\n")
    os.symlink(str(outside), os.path.join(lxcpath, "link"))
    r = U.tool("lxc-destroy", "-n", "link", "-P", lxcpath)
    assert r.returncode != 0 and r.stderr.startswith("lxc-destroy: link: refusing")
    assert (outside / "config").exists()
    os.unlink(os.path.join(lxcpath, "link"))
    assert U.tool("lxc-destroy", "-n", "c", "-P", lxcpath).returncode == 0
    assert os.listdir(lxcpath) == []


@needs_busybox
def test_destroy_running_needs_force(lxcpath):
    name = U.unique()
    U.create_busybox(lxcpath, name)
    U.start(lxcpath, name)
    r = U.tool("lxc-destroy", "-n", name, "-P", lxcpath)
    assert r.returncode != 0 and r.stderr == f"lxc-destroy: {name}: {name} is running\n"
    assert os.path.isdir(os.path.join(lxcpath, name, "rootfs"))
    r = U.tool("lxc-destroy", "-n", name, "-P", lxcpath, "-f")
    assert r.returncode == 0, r.stderr
    assert os.listdir(lxcpath) == []
    assert U.wait_gone(name, lxcpath) == {"mounts": [], "cgroups": [], "sockets": []}


def test_destroy_stops_at_a_mount_left_in_the_rootfs(lxcpath, tmp_path):
    host_dir = tmp_path / "host-data"
    host_dir.mkdir()
    (host_dir / "precious").write_text("keep")
    assert U.tool("lxc-create", "-n", "m", "-P", lxcpath, "-t", "none").returncode == 0
    target = os.path.join(lxcpath, "m", "rootfs", "mnt")
    os.makedirs(target)
    with open(os.path.join(lxcpath, "m", "config"), "a") as f:
        f.write(f"lxc.rootfs.path = dir:{lxcpath}/m/rootfs\n")
    import subprocess

    subprocess.run(["mount", "--bind", str(host_dir), target], check=True)
    try:
        r = U.tool("lxc-destroy", "-n", "m", "-P", lxcpath)
        assert r.returncode != 0 and "is a mount point" in r.stderr, r.stderr
        assert (host_dir / "precious").read_text() == "keep"
        assert os.path.exists(os.path.join(lxcpath, "m", "config"))  # nothing removed
    finally:
        subprocess.run(["umount", target], check=True)
    r = U.tool("lxc-destroy", "-n", "m", "-P", lxcpath)
    assert r.returncode == 0, r.stderr
    assert os.listdir(lxcpath) == []
    assert (host_dir / "precious").read_text() == "keep"


@needs_busybox
def test_destroy_waits_for_the_container_lock(lxcpath):
    """lxc-destroy takes the per-container lock, as LXC does: a command holding it (a start
    in progress) is waited for, not raced."""
    import threading
    import time

    from lxcz.runtime.lock import container_lock

    name = U.unique()
    U.create_busybox(lxcpath, name)
    held = container_lock(lxcpath, name)
    held.__enter__()
    released = []

    def release():
        time.sleep(0.7)
        released.append(time.monotonic())
        held.__exit__(None, None, None)

    t = threading.Thread(target=release)
    t.start()
    try:
        res = U.tool("lxc-destroy", "-P", lxcpath, "-n", name)
        done = time.monotonic()
    finally:
        t.join()
    assert res.returncode == 0, res.stderr
    assert released and done >= released[0]
    assert not os.path.exists(os.path.join(lxcpath, name))

"""lxc-create / lxc-destroy with lxc.idmap for real: as root and as a throwaway
unprivileged user (useradd + /etc/subuid and /etc/subgid ranges through usermod, removed
in teardown even on failure).

The rootfs the busybox template makes belongs to the mapped host ids (container root ->
100000 or the user's range), the container directory too, and the caller can still use
and destroy it. Ownership is compared with upstream's lxc-create where it is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from userns_fixtures import _free_base

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable
MAP = "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def lxcz(tool, *args, user=None, home=None, timeout=120):
    """Run one of our tools from the source tree, optionally as ``user``."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": ROOT, "LANG": "C"}
    if home:
        env["HOME"] = home
    argv = [PYTHON, "-m", "lxcz", tool, *args]
    if user:
        argv = ["runuser", "-u", user, "--", "env", *[f"{k}={v}" for k, v in env.items()],
                *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd="/",
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _conf(workdir, text, name="conf"):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def _owners(rootfs):
    """{relative path: (uid, gid, mode)} for every entry below and including rootfs."""
    st = os.lstat(rootfs)
    out = {".": (st.st_uid, st.st_gid, st.st_mode)}
    for top, dirs, files in os.walk(rootfs):
        for n in dirs + files:
            p = os.path.join(top, n)
            st = os.lstat(p)
            out[os.path.relpath(p, rootfs)] = (st.st_uid, st.st_gid, st.st_mode)
    return out


def _all_in(owners, base, count=65536):
    bad = {p: o[:2] for p, o in owners.items()
           if not (base <= o[0] < base + count and base <= o[1] < base + count)}
    assert not bad, f"not owned by the mapped range {base}+: {sorted(bad.items())[:5]}"


def _needs_busybox():
    if shutil.which("busybox", path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        pytest.skip("busybox is not installed")


# -- as root --------------------------------------------------------------------------

def test_root_busybox_owned_by_mapped_ids(workdir):
    _needs_busybox()
    lp = os.path.join(workdir, "lp")
    conf = _conf(workdir, MAP)
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", conf, "-t", "busybox")
    assert res.returncode == 0, res.stderr
    cdir = os.path.join(lp, "c1")
    rootfs = os.path.join(cdir, "rootfs")
    st = os.stat(cdir)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (100000, 100000, 0o770)
    st = os.stat(os.path.join(cdir, "config"))
    assert (st.st_uid, st.st_gid) == (0, 0)
    owners = _owners(rootfs)
    assert owners["."][:2] == (100000, 100000)
    assert owners["bin/busybox"][:2] == (100000, 100000)
    assert owners["bin/busybox"][2] & 0o6000 == 0  # no setuid-to-100000 binary on the host
    assert len(owners) > 50
    _all_in(owners, 100000)
    text = open(os.path.join(cdir, "config")).read()
    assert "lxc.idmap = u 0 100000 65536" in text and "--mapped-uid" not in text
    res = lxcz("lxc-destroy", "-P", lp, "-n", "c1")
    assert res.returncode == 0, res.stderr
    assert os.listdir(lp) == []


def test_root_matches_upstream_ownership(workdir):
    _needs_busybox()
    upstream = "/usr/bin/lxc-create"
    if not os.access(upstream, os.X_OK) or \
            not os.path.exists("/usr/share/lxc/templates/lxc-busybox"):
        pytest.skip("upstream lxc-create and its busybox template are not installed")
    conf = _conf(workdir, MAP)
    up, ours = os.path.join(workdir, "up"), os.path.join(workdir, "ours")
    res = subprocess.run([upstream, "-P", up, "-n", "c1", "-f", conf, "-t", "busybox"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    try:
        res = lxcz("lxc-create", "-P", ours, "-n", "c1", "-f", conf, "-t", "busybox")
        assert res.returncode == 0, res.stderr
        a = _owners(os.path.join(up, "c1", "rootfs"))
        b = _owners(os.path.join(ours, "c1", "rootfs"))
        # ownership of every path both made is the same; ours adds etc/hostname
        assert set(b) - set(a) <= {"etc/hostname"}
        assert set(a) <= set(b)
        assert {p: a[p][:2] for p in a} == {p: b[p][:2] for p in a}
        for d in (os.path.join(up, "c1"), os.path.join(ours, "c1")):
            st = os.stat(d)
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (100000, 100000, 0o770)
        # upstream's destroys ours, and ours upstream's
        res = subprocess.run(["/usr/bin/lxc-destroy", "-P", ours, "-n", "c1"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        res = lxcz("lxc-destroy", "-P", up, "-n", "c1")
        assert res.returncode == 0, res.stderr
        assert os.listdir(up) == [] and os.listdir(ours) == []
    finally:
        for lp in (up, ours):
            if os.path.isdir(os.path.join(lp, "c1")):
                subprocess.run(["/usr/bin/lxc-destroy", "-P", lp, "-n", "c1"],
                               capture_output=True, timeout=60)


TEMPLATE = """#!/bin/sh
# a tiny external template: records how it was run and writes files as several ids
for a in "$@"; do
  case "$a" in --rootfs=*) rootfs="${a#--rootfs=}";; --path=*) path="${a#--path=}";; esac
done
echo "$0 $*" > "$rootfs/argv"
id -u > "$rootfs/uid"
cat /proc/self/uid_map > "$rootfs/uid_map"
touch "$rootfs/mine" "$rootfs/user1000"
chown 1000:1000 "$rootfs/user1000"
echo "lxc.uts.name = from-template" >> "$path/config"
"""


def test_root_external_template_runs_under_the_map(workdir):
    tpl = _conf(workdir, TEMPLATE, "lxc-tiny")
    os.chmod(tpl, 0o755)
    lp = os.path.join(workdir, "lp")
    conf = _conf(workdir, MAP)
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", conf, "-t", tpl, "--", "--x=1")
    assert res.returncode == 0, res.stderr
    rootfs = os.path.join(lp, "c1", "rootfs")
    argv = open(os.path.join(rootfs, "argv")).read().split()
    assert argv[0] == tpl
    assert argv[-5:] == ["--x=1", "--mapped-uid", "65536", "--mapped-gid", "65536"]
    assert open(os.path.join(rootfs, "uid")).read().strip() == "0"
    rows = [r.split() for r in open(os.path.join(rootfs, "uid_map")).read().splitlines()]
    assert ["0", "100000", "65536"] in rows and ["65536", "0", "1"] in rows
    st = os.lstat(os.path.join(rootfs, "mine"))
    assert (st.st_uid, st.st_gid) == (100000, 100000)
    st = os.lstat(os.path.join(rootfs, "user1000"))
    assert (st.st_uid, st.st_gid) == (101000, 101000)
    assert "from-template" in open(os.path.join(lp, "c1", "config")).read()
    res = lxcz("lxc-destroy", "-P", lp, "-n", "c1")
    assert res.returncode == 0, res.stderr
    assert os.listdir(lp) == []


def test_root_failing_template_under_map_leaves_nothing(workdir):
    tpl = _conf(workdir, "#!/bin/sh\ntouch \"${3#--rootfs=}/x\"\nexit 3\n", "lxc-fail")
    os.chmod(tpl, 0o755)
    lp = os.path.join(workdir, "lp")
    os.mkdir(lp)
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", _conf(workdir, MAP), "-t", tpl)
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0
    assert "failed (exit status 3)" in res.stderr
    assert os.listdir(lp) == []


@pytest.mark.parametrize("maps, why", [
    ("lxc.idmap = u 1 100000 65536\nlxc.idmap = g 0 100000 65536\n",
     "no uid map for root"),
    ("lxc.idmap = u 0 100000 65536\n", "no gid map for root"),
    (MAP + "lxc.idmap = u 70000 150000 10\n", "overlapping uid maps"),
    (MAP + "lxc.idmap = g 65536 100000 1\n", "host ids overlap"),
])
def test_root_bad_maps_leave_nothing(workdir, maps, why):
    lp = os.path.join(workdir, "lp")
    os.mkdir(lp)
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", _conf(workdir, maps),
               "-t", "busybox")
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert res.stderr.startswith("lxc-create: c1: ") and why in res.stderr
    assert os.listdir(lp) == []


def test_run_in_userns_as_root(workdir):
    from lxcz.errors import LxczError
    from lxcz.security import userns_exec

    target = os.path.join(workdir, "made")

    def make(path):
        with open(path, "w") as f:
            f.write(open("/proc/self/uid_map").read())
        os.chown(path, 5, 6)
        return 7

    assert userns_exec.run_in_userns(["b 0 100000 65536"], make, target) == 7
    st = os.stat(target)
    assert (st.st_uid, st.st_gid) == (100005, 100006)
    assert open(target).read().split() == ["0", "100000", "65536"]

    def fail():
        os.chown("/", 0, 0)  # host root is not mapped: EPERM

    with pytest.raises(LxczError, match="^/: Operation not permitted$"):
        userns_exec.run_in_userns(["b 0 100000 65536"], fail)
    with pytest.raises(LxczError, match="no gid map for root"):
        userns_exec.run_in_userns(["u 0 100000 10"], fail)

    d = os.path.join(workdir, "tree")
    os.makedirs(os.path.join(d, "a"))
    userns_exec.chown_mapped_root(d, ["b 0 100000 65536"])
    st = os.stat(d)
    assert (st.st_uid, st.st_gid) == (100000, 100000)
    userns_exec.remove_tree_mapped(d, ["b 0 100000 65536"])
    assert not os.path.exists(d)


# -- as an unprivileged user ------------------------------------------------------------

def test_unprivileged_create_and_destroy(unpriv_user, workdir):
    _needs_busybox()
    name = unpriv_user.name
    lp = os.path.join(workdir, "lp")
    home = unpriv_user.home

    # no range in /etc/subuid: one line naming the user and the file, nothing made
    maps = "lxc.idmap = u 0 {b} 65536\nlxc.idmap = g 0 {b} 65536\n"
    conf = _conf(workdir, maps.format(b=_free_base()), "nosub.conf")
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", conf, "-t", "busybox",
               user=name, home=home)
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert f"user {name} has no range in /etc/subuid" in res.stderr
    assert not os.path.exists(os.path.join(lp, "c1"))
    # no idmap at all: refused with the same cause
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-t", "busybox", user=name, home=home)
    assert res.returncode != 0 and f"user {name} has no range in /etc/subuid" in res.stderr
    assert not os.path.exists(os.path.join(lp, "c1"))

    unpriv_user.add_ranges()
    base = unpriv_user.base
    # a map outside the user's range
    conf = _conf(workdir, maps.format(b=base + 65536), "outside.conf")
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", conf, "-t", "busybox",
               user=name, home=home)
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert "is outside the ranges /etc/subuid grants user " + name in res.stderr
    assert not os.path.exists(os.path.join(lp, "c1"))
    # overlapping maps
    conf = _conf(workdir, maps.format(b=base) + f"lxc.idmap = u 10 {base + 5} 1\n",
                 "overlap.conf")
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", conf, "-t", "busybox",
               user=name, home=home)
    assert res.returncode != 0 and "overlapping uid maps" in res.stderr
    assert not os.path.exists(os.path.join(lp, "c1"))
    # no idmap: the error suggests the user's own ranges
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-t", "busybox", user=name, home=home)
    assert res.returncode != 0
    assert f'"lxc.idmap = u 0 {base} 65536"' in res.stderr
    assert os.path.join(home, ".config/lxc/default.conf") in res.stderr

    conf = _conf(workdir, maps.format(b=base), "good.conf")
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", conf, "-t", "busybox",
               user=name, home=home)
    assert res.returncode == 0, res.stderr
    cdir = os.path.join(lp, "c1")
    st = os.stat(cdir)
    # container root owns it; the caller keeps it through its group
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (base, unpriv_user.gid, 0o770)
    st = os.stat(os.path.join(cdir, "config"))
    assert (st.st_uid, st.st_gid) == (unpriv_user.uid, unpriv_user.gid)
    owners = _owners(os.path.join(cdir, "rootfs"))
    assert owners["."][:2] == (base, base)
    assert owners["bin/busybox"][:2] == (base, base)
    assert len(owners) > 50
    _all_in(owners, base)

    res = lxcz("lxc-ls", "-P", lp, user=name, home=home)
    assert res.returncode == 0 and res.stdout.split() == ["c1"], res.stderr
    # a create killed half-way (a partial marker nobody holds): the next create removes
    # it, rootfs owned by the mapped ids included, and makes the container again
    res = subprocess.run(["runuser", "-u", name, "--", "touch",
                          os.path.join(cdir, "partial"), os.path.join(cdir, "rootfs",
                                                                      "root", "stale")],
                         capture_output=True, text=True)
    assert res.returncode != 0  # the caller cannot write into the rootfs itself
    assert os.path.exists(os.path.join(cdir, "partial"))
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", conf, "-t", "busybox",
               user=name, home=home)
    assert res.returncode == 0, res.stderr
    assert "left half-made by an interrupted lxc-create" in res.stderr
    assert not os.path.exists(os.path.join(cdir, "partial"))
    _all_in(_owners(os.path.join(cdir, "rootfs")), base)
    res = lxcz("lxc-destroy", "-P", lp, "-n", "c1", user=name, home=home)
    assert res.returncode == 0, res.stderr
    assert os.listdir(lp) == []


def test_unprivileged_defaults_and_upstream(unpriv_user, workdir):
    """~/.config/lxc/default.conf and ~/.local/share/lxc; same ownership as upstream."""
    _needs_busybox()
    name = unpriv_user.name
    home = unpriv_user.home
    unpriv_user.add_ranges()
    base = unpriv_user.base
    confdir = os.path.join(home, ".config", "lxc")
    os.makedirs(confdir)
    _conf(confdir, f"lxc.idmap = u 0 {base} 65536\nlxc.idmap = g 0 {base} 65536\n",
          "default.conf")
    for p in (os.path.join(home, ".config"), confdir,
              os.path.join(confdir, "default.conf")):
        os.chown(p, unpriv_user.uid, unpriv_user.gid)
    res = lxcz("lxc-create", "-n", "d1", "-t", "busybox", user=name, home=home)
    assert res.returncode == 0, res.stderr
    lp = os.path.join(home, ".local", "share", "lxc")
    assert os.listdir(lp) == ["d1"]
    _all_in(_owners(os.path.join(lp, "d1", "rootfs")), base)
    res = lxcz("lxc-ls", user=name, home=home)
    assert res.stdout.split() == ["d1"], res.stderr

    upstream = "/usr/bin/lxc-create"
    if os.access(upstream, os.X_OK) and \
            os.path.exists("/usr/share/lxc/templates/lxc-busybox"):
        up = os.path.join(workdir, "up")
        res = subprocess.run(["runuser", "-u", name, "--", "env", f"HOME={home}",
                              upstream, "-P", up, "-n", "d1", "-t", "busybox"],
                             capture_output=True, text=True, timeout=120, cwd="/")
        assert res.returncode == 0, res.stderr
        a = _owners(os.path.join(up, "d1", "rootfs"))
        b = _owners(os.path.join(lp, "d1", "rootfs"))
        assert set(a) <= set(b)
        assert {p: a[p][:2] for p in a} == {p: b[p][:2] for p in a}
        sa, sb = os.stat(os.path.join(up, "d1")), os.stat(os.path.join(lp, "d1"))
        assert (sa.st_uid, sa.st_gid, sa.st_mode) == (sb.st_uid, sb.st_gid, sb.st_mode)
        # ours destroys upstream's unprivileged container too
        res = lxcz("lxc-destroy", "-P", up, "-n", "d1", user=name, home=home)
        assert res.returncode == 0, res.stderr
        assert os.listdir(up) == []

    res = lxcz("lxc-destroy", "-n", "d1", user=name, home=home)
    assert res.returncode == 0, res.stderr
    assert os.listdir(lp) == []


def test_unprivileged_external_template(unpriv_user, workdir):
    name = unpriv_user.name
    unpriv_user.add_ranges()
    base = unpriv_user.base
    tpl = _conf(workdir, TEMPLATE, "lxc-tiny")
    os.chmod(tpl, 0o755)
    lp = os.path.join(workdir, "lp")
    conf = _conf(workdir, f"lxc.idmap = u 0 {base} 65536\nlxc.idmap = g 0 {base} 65536\n")
    res = lxcz("lxc-create", "-P", lp, "-n", "c1", "-f", conf, "-t", tpl, user=name,
               home=unpriv_user.home)
    assert res.returncode == 0, res.stderr
    rootfs = os.path.join(lp, "c1", "rootfs")
    argv = open(os.path.join(rootfs, "argv")).read().split()
    assert argv[-4:] == ["--mapped-uid", "65536", "--mapped-gid", "65536"]
    st = os.lstat(os.path.join(rootfs, "user1000"))
    assert (st.st_uid, st.st_gid) == (base + 1000, base + 1000)
    st = os.lstat(os.path.join(rootfs, "mine"))
    assert (st.st_uid, st.st_gid) == (base, base)
    res = lxcz("lxc-destroy", "-P", lp, "-n", "c1", user=name, home=unpriv_user.home)
    assert res.returncode == 0, res.stderr
    assert os.listdir(lp) == []
    # a template that fails after writing as container root: all of it is removed
    bad = _conf(workdir, "#!/bin/sh\nmkdir \"${3#--rootfs=}/d\"\n"
                "touch \"${3#--rootfs=}/d/f\"\nexit 4\n", "lxc-fail")
    os.chmod(bad, 0o755)
    res = lxcz("lxc-create", "-P", lp, "-n", "c2", "-f", conf, "-t", bad, user=name,
               home=unpriv_user.home)
    assert res.returncode != 0 and "failed (exit status 4)" in res.stderr
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert os.listdir(lp) == []

"""On-disk compatibility with upstream LXC 5: snapshot clones and copies made by lxcz start
under upstream's lxc-start, and upstream's clones start under lxcz."""

from __future__ import annotations

import pytest
from runtime_fixtures import UPSTREAM_MARKS, lxcz, up, up_lxcpath

pytestmark = UPSTREAM_MARKS


@pytest.fixture
def lxcpath(tmp_path):
    path, empty = up_lxcpath(tmp_path)
    names = []
    yield path, empty, names
    for n in names:
        up("lxc-stop", "-P", path, "-n", n, "-k")
        lxcz("lxc-stop", "-P", path, "-n", n, "-k")


def check_runs(starter, stopper, path: str, name: str) -> None:
    r = starter("lxc-start", "-P", path, "-n", name)
    assert r.returncode == 0, r.stderr
    r = starter("lxc-attach", "-P", path, "-n", name, "--", "/bin/busybox", "hostname")
    assert r.returncode == 0 and r.stdout.strip() == name, r.stderr
    assert stopper("lxc-stop", "-P", path, "-n", name, "-k").returncode == 0


@pytest.mark.parametrize("copy_args", [["-s"], []])
def test_lxcz_clones_start_under_upstream(lxcpath, copy_args):
    path, empty, names = lxcpath
    r = up("lxc-create", "-P", path, "-n", "ubase", "-t", "busybox", "-f", empty)
    assert r.returncode == 0, r.stderr
    names.append("zclone")
    r = lxcz("lxc-copy", "-P", path, "-n", "ubase", "-N", "zclone", *copy_args)
    assert r.returncode == 0, r.stderr
    check_runs(up, up, path, "zclone")
    assert up("lxc-destroy", "-P", path, "-n", "zclone").returncode == 0
    assert up("lxc-destroy", "-P", path, "-n", "ubase").returncode == 0


@pytest.mark.parametrize("copy_args", [["-s"], []])
def test_upstream_clones_start_under_lxcz(lxcpath, copy_args):
    path, empty, names = lxcpath
    r = lxcz("lxc-create", "-P", path, "-n", "zbase", "-t", "busybox", "-f", empty)
    assert r.returncode == 0, r.stderr
    names.append("uclone")
    r = up("lxc-copy", "-P", path, "-n", "zbase", "-N", "uclone", *copy_args)
    assert r.returncode == 0, r.stderr
    check_runs(lxcz, lxcz, path, "uclone")
    # lxcz sees upstream's dependency record and protects the base
    if copy_args:
        r = lxcz("lxc-destroy", "-P", path, "-n", "zbase")
        assert r.returncode != 0 and "uclone" in r.stderr
    assert lxcz("lxc-destroy", "-P", path, "-n", "uclone").returncode == 0
    assert lxcz("lxc-destroy", "-P", path, "-n", "zbase").returncode == 0

"""lxcz.cgroups.freezer: the freezer state from v1 and v2 files, and the lazy cgroup a
re-executed lean monitor holds."""

import sys

import pytest

from lxcz.cgroups import freezer
from lxcz.errors import LxczError


def test_read_state_v1_v2_and_none(tmp_path):
    v1 = tmp_path / "freezer.state"
    v1.write_text("FROZEN\n")
    assert freezer.read_state("c", ("v1", str(v1))) == "FROZEN"
    v2 = tmp_path / "cgroup.freeze"
    events = tmp_path / "cgroup.events"
    v2.write_text("0\n")
    events.write_text("populated 1\nfrozen 0\n")
    assert freezer.read_state("c", ("v2", str(v2))) == "THAWED"
    v2.write_text("1\n")
    assert freezer.read_state("c", ("v2", str(v2))) == "FREEZING"
    events.write_text("populated 1\nfrozen 1\n")
    assert freezer.read_state("c", ("v2", str(v2))) == "FROZEN"
    assert freezer.read_state("c", None) == "THAWED"


def test_lazy_cgroup_answers_without_the_manager(tmp_path):
    (tmp_path / "freezer.state").write_text("THAWED\n")
    before = "lxcz.cgroups.manager" in sys.modules
    c = freezer.LazyCgroup(False, "c1", "payload", "lxc.payload.c1",
                           {"freezer": str(tmp_path)}, ["v1", str(tmp_path / "freezer.state")])
    assert (c.state(), c.cgname, c.paths) == ("THAWED", "lxc.payload.c1",
                                              {"freezer": str(tmp_path)})
    assert ("lxcz.cgroups.manager" in sys.modules) == before
    missing = freezer.LazyCgroup(False, "c1", "payload", "lxc.payload.c1", {},
                                 ["v1", str(tmp_path / "gone" / "freezer.state")])
    with pytest.raises(LxczError, match="cannot read the freezer state of lxc.payload.c1"):
        missing.state()


def test_lazy_cgroup_builds_the_full_one_for_anything_else(monkeypatch):
    built = []

    class Full:
        def __init__(self, mgr, name, kind, cgname):
            built.append((mgr, name, kind, cgname))

        def destroy(self):
            return "destroyed"

    import lxcz.cgroups
    import lxcz.cgroups.manager

    monkeypatch.setattr(lxcz.cgroups.manager, "ContainerCgroup", Full)
    monkeypatch.setattr(lxcz.cgroups, "get_manager", lambda relative=False: ("mgr", relative))
    c = freezer.LazyCgroup(True, "c1", "payload", "lxc.payload.c1", {"x": "/p"}, None)
    assert c.destroy() == "destroyed" and c.destroy() == "destroyed"
    assert built == [(("mgr", True), "c1", "payload", "lxc.payload.c1")]
    assert c.full().paths == {"x": "/p"}

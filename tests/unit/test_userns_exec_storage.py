"""lxcz.security.userns_exec and the id-map checks of lxc-create/lxc-destroy, without
root or kernel state (the forks into user namespaces are in
tests/integration/test_userns_storage_create.py)."""

from __future__ import annotations

import os

import pytest

from lxcz.container import Container
from lxcz.errors import LxczError
from lxcz.security import idmap, userns_exec
from lxcz.security.idmap import IdMap
from lxcz.storage import api, templates
from lxcz.storage.templates import busybox

MAPS = ["u 0 100000 65536", "g 0 100000 65536"]


def test_first_free_nsid():
    maps = idmap.parse(MAPS + ["u 65536 300000 10", "g 5 0 1"][:1])
    assert userns_exec.first_free_nsid(maps, "u") == 65546
    assert userns_exec.first_free_nsid(maps, "g") == 65536
    assert userns_exec.first_free_nsid([], "u") == 0
    # entries out of order still skip each other
    maps = idmap.parse(["u 10 500 5", "u 0 600 10"])
    assert userns_exec.first_free_nsid(maps, "u") == 15


def test_add_caller_maps_the_caller_where_unmapped():
    full, nsuid, nsgid = userns_exec.add_caller(MAPS, uid=1000, gid=1001)
    assert (nsuid, nsgid) == (65536, 65536)
    assert full[-2:] == [IdMap("u", 65536, 1000, 1), IdMap("g", 65536, 1001, 1)]
    # a caller inside the map: nothing added, its namespace ids returned
    full, nsuid, nsgid = userns_exec.add_caller(MAPS, uid=100005, gid=100007)
    assert full == idmap.parse(MAPS) and (nsuid, nsgid) == (5, 7)
    # tuples as the config model returns them work too
    full, nsuid, _ = userns_exec.add_caller([("u", 0, 100000, 10), ("g", 0, 100000, 10)],
                                            uid=0, gid=0)
    assert nsuid == 10 and IdMap("u", 10, 0, 1) in full


def test_maps_are_checked():
    with pytest.raises(LxczError, match="overlapping uid maps"):
        userns_exec.add_caller(MAPS + ["u 5 200000 1"])
    with pytest.raises(LxczError, match="invalid id map"):
        userns_exec.add_caller(["u 0 x 1"])


def test_run_in_userns_refuses_unmapped_root_before_forking(monkeypatch):
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    with pytest.raises(LxczError, match="no uid map for root"):
        userns_exec.run_in_userns(["u 1 100000 5", "g 0 100000 5"], print)
    with pytest.raises(LxczError, match="no gid map for root"):
        userns_exec.run_in_userns(["u 0 100000 5"], print)


def test_run_in_userns_checks_subuid_before_forking(monkeypatch):
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    monkeypatch.setattr(idmap, "subid_ranges", lambda *a, **k: [])
    with pytest.raises(LxczError, match=r"has no range in /etc/subuid"):
        userns_exec.run_in_userns(MAPS, print)


def test_chown_mapped_root_noop_when_caller_is_container_root(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 100000)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    userns_exec.chown_mapped_root(str(tmp_path), MAPS)
    with pytest.raises(LxczError, match="no uid map for root"):
        userns_exec.chown_mapped_root(str(tmp_path), ["u 1 100000 5", "g 0 100000 5"])


def test_remove_tree_mapped_without_maps_is_plain(tmp_path):
    d = tmp_path / "t"
    (d / "a" / "b").mkdir(parents=True)
    (d / "a" / "f").write_text("x")
    os.symlink("/etc/passwd", d / "link")
    userns_exec.remove_tree_mapped(str(d), [])
    assert not d.exists() and os.path.exists("/etc/passwd")


def test_busybox_mapped_arguments():
    assert busybox.parse_args([]) == (None, False)
    assert busybox.parse_args(["--mapped-uid", "65536", "--mapped-gid=65536"]) == \
        (None, True)
    assert busybox.parse_args(["--mapped-uid", "-1", "--busybox-path", "/x"]) == \
        ("/x", False)
    with pytest.raises(LxczError, match="--mapped-uid needs a number"):
        busybox.parse_args(["--mapped-uid", "root"])
    with pytest.raises(templates.TemplateHelp):
        templates.check_args("busybox", ["-h"])
    with pytest.raises(LxczError, match="unknown argument"):
        templates.check_args("busybox", ["--bogus"])
    templates.check_args("/some/external/lxc-x", ["--anything"])


def _conf(tmp_path, text):
    p = tmp_path / "c.conf"
    p.write_text(text)
    return str(p)


def test_create_refuses_unmapped_root_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    lxcpath = tmp_path / "lxc"
    lxcpath.mkdir()
    for text, why in (("lxc.idmap = u 1 100000 5\nlxc.idmap = g 0 100000 5\n",
                       "no uid map for root"),
                      ("lxc.idmap = u 0 100000 5\nlxc.idmap = g 0 100000 5\n"
                       "lxc.idmap = g 3 100002 1\n", "overlapping gid maps")):
        with pytest.raises(LxczError, match=why):
            Container("c", str(lxcpath)).create("busybox", configfile=_conf(tmp_path, text))
        assert os.listdir(lxcpath) == []


def test_create_unprivileged_without_subuid_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    monkeypatch.setattr(idmap, "_user_name", lambda uid: "someone")
    monkeypatch.setattr(idmap, "subid_ranges", lambda *a, **k: [])
    lxcpath = tmp_path / "lxc"  # not made yet: must not be made either
    conf = _conf(tmp_path, "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n")
    with pytest.raises(LxczError) as err:
        Container("c", str(lxcpath)).create("busybox", configfile=conf)
    assert str(err.value) == ('user someone has no range in /etc/subuid (needed for id '
                              'map "u 0 100000 65536")')
    assert not lxcpath.exists()
    # the same for -t none: the container directory would be chowned
    with pytest.raises(LxczError, match="no range in /etc/subuid"):
        Container("c", str(lxcpath)).create(None, configfile=conf)
    assert not lxcpath.exists()


def test_create_unprivileged_without_idmap(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    monkeypatch.setattr(idmap, "default_maps",
                        lambda: [IdMap("u", 0, 200000, 65536), IdMap("g", 0, 200000, 65536)])
    lxcpath = tmp_path / "lxc"
    conf = _conf(tmp_path, "lxc.uts.name = x\n")
    with pytest.raises(LxczError) as err:
        Container("c", str(lxcpath)).create("busybox", configfile=conf)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("no lxc.idmap in the configuration")
    assert '"lxc.idmap = u 0 200000 65536", "lxc.idmap = g 0 200000 65536"' in msg
    assert not lxcpath.exists()

    def none():
        raise LxczError("user someone has no range in /etc/subuid")

    monkeypatch.setattr(idmap, "default_maps", none)
    with pytest.raises(LxczError, match="^user someone has no range in /etc/subuid: "):
        Container("c", str(lxcpath)).create("busybox", configfile=conf)
    # without a template nothing needs mapping: a config-only container is fine
    assert Container("c", str(lxcpath)).create(None, configfile=conf)
    assert api.destroy(Container("c", str(lxcpath)))


def test_config_maps_from_memory_and_file(tmp_path):
    c = Container("c", str(tmp_path))
    c.set_config_item("lxc.idmap", "u 0 100000 65536")
    c.set_config_item("lxc.idmap", "g 0 100000 65536")
    assert api._config_maps(c.config) == idmap.parse(MAPS)
    from lxcz.config import ContainerConfig

    inc = tmp_path / "inc.conf"
    inc.write_text("lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n")
    top = tmp_path / "top.conf"
    top.write_text(f"lxc.include = {inc}\n")
    assert api._config_maps(ContainerConfig.load(str(top))) == idmap.parse(MAPS)

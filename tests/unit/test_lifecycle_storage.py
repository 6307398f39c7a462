"""lxc-create / lxc-destroy building blocks, without root: hwaddr filling, initial config
lines, template lookup, the dir store's safe tree removal, and -t none / bad input."""

from __future__ import annotations

import os
import random
import re

import pytest

from lxcz.container import Container
from lxcz.errors import LxczError, NotImplementedYet
from lxcz.storage import api, dirstore, templates


def test_fill_hwaddr_keeps_unicast_and_fixed_digits():
    rng = random.Random(1)
    for _ in range(200):
        mac = api.fill_hwaddr("xx:16:3e:xx:XX:xx", rng)
        assert re.fullmatch(r"[0-9a-f]{2}:16:3e(:[0-9a-f]{2}){3}", mac)
        assert int(mac[1], 16) % 2 == 0  # never a multicast address
    assert api.fill_hwaddr("00:16:3e:12:34:56") == "00:16:3e:12:34:56"


def test_initial_config_lines_verbatim_blank_dropped_hwaddr_filled():
    text = ("# comment\nlxc.net.0.type=veth\n\n  lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx  \n"
            "lxc.network.hwaddr = xx:xx:xx:xx:xx:xx\nlxc.uts.name = a\n")
    lines = api.initial_config_lines(text, random.Random(2))
    assert lines[0] == "# comment" and lines[1] == "lxc.net.0.type=veth"
    assert "" not in lines
    assert re.fullmatch(r"  lxc\.net\.0\.hwaddr = 00:16:3e(:[0-9a-f]{2}){3}  ", lines[2])
    assert "x" not in lines[3].split("=")[1]
    assert lines[4] == "lxc.uts.name = a"


def test_raw_rootfs_last_value_wins():
    assert api._raw_rootfs(["lxc.rootfs.path = dir:/a", "lxc.rootfs = /b"]) == "/b"
    assert api._raw_rootfs(["lxc.uts.name = x"]) is None


def test_template_lookup(tmp_path, monkeypatch):
    assert templates.find("busybox") == "busybox"
    monkeypatch.setenv("LXCZ_TEMPLATE_DIR", str(tmp_path))
    with pytest.raises(LxczError, match='template "nosuch" not found'):
        templates.find("nosuch")
    script = tmp_path / "lxc-mine"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    assert templates.find("mine") == str(script)
    assert templates.find(str(script)) == str(script)
    script.chmod(0o644)
    with pytest.raises(LxczError, match="not found"):
        templates.find("mine")


@pytest.mark.parametrize("spec,path", [
    ("dir:/x/rootfs", "/x/rootfs"), ("/x/rootfs", "/x/rootfs"), ("", None),
    ("overlay:/a:/b", None), ("loop:/x/rootdev", None), ("/dev/vg/lv", None),
])
def test_rootfs_dir(spec, path):
    assert dirstore.rootfs_dir(spec) == path


def test_remove_tree_never_follows_symlinks(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    os.symlink(str(outside), str(tree / "a" / "link-dir"))
    os.symlink(str(outside / "precious"), str(tree / "link-file"))
    dirstore.remove_tree(str(tree))
    assert not tree.exists()
    assert (outside / "precious").read_text() == "keep me"
    dirstore.remove_tree(str(tree))  # a missing tree is fine


def test_create_none_and_destroy_without_root(tmp_path):
    lxcpath = str(tmp_path / "lxc")
    conf = tmp_path / "init.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n")
    c = Container("c1", lxcpath)
    assert c.create(None, configfile=str(conf))
    text = (tmp_path / "lxc" / "c1" / "config").read_text()
    assert "lxc.net.0.type = empty" in text and "xx" not in text
    assert "Template used" not in text  # -t none writes no header, like LXC
    assert not (tmp_path / "lxc" / "c1" / "rootfs").exists()
    assert not (tmp_path / "lxc" / "c1" / "partial").exists()
    assert oct(os.stat(tmp_path / "lxc" / "c1").st_mode & 0o777) == "0o770"
    with pytest.raises(LxczError, match="already exists"):
        Container("c1", lxcpath).create(None, configfile=str(conf))
    assert api.destroy(Container("c1", lxcpath))
    assert os.listdir(lxcpath) == []
    with pytest.raises(LxczError, match="not defined"):
        api.destroy(Container("c1", lxcpath))


def test_create_bad_input_leaves_nothing(tmp_path):
    lxcpath = str(tmp_path / "lxc")
    os.makedirs(lxcpath)
    with pytest.raises(LxczError, match="not a valid backing storage type"):
        Container("c", lxcpath).create("busybox", bdevtype="bogus")
    with pytest.raises(NotImplementedYet):
        Container("c", lxcpath).create("busybox", bdevtype="rbd")
    with pytest.raises(LxczError):  # no such volume group (or no lvm2 at all)
        Container("c", lxcpath).create("busybox", bdevtype="lvm", vgname="lxcz-no-vg")
    with pytest.raises(LxczError, match="not found"):
        Container("c", lxcpath).create(None, configfile=str(tmp_path / "missing.conf"))
    with pytest.raises(LxczError, match="absolute"):
        Container("c", lxcpath).create("busybox", dir="relative/dir")
    bad = tmp_path / "bad.conf"
    bad.write_text("lxc.bogus.key = 1\n")
    with pytest.raises(LxczError):
        Container("c", lxcpath).create(None, configfile=str(bad))
    missing_rootfs = tmp_path / "mr.conf"
    missing_rootfs.write_text(f"lxc.rootfs.path = dir:{tmp_path}/nowhere\n")
    with pytest.raises(LxczError, match="does not exist"):
        Container("c", lxcpath).create("busybox", configfile=str(missing_rootfs))
    assert os.listdir(lxcpath) == []


@pytest.mark.parametrize("name", ["", "a/b", "..", ".", "x" * 65])
def test_invalid_names(name):
    with pytest.raises(LxczError, match="invalid container name"):
        Container(name, "/nonexistent")


def test_destroy_refuses_symlinked_container_dir(tmp_path):
    lxcpath = tmp_path / "lxc"
    lxcpath.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config").write_text("lxc.uts.name = x\n")
    os.symlink(str(elsewhere), str(lxcpath / "evil"))
    with pytest.raises(LxczError, match="refusing to destroy"):
        api.destroy(Container("evil", str(lxcpath)))
    assert (elsewhere / "config").exists()


def test_destroy_leaves_rootfs_outside_the_container_dir(tmp_path):
    lxcpath = tmp_path / "lxc"
    (lxcpath / "c").mkdir(parents=True)
    outside = tmp_path / "outside-rootfs"
    (outside / "etc").mkdir(parents=True)
    (lxcpath / "c" / "config").write_text(f"lxc.rootfs.path = dir:{outside}\n")
    assert api.destroy(Container("c", str(lxcpath)))
    assert not (lxcpath / "c").exists()
    assert (outside / "etc").is_dir()


def test_not_implemented_lifecycle_parts(tmp_path):
    c = Container("c", str(tmp_path))
    for call in (lambda: c.clone("d"), lambda: c.rename("d"), lambda: c.snapshot()):
        with pytest.raises(LxczError):
            call()


def test_create_uses_config_set_in_memory(tmp_path):
    c = Container("m", str(tmp_path))
    c.set_config_item("lxc.uts.name", "fromapi")
    c.set_config_item("lxc.net.0.type", "empty")
    assert c.create(None)
    text = (tmp_path / "m" / "config").read_text()
    assert "lxc.uts.name = fromapi" in text and "lxc.net.0.type = empty" in text
    assert Container("m", str(tmp_path)).get_config_item("lxc.uts.name") == "fromapi"


def test_stale_partial_create_is_cleaned_up(tmp_path):
    lxcpath = tmp_path / "lxc"
    (lxcpath / "half" / "rootfs" / "etc").mkdir(parents=True)
    (lxcpath / "half" / "config").write_text("lxc.uts.name = half\n")
    (lxcpath / "half" / "partial").write_text("")
    c = Container("half", str(lxcpath))
    assert c.create(None)
    assert sorted(os.listdir(lxcpath / "half")) == ["config"]

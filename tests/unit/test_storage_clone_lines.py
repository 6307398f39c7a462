"""The regex-free line matching of lxcz.storage.clone and snapshot, against the regexes
they replaced (kept here as the reference), plus rewrite_config on examples."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from lxcz.storage import clone as cl
from lxcz.storage import snapshot as sn

LINE = re.compile(r"^(\s*)(lxc\.[A-Za-z0-9_.\-]+)(\s*=\s*)(.*?)(\s*)$")
HWADDR = re.compile(r"lxc\.net(work)?(\.\d+)?\.hwaddr$")
SNAP = re.compile(r"^snap(\d+)$")

# lines built from the pieces that matter, plus any text
pieces = st.sampled_from(["lxc.", "lxc.net.0.hwaddr", "lxc.rootfs.path", " ", "\t", "=",
                          " = ", "\x0c", "\xa0", "/var/lib/lxc/c1", ":", "a", "0", "-",
                          "\r", "#", '"', "é", "\u2003"])
lines = st.one_of(st.lists(pieces, max_size=8).map("".join), st.text(max_size=30))


@settings(max_examples=400, deadline=None)
@given(lines)
def test_split_line_is_the_regex(line):
    m = LINE.match(line)
    got = cl.split_line(line)
    if "\n" in line:
        return  # never called with a line break inside
    assert got == (m.groups()[:4] if m else None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["lxc.", "net", "network", ".", "0", "12", "hwaddr", "x",
                                 "\u0663"]), max_size=6).map("".join))
def test_hwaddr_key_is_the_regex(key):
    assert cl._is_hwaddr_key(key) == bool(HWADDR.match(key))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["/a/b", "/a/bc", "/", ":", " ", "\t", "x", "/a/b/", "\xa0"]),
                max_size=7).map("".join), st.booleans())
def test_replace_dir_is_the_regex(value, blanks):
    tail = r"(?=/|$|\s|:)" if blanks else r"(?=/|$|:)"
    want = re.sub(re.escape("/a/b") + tail, "/N", value)
    if value.endswith("\n"):
        return
    assert cl.replace_dir(value, "/a/b", "/N", before_blank=blanks) == want


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["snap", "0", "17", "\u0663", "\n", "x", "s"]),
                max_size=5).map("".join))
def test_snap_number_is_the_regex(name):
    m = SNAP.match(name)
    assert sn.snap_number(name) == (int(m.group(1)) if m else None)


def test_rewrite_config_keeps_comments_and_rewrites_only_what_changes():
    text = ("# c1\n"
            "lxc.rootfs.path = dir:/l/c1/rootfs\n"
            "lxc.uts.name = \"c1\"\n"
            "  lxc.net.0.hwaddr = 00:16:3e:aa:bb:cc   \n"
            "lxc.mount.fstab = /l/c1/fstab\n"
            "lxc.mount.entry = /l/c10 x none bind 0 0\n"
            "lxc.log.file=/l/c1\n")
    out = cl.rewrite_config(text, "/l/c1", "/l/c2", "c2", "dir:/l/c2/rootfs")
    lines = out.splitlines()
    assert lines[0] == "# c1"
    assert lines[1] == "lxc.rootfs.path = dir:/l/c2/rootfs"
    assert lines[2] == "lxc.uts.name = c2"
    assert re.fullmatch(r"  lxc\.net\.0\.hwaddr = 00:16:3e:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}",
                        lines[3])
    assert lines[4] == "lxc.mount.fstab = /l/c2/fstab"
    assert lines[5] == "lxc.mount.entry = /l/c10 x none bind 0 0"
    assert lines[6] == "lxc.log.file=/l/c2"
    kept = cl.rewrite_config(text, "/l/c1", "/l/c2", "c2", "dir:/l/c2/rootfs",
                             keepname=True, keepmac=True)
    assert '"c1"' in kept and "00:16:3e:aa:bb:cc   \n" in kept


def test_rewrite_config_adds_missing_rootfs_and_name():
    out = cl.rewrite_config("lxc.rootfs = /old\n# x", "/l/a", "/l/b", "b", "dir:/l/b/rootfs")
    assert out == "lxc.rootfs.path = dir:/l/b/rootfs\n# x\nlxc.uts.name = b\n"
    assert cl.rootfs_value("lxc.rootfs.path = a\n lxc.rootfs.path =  b  \n") == "b"


def test_new_mac_keeps_the_oui_and_stays_unicast():
    for _ in range(50):
        mac = cl.new_mac("01:16:3e:12:34:56")
        assert re.fullmatch(r"00:16:3e(:[0-9a-f]{2}){3}", mac)
    assert cl.new_mac("garbage").startswith("00:16:3e:")


def test_clone_hook_scan():
    assert not cl._may_set_hooks("#lxc.include = /x\nlxc.uts.name = a\n# lxc.hook.clone = x\n")
    assert cl._may_set_hooks(" \tlxc.hook.clone = /bin/true\n")
    assert cl._may_set_hooks("lxc.include = /usr/share/lxc/config/common.conf\n")

"""lxcz.security.idmap: parsing and checking id maps, subuid/subgid ranges (no root)."""

from __future__ import annotations

import pytest

from lxcz.errors import LxczError
from lxcz.security import idmap
from lxcz.security.idmap import IdMap


def test_parse_forms():
    maps = idmap.parse(["u 0 100000 65536", "g:0:100000:65536", ("u", 65536, 1000, 1)])
    assert maps == [IdMap("u", 0, 100000, 65536), IdMap("g", 0, 100000, 65536),
                    IdMap("u", 65536, 1000, 1)]


def test_both_expands_to_uid_and_gid():
    assert idmap.parse(["b:0:100000:10"]) == [IdMap("u", 0, 100000, 10),
                                              IdMap("g", 0, 100000, 10)]


@pytest.mark.parametrize("maps,cause", [
    (["u 0 100000 65536", "u 1000 300000 10"], "namespace ids overlap"),
    (["u 0 100000 65536", "u 70000 100005 10"], "host ids overlap"),
    (["b:0:100000:10", "g:5:200000:1"], "overlapping gid maps"),
    (["u 0 4294967290 10"], "too large"),
    (["u 4294967000 0 1000"], "too large"),
    (["u 0 4294967295 1"], "too large"),
    (["u 0 100000 0"], "count must not be 0"),
    (["x 0 1 1"], "type must be u, g or b"),
    (["u 0 1"], "expected"),
    (["u 0 -1 5"], "is not a number"),
    (["u zero 1 5"], "is not a number"),
])
def test_bad_maps(maps, cause):
    with pytest.raises(LxczError) as e:
        idmap.parse(maps)
    assert cause in str(e.value)
    assert "\n" not in str(e.value)


def test_largest_map_that_fits():
    # first + count may reach 2^32 - 1 but not wrap
    assert idmap.parse(["u 0 0 4294967295"])[0].count == 4294967295


def test_too_many_extents():
    many = [f"u {i} {1000 + i} 1" for i in range(idmap.MAX_EXTENTS + 1)]
    with pytest.raises(LxczError, match="too many uid maps"):
        idmap.parse(many)
    idmap.parse(many[:-1])


def test_adjacent_maps_do_not_overlap():
    idmap.parse(["u 0 100000 10", "u 10 100010 10"])


def test_root_ids_and_host_id():
    maps = idmap.parse(["u 0 100000 65536", "g 0 200000 65536"])
    assert idmap.root_ids(maps) == (100000, 200000)
    assert idmap.host_id(maps, "u", 1000) == 101000
    assert idmap.host_id(maps, "u", 65536) is None
    with pytest.raises(LxczError, match="no gid map for root"):
        idmap.root_ids(idmap.parse(["u 0 100000 1"]))


@pytest.fixture
def subfiles(tmp_path):
    su = tmp_path / "subuid"
    sg = tmp_path / "subgid"
    su.write_text("alice:100000:65536\nbob:300000:65536\n1500:500000:10\nalice:900000:5\n")
    sg.write_text("alice:110000:65536\n")
    return str(su), str(sg)


def test_subid_ranges(subfiles):
    su, _ = subfiles
    assert idmap.subid_ranges("alice", su) == [(100000, 65536), (900000, 5)]
    assert idmap.subid_ranges("carol", su, uid=1500) == [(500000, 10)]
    assert idmap.subid_ranges("nobody-here", su) == []
    assert idmap.subid_ranges("alice", su + ".missing") == []


def test_default_maps(subfiles):
    su, sg = subfiles
    assert idmap.default_maps("alice", su, sg) == [IdMap("u", 0, 100000, 65536),
                                                   IdMap("g", 0, 110000, 65536)]
    with pytest.raises(LxczError, match=r"^user bob has no range in .*subgid$"):
        idmap.default_maps("bob", su, sg)


def test_check_allowed(subfiles):
    su, sg = subfiles
    kw = dict(uid=1000, gid=1000, user="alice", subuid=su, subgid=sg)
    idmap.check_allowed(idmap.parse(["u 0 100000 65536", "g 0 110000 65536"]), **kw)
    # own ids, one each, need no range
    idmap.check_allowed(idmap.parse(["u 0 1000 1", "g 0 1000 1"]), **kw)
    with pytest.raises(LxczError, match="outside the ranges"):
        idmap.check_allowed(idmap.parse(["u 0 100000 65537"]), **kw)
    with pytest.raises(LxczError, match=r"user dave has no range in .*subuid"):
        idmap.check_allowed(idmap.parse(["u 0 100000 10"]), uid=1001, gid=1001,
                            user="dave", subuid=su, subgid=sg)
    # root may write any map
    idmap.check_allowed(idmap.parse(["u 0 7 1"]), uid=0, gid=0, user="root",
                        subuid=su, subgid=sg)


def test_file_caps_parse(tmp_path, monkeypatch):
    import os
    import struct

    # VFS_CAP_REVISION_2 | effective, permitted has cap_setuid (7)
    raw = struct.pack("<IIIII", 0x02000001, 1 << 7, 0, 0, 0)
    monkeypatch.setattr(os, "getxattr", lambda p, n: raw, raising=False)
    assert idmap._file_has_cap("/x", 7)
    assert not idmap._file_has_cap("/x", 6)


def test_usernsexec_map_self():
    from lxcz.tools import lxc_usernsexec as t

    maps = t.map_self(idmap.parse(["b:0:100000:5"]))
    # own ids go right after the range that holds 0
    assert maps[-2].kind == "g" and maps[-2].nsid == 5
    assert maps[-1].kind == "u" and maps[-1].nsid == 5 and maps[-1].count == 1
    maps = t.map_self(idmap.parse(["b:1:100000:5"]))
    assert maps[-1].nsid == 0


def test_usernsexec_bad_map_is_one_line(capsys):
    from lxcz.tools import lxc_usernsexec as t

    assert t.main(["-m", "u:0:100000:65536", "-m", "u:5:200000:1", "--", "true"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "overlapping uid maps" in err


def test_usernsexec_help_and_bad_option(capsys):
    from lxcz.tools import lxc_usernsexec as t

    assert t.main(["-h"]) == 0
    assert "[u|g|b]:ns_id:host_id:range" in capsys.readouterr().out
    assert t.main(["-x"]) == 1
    assert "invalid option -- 'x'" in capsys.readouterr().err
    assert t.main(["-m"]) == 1
    assert "requires an argument -- 'm'" in capsys.readouterr().err


def test_helper_must_be_privileged(tmp_path, monkeypatch):
    fake = tmp_path / "newuidmap"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LxczError, match="neither setuid root nor has cap_setuid"):
        idmap._helper("newuidmap", 7)


def test_write_maps_needs_a_process():
    with pytest.raises(LxczError, match="process 999999999 does not exist"):
        idmap.write_maps(999999999, idmap.parse(["u 0 100000 1"]))

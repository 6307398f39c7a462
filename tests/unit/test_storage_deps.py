"""lxc_snapshots / lxc_rdepends in LXC 5's format, and the older count-only format."""

from __future__ import annotations

from lxcz.storage import clone as cl


def test_lxc5_pairs_added_and_dropped(tmp_path):
    base, c1, c2 = tmp_path / "base", tmp_path / "c1", tmp_path / "c2"
    for d in (base, c1, c2):
        d.mkdir()
    cl.add_dependency(str(base), str(tmp_path), "base", "/lxc", "c1", str(c1))
    cl.add_dependency(str(base), str(tmp_path), "base", "/lxc", "c2", str(c2))
    assert (base / "lxc_snapshots").read_text() == "/lxc\nc1\n/lxc\nc2\n"
    assert (c1 / "lxc_rdepends").read_text() == f"{tmp_path}\nbase\n"
    assert cl.read_snapshots(str(base)) == [("/lxc", "c1"), ("/lxc", "c2")]
    cl.drop_dependency(str(c1), "/lxc", "c1")
    assert (base / "lxc_snapshots").read_text() == "/lxc\nc2\n"
    cl.drop_dependency(str(c2), "/lxc", "c2")
    assert not (base / "lxc_snapshots").exists()


def test_old_count_format_keeps_counting(tmp_path):
    base, c1 = tmp_path / "base", tmp_path / "c1"
    base.mkdir()
    c1.mkdir()
    (base / "lxc_snapshots").write_text("2\n")
    assert len(cl.read_snapshots(str(base))) == 2
    cl.add_dependency(str(base), str(tmp_path), "base", "/lxc", "c1", str(c1))
    assert (base / "lxc_snapshots").read_text() == "3\n"
    for _ in range(3):
        cl.drop_dependency(str(c1), "/lxc", "c1")
    assert not (base / "lxc_snapshots").exists()

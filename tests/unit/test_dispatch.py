"""Busybox-style dispatch, the tool table and lxcz's own commands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lxcz.__main__ import main
from lxcz.container import Container, check_name
from lxcz.errors import LxczError
from lxcz.tools import TOOLS, canonical

LXC5_TOOLS = """lxc-attach lxc-autostart lxc-cgroup lxc-checkconfig lxc-checkpoint lxc-config
lxc-console lxc-copy lxc-create lxc-destroy lxc-device lxc-execute lxc-freeze lxc-info
lxc-init lxc-ls lxc-monitor lxc-snapshot lxc-start lxc-stop lxc-top lxc-unfreeze lxc-unshare
lxc-update-config lxc-usernsexec lxc-wait lxc-ps lxc-clone lxc-start-ephemeral""".split()


def test_table_has_every_tool():
    assert sorted(TOOLS) == sorted(LXC5_TOOLS)


def test_canonical_names():
    assert canonical("lxc-start") == "lxc-start"
    assert canonical("start") == "lxc-start"
    assert canonical("start-ephemeral") == "lxc-start-ephemeral"
    assert canonical("nope") is None


def test_list_and_version(capsys):
    assert main(["lxcz", "--list"]) == 0
    assert capsys.readouterr().out.split() == list(TOOLS)
    assert main(["lxcz", "--version"]) == 0
    assert capsys.readouterr().out.startswith("lxcz ")


def test_unknown_tool_exits_2(capsys):
    assert main(["lxcz", "frobnicate"]) == 2
    assert main(["/usr/bin/lxc-frobnicate"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("unknown tool" in e for e in err)


def test_argv0_dispatch_and_forms_agree(capsys, monkeypatch):
    import lxcz.__main__ as m

    seen = []
    monkeypatch.setattr(m, "run_tool", lambda tool, argv, prog=None: seen.append(
        (tool, argv, prog)) or 0)
    m.main(["/usr/local/bin/lxc-info", "-n", "c1"])
    m.main(["lxcz", "lxc-info", "-n", "c1"])
    m.main(["lxcz", "info", "-n", "c1"])
    assert [s[:2] for s in seen] == [("lxc-info", ["-n", "c1"])] * 3
    assert seen[0][2] == "lxc-info"


def test_unbuilt_tool_says_so(capsys, monkeypatch):
    import lxcz.__main__ as m
    import lxcz.tools as t

    monkeypatch.setitem(t.TOOLS, "lxc-top", ("lxc_no_such_tool",) + tuple(t.TOOLS["lxc-top"][1:]))
    assert m.run_tool("lxc-top", []) == 1
    assert capsys.readouterr().err == "lxc-top: not implemented in lxcz yet\n"


def test_python_m_lxcz_runs():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-m", "lxcz", "--list"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    assert "lxc-start" in out.split()


@pytest.mark.parametrize("bad", ["", "a/b", "..", ".", "x" * 65, "a b", "a\0b"])
def test_bad_names_refused(bad):
    with pytest.raises(LxczError, match="invalid container name"):
        check_name(bad)
    with pytest.raises(LxczError):
        Container(bad, "/tmp")


def test_container_paths(tmp_path):
    c = Container("c1", str(tmp_path))
    assert c.config_file_name == str(tmp_path / "c1" / "config")
    assert not c.defined
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / "config").write_text("")
    assert c.defined


def test_tool_version_is_the_lxc_release_it_follows(capsys):
    """lxc-* --version prints the LXC release (scripts compare it), lxcz --version lxcz's."""
    from lxcz.version import LXC_COMPAT, VERSION

    assert main(["lxc-info", "--version"]) == 0
    assert capsys.readouterr().out == LXC_COMPAT + "\n"
    assert main(["lxcz", "--version"]) == 0
    assert VERSION in capsys.readouterr().out

"""lxc-freeze/lxc-unfreeze (one module, two entry points) and lxc-execute/lxc-start (shared
option rows): each keeps LXC 5's own help layout and its own parsed values."""

from __future__ import annotations

import pytest

from lxcz.tools import lxc_execute, lxc_freeze, lxc_start, lxc_unfreeze


def help_of(main, capsys) -> str:
    assert main(["--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("main,verb,gap", [(lxc_freeze.main, "freeze", 6),
                                           (lxc_unfreeze.main, "unfreeze", 3)])
def test_freeze_twins_keep_their_columns(main, verb, gap, capsys):
    text = help_of(main, capsys)
    assert text.startswith(f"Usage: lxc-{verb} --name=NAME\n\n"
                           f"lxc-{verb} {verb}s a container with the identifier NAME\n")
    assert "  -n, --name=NAME" + " " * gap + "NAME of the container\n" in text
    assert f"See the lxc-{verb} man page for further information.\n" in text


def test_prog_name_follows_the_caller(capsys):
    assert lxc_unfreeze.main(["--help"], prog="thaw") == 0
    assert "thaw unfreezes a container" in capsys.readouterr().out


def test_execute_and_start_rows(capsys):
    ex = help_of(lxc_execute.main, capsys)
    st = help_of(lxc_start.main, capsys)
    assert "\n  -s, --define KEY=VAL Assign VAL to configuration variable KEY\n" in ex
    assert "\n  -f, --rcfile=FILE    Load configuration file FILE\n" in ex
    assert "\n  -f, --rcfile=FILE      Load configuration file FILE\n" in st
    assert ("  -C, --close-all-fds    If any fds are inherited, close them\n"
            "                         Note: --daemon implies --close-all-fds\n"
            "  -s, --define KEY=VAL   Assign VAL to configuration variable KEY\n"
            "      --share-[net|ipc|uts|pid]=NAME Share a namespace") in st


def test_shared_define_row_keeps_values_apart():
    p = lxc_start.make_parser("lxc-start")
    a = p.parse(["-n", "x", "-s", "lxc.a=1"])
    b = lxc_execute.make_parser("lxc-execute").parse(["-n", "x", "--", "true"])
    assert a.define == ["lxc.a=1"] and b.define == []

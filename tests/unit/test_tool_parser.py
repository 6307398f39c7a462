"""The shared LXC-style option parser: GNU getopt behaviour, help and usage layout."""

from __future__ import annotations

import pytest

from lxcz.tools.common import NONE, OPTIONAL, REQUIRED, Opt, ToolParser, UsageError, run


def make(**kw):
    opts = [
        Opt("d", "daemon", "daemon", NONE, help="Daemonize", action="store_true"),
        Opt("F", "foreground", "daemon", NONE, help="Foreground", action="store_const",
            const=False),
        Opt("s", "define", "define", REQUIRED, "KEY=VAL", "Assign", action="append",
            default=[]),
        Opt(None, "nesting", "nesting", OPTIONAL, "NUM", "Nesting"),
        Opt("k", "kill", "kill", NONE, action="count"),
    ]
    return ToolParser("lxc-demo", "--name=NAME -- COMMAND", "demo tool", opts, **kw)


def test_short_long_and_attached_forms():
    p = make()
    a = p.parse(["-nc1", "-d", "--define=a=b", "-s", "c=d", "--nesting", "-kk"])
    assert a.name == "c1" and a.daemon is True
    assert a.define == ["a=b", "c=d"]
    assert a.nesting is None and a.kill == 2
    a = p.parse(["--name", "c2", "--nesting=3", "-dF"])
    assert a.name == "c2" and a.nesting == "3" and a.daemon is False


def test_double_dash_ends_options_and_operands_mix():
    p = make(max_positional=1)
    a = p.parse(["x", "-n", "c1", "--", "-d", "ls"])
    assert a.positional == ["x"] and a.command == ["-d", "ls"] and a.daemon is None


def test_first_operand_names_the_container_without_n():
    """LXC's parser: no -n, so the first non-option argument is the name."""
    p = make(max_positional=1)
    a = p.parse(["-d", "c1", "--", "ls"])
    assert a.name == "c1" and a.positional == [] and a.command == ["ls"]
    a = p.parse(["c1", "x"])
    assert a.name == "c1" and a.positional == ["x"]
    a = p.parse(["-n", "c2", "x"])
    assert a.name == "c2" and a.positional == ["x"]
    assert make(name_required=False).parse(["x"]).positional == ["x"]


def test_prefix_long_options_and_ambiguity():
    p = make()
    assert p.parse(["--daem"]).daemon is True
    with pytest.raises(UsageError, match="unrecognized option '--bogus'"):
        p.parse(["--bogus"])


@pytest.mark.parametrize("argv,msg", [
    (["-x"], "invalid option -- 'x'"),
    (["-n"], "option requires an argument -- 'n'"),
    (["--name"], "option '--name' requires an argument"),
    (["--daemon=1"], "doesn't allow an argument"),
])
def test_bad_options(argv, msg):
    with pytest.raises(UsageError, match=msg):
        make().parse(argv)


def test_help_layout_matches_lxc():
    text = make().help_text()
    assert text.startswith("Usage: lxc-demo --name=NAME -- COMMAND\n\nlxc-demo demo tool\n")
    assert "\nOptions :\n  -n, --name=NAME" in text
    assert "\nCommon options :\n  -o, --logfile=FILE               Output log" in text
    assert "  -?, --help                       Give this help list" in text
    assert "      --usage                      Give a short usage message" in text
    assert text.rstrip().endswith("See the lxc-demo man page for further information.")


def test_run_exit_codes(capsys):
    p = make()
    assert run(p, ["--help"], lambda a: 0) == 0
    assert "Usage: lxc-demo" in capsys.readouterr().out
    assert run(p, ["--usage"], lambda a: 0) == 0
    assert run(p, ["--version"], lambda a: 0) == 0
    assert run(p, [], lambda a: 0) == 1
    assert "missing container name, use --name option" in capsys.readouterr().err
    assert run(p, ["--bogus"], lambda a: 0) == 1
    assert run(p, ["-n", "c1", "-l", "NOPE"], lambda a: 0) == 1
    assert "c1" in capsys.readouterr().err


def test_run_turns_errors_into_one_line(capsys):
    from lxcz.errors import LxczError

    def body(args):
        raise LxczError("no such thing", exit_code=3)

    assert run(make(), ["-n", "c1"], body) == 3
    assert capsys.readouterr().err == "lxc-demo: c1: no such thing\n"

    def crash(args):
        raise RuntimeError("boom")

    assert run(make(), ["-n", "c1"], crash) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "Traceback" not in err


def test_logfile_gets_lxc_layout(tmp_path, capsys):
    from lxcz.errors import LxczError

    log = tmp_path / "log"

    def body(args):
        raise LxczError("it broke")

    assert run(make(), ["-n", "c1", "-o", str(log), "-l", "DEBUG"], body) == 1
    line = log.read_text().splitlines()[0]
    parts = line.split()
    assert parts[0] == "lxc-demo" and parts[1] == "c1" and parts[3] == "ERROR"
    assert line.endswith("- it broke")


def test_a_refused_value_is_one_line_naming_the_container(capsys):
    """A value or combination the tool refuses after parsing: one line with the tool and
    the container, no usage block (LXC's tools print one line there); -q silences it."""
    from lxcz.tools import lxc_stop

    assert lxc_stop.main(["-n", "c9", "-t", "abc"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lxc-stop: c9: ") and err.count("\n") == 1, err
    assert lxc_stop.main(["-n", "c9", "-t", "abc", "-q"]) == 1
    assert capsys.readouterr().err == ""

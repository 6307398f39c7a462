"""lxc-unshare option handling (no namespaces are created here)."""

from __future__ import annotations

import pytest

from lxcz.sys import calls
from lxcz.tools import lxc_unshare as t


@pytest.mark.parametrize("text,flags", [
    ("MOUNT|PID", calls.CLONE_NEWNS | calls.CLONE_NEWPID),
    ("UTSNAME|IPC|USER|NETWORK|CGROUP", calls.CLONE_NEWUTS | calls.CLONE_NEWIPC
     | calls.CLONE_NEWUSER | calls.CLONE_NEWNET | calls.CLONE_NEWCGROUP),
    ("mnt|uts|net|time", calls.CLONE_NEWNS | calls.CLONE_NEWUTS | calls.CLONE_NEWNET
     | calls.CLONE_NEWTIME),
])
def test_namespace_flags(text, flags):
    assert t.namespace_flags(text) == flags


@pytest.mark.parametrize("argv,cause", [
    (["-s", "BOGUS", "--", "true"], 'invalid namespace name "BOGUS"'),
    (["--", "true"], "A namespace to execute command is required"),
    (["-s", "UTSNAME"], "A command to execute in the new namespace is required"),
    (["-s", "UTSNAME", "-i", "lo", "--", "true"], "-i <interfacename> needs -s NETWORK"),
    (["-s", "MOUNT", "-H", "x", "--", "true"], "-H <hostname> needs -s UTSNAME"),
    (["-s", "UTSNAME", "-M", "--", "true"], "-M needs -s MOUNT"),
    (["-s", "UTSNAME", "-u", "no-such-user-lxcz", "--", "true"], "no such user"),
    (["-s", "UTSNAME", "-H", "x" * 70, "--", "true"], "invalid host name"),
])
def test_bad_command_lines(capsys, argv, cause):
    assert t.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("lxc-unshare: ") and cause in err
    assert err.count("\n") == 1


def test_help_layout(capsys):
    assert t.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: lxc-unshare -s NAMESPACES COMMAND\n\n"
                          "lxc-unshare run a COMMAND in a new set of NAMESPACES\n")
    assert "  -d, --daemon      Daemonize (do not wait for container to exit)\n" in out
    assert "  -s, --namespaces=FLAGS\n                    ORed list" in out

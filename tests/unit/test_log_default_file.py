"""-l LEVEL without -o: the log goes where LXC's tools put it (lxcz.log.default_logfile),
and nothing is made on the way for a container that does not exist."""

import os
import subprocess
import sys

import pytest

from lxcz import log as lxlog

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    logpath = tmp_path / "varlog"
    logpath.mkdir()
    lxcpath = tmp_path / "lxc"
    (lxcpath / "c1").mkdir(parents=True)
    monkeypatch.setattr(lxlog, "LOGPATH", str(logpath))
    return logpath, lxcpath


def test_container_directory_first(dirs, monkeypatch):
    logpath, lxcpath = dirs
    path = lxlog.default_logfile("c1", str(lxcpath))
    assert path == str(lxcpath / "c1" / "c1.log")
    assert (os.stat(path).st_mode & 0o777) == 0o640


def test_root_with_the_builtin_lxcpath_uses_logpath(dirs, monkeypatch):
    logpath, lxcpath = dirs
    monkeypatch.setattr(lxlog, "LXCPATH", str(lxcpath))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert lxlog.default_logfile("c1", str(lxcpath) + "/") == str(logpath / "c1.log")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert lxlog.default_logfile("c1", str(lxcpath)) == str(lxcpath / "c1" / "c1.log")


def test_missing_container_falls_back_without_making_directories(dirs):
    logpath, lxcpath = dirs
    assert lxlog.default_logfile("nosuch", str(lxcpath)) == str(logpath / "nosuch.log")
    assert not (lxcpath / "nosuch").exists()
    for p in logpath.iterdir():
        p.unlink()
    logpath.rmdir()
    assert lxlog.default_logfile("nosuch", str(lxcpath)) is None
    assert sorted(os.listdir(lxcpath)) == ["c1"]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_no_file_for_names_that_are_not_container_names(dirs, name):
    _, lxcpath = dirs
    assert lxlog.default_logfile(name, str(lxcpath)) is None


def test_tool_with_l_and_no_o_writes_the_container_log(tmp_path):
    lxcpath = tmp_path / "lxc"
    (lxcpath / "c1").mkdir(parents=True)
    (lxcpath / "c1" / "config").write_text("lxc.uts.name = c1\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "lxcz", "lxc-stop", "-P", str(lxcpath),
                          "-n", "c1", "-l", "INFO"], capture_output=True, text=True, env=env)
    assert out.returncode != 0  # not running
    assert out.stderr.count("\n") == 1 and "c1" in out.stderr  # one line on stderr
    text = (lxcpath / "c1" / "c1.log").read_text()
    assert text.startswith("lxc-stop c1 ") and "ERROR" in text

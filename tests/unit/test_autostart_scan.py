"""lxc-autostart's quick scan of the start keys against the full parser, and that listing
imports neither the configuration parser nor the runtime."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxcz import autostart
from lxcz.config import ContainerConfig
from lxcz.container import Container
from lxcz.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def full(path: str) -> tuple:
    cfg = ContainerConfig.load(path)
    return (autostart._int(cfg, "lxc.start.auto"), autostart._int(cfg, "lxc.start.order"),
            autostart._int(cfg, "lxc.start.delay"), cfg.get_list("lxc.group"))


def quick(path: str):
    found: dict = {}
    autostart._scan(path, found, [])
    return (found.get("lxc.start.auto", 0), found.get("lxc.start.order", 0),
            found.get("lxc.start.delay", 0), found.get("lxc.group", []))


def make(tmp_path, text: str, name: str = "c1") -> Container:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    (d / "config").write_text(text)
    return Container(name, str(tmp_path))


GOOD = [
    "",
    "lxc.start.auto = 1\nlxc.start.order = -3\nlxc.start.delay = 7\nlxc.group = web\n",
    "lxc.start.auto=1\n\tlxc.start.order =  '+12'\nlxc.group = \"a\"\nlxc.group = b\n",
    "lxc.group = a\nlxc.group =\nlxc.group = c\nlxc.start.auto = 1\nlxc.start.auto =\n",
    "# lxc.start.auto = 1\nlxc.uts.name = x\n  # comment\n\nlxc.start.order = 2147483647\n",
    "lxc.start.delay = 4294967295\nlxc.start.order = -2147483648\r\n",
    "lxc.start.auto = 1 \n",
]
BAD = [
    "lxc.start.auto = 2\n",
    "lxc.start.order = 2147483648\n",
    "lxc.start.delay = -1\n",
    "lxc.start.order = 1.5\n",
    "lxc.start.order = \u0663\n",
    "just words\n",
    "lxc.include = /nonexistent/file.conf\n",
]


@pytest.mark.parametrize("text", GOOD)
def test_scan_equals_parser(tmp_path, text):
    c = make(tmp_path, text)
    assert quick(c.config_file_name) == full(c.config_file_name)
    k = autostart.start_keys(c)
    assert (k.auto, k.order, k.delay, k.groups) == full(c.config_file_name)


@pytest.mark.parametrize("text", BAD)
def test_scan_defers_to_parser_errors(tmp_path, text):
    c = make(tmp_path, text)
    with pytest.raises(autostart._Unsure):
        quick(c.config_file_name)
    with pytest.raises(ConfigError):
        autostart.start_keys(c)


def test_includes_files_dirs_relative_and_loops(tmp_path):
    (tmp_path / "inc.d").mkdir()
    (tmp_path / "inc.d" / "b.conf").write_text("lxc.group = from-b\nlxc.start.order = 9\n")
    (tmp_path / "inc.d" / "a.conf").write_text("lxc.group = from-a\n")
    (tmp_path / "inc.d" / "skip.txt").write_text("lxc.group = never\n")
    (tmp_path / "one.conf").write_text("lxc.start.auto = 1\n")
    c = make(tmp_path, "lxc.start.order = 1\nlxc.include = ../one.conf\n"
                       f"lxc.include = {tmp_path}/inc.d\nlxc.include = {tmp_path}/none.d/\n"
                       "lxc.group = last\n")
    assert quick(c.config_file_name) == full(c.config_file_name) == (
        1, 9, 0, ["from-a", "from-b", "last"])
    (tmp_path / "loop.conf").write_text(f"lxc.include = {tmp_path}/loop.conf\n")
    c2 = make(tmp_path, f"lxc.include = {tmp_path}/loop.conf\n", "c2")
    with pytest.raises(autostart._Unsure):
        quick(c2.config_file_name)
    with pytest.raises(ConfigError, match="include loop"):
        autostart.start_keys(c2)


key_lines = st.lists(st.tuples(
    st.sampled_from(["lxc.start.auto", "lxc.start.order", "lxc.start.delay", "lxc.group",
                     "lxc.uts.name", "# lxc.group"]),
    st.sampled_from(["", "0", "1", "-1", "+5", " 3 ", "web", "'q'", "\"x\"", "99999999999"]),
    st.sampled_from([" = ", "=", "\t=  "])), max_size=8)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key_lines)
def test_scan_never_disagrees_with_parser(tmp_path, lines):
    text = "".join(f"{k}{eq}{v}\n" for k, v, eq in lines)
    path = tmp_path / "config"
    path.write_text(text)
    try:
        want = full(str(path))
    except ConfigError:
        want = None
    try:
        got = quick(str(path))
    except autostart._Unsure:
        got = None
    if got is not None:
        assert got == want


def test_unrelated_keys_are_not_checked(tmp_path):
    """By design (see lxcz.autostart): a key the scan does not need is not judged here;
    starting the container loads the full configuration and reports it."""
    c = make(tmp_path, "lxc.start.auto = 1\nlxc.no.such.key = x\n")
    assert quick(c.config_file_name) == (1, 0, 0, [])
    with pytest.raises(ConfigError, match="unknown key"):
        full(c.config_file_name)


def test_not_running_without_a_monitor(tmp_path):
    c = make(tmp_path, "lxc.start.auto = 1\n", "idle")
    assert autostart.is_running(c) is False


def test_listing_imports_no_parser_and_no_runtime(tmp_path):
    for i, extra in enumerate(["lxc.group = web\n", "", "lxc.start.auto = 0\n"]):
        make(tmp_path, f"lxc.start.auto = 1\nlxc.start.delay = {i}\n{extra}", f"a{i}")
    code = ("import sys; from lxcz.__main__ import main; "
            f"rc = main(['lxc-autostart', '-P', {str(tmp_path)!r}, '-L', '-a']); "
            "bad = [m for m in ('lxcz.config', 'lxcz.runtime.api', 're', 'socket') "
            "if m in sys.modules]; print(bad); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "a0 0\na1 1\n[]\n"

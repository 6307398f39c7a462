"""lxc-autostart's selection and order, checked against fixed expectations and upstream's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {
    "a": "lxc.start.auto = 1\nlxc.start.order = 5\nlxc.start.delay = 2\n",
    "b": "lxc.start.auto = 1\nlxc.start.order = 10\nlxc.group = web\n",
    "c": "lxc.start.auto = 1\nlxc.group = web\nlxc.group = onboot\n",
    "d": "lxc.start.auto = 0\n",
}
CASES = {
    ("-L",): "a 2\n",
    ("-L", "-a"): "c 0\na 2\nb 0\n",
    ("-L", "-g", "web"): "c 0\nb 0\n",
    ("-L", "-g", "web,"): "c 0\nb 0\na 2\n",
    ("-L", "-A"): "d 0\na 2\n",
    ("-L", "-g", "onboot", "-g", "web"): "c 0\nb 0\n",
    ("-L", "-s", "-a"): "",
}


@pytest.fixture
def autopath(tmp_path):
    for name, extra in CONFIGS.items():
        d = tmp_path / name
        (d / "rootfs").mkdir(parents=True)
        (d / "config").write_text(f"lxc.rootfs.path = dir:{d}/rootfs\n{extra}")
    return str(tmp_path)


def ours(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lxcz", "lxc-autostart", *args], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.mark.parametrize("args", list(CASES))
def test_selection_and_order(autopath, args):
    r = ours("-P", autopath, *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == CASES[args]


@pytest.mark.parametrize("args", list(CASES))
def test_same_as_upstream(autopath, args):
    upstream = "/usr/bin/lxc-autostart"  # not PATH: `lxcz install` may shadow it
    if not os.path.exists(upstream) or os.path.realpath(upstream).endswith("lxcz"):
        pytest.skip("upstream lxc-autostart not installed")
    up = subprocess.run([upstream, "-P", autopath, *args], capture_output=True,
                        text=True)
    assert ours("-P", autopath, *args).stdout == up.stdout


def test_bad_options(autopath):
    r = ours("-P", autopath, "-k", "-s")
    assert r.returncode == 1 and "cannot be combined" in r.stderr
    r = ours("-P", autopath, "-t", "soon")
    assert r.returncode == 1 and "invalid timeout 'soon'" in r.stderr

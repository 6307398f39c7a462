"""System configuration (lxc.conf) and the lxc-config / lxc-update-config tools."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lxcz.config import system
from lxcz.tools import lxc_config, lxc_update_config


@pytest.fixture(autouse=True)
def fresh():
    system.reset()
    yield
    system.reset()


def test_root_defaults_without_file(monkeypatch, tmp_path):
    monkeypatch.setattr(system, "GLOBAL_CONF", str(tmp_path / "none"))
    assert system.get("lxc.lxcpath", 0, "/root") == "/var/lib/lxc"
    assert system.get("lxc.default_config", 0, "/root") == "/etc/lxc/default.conf"
    assert system.get("lxc.bdev.lvm.vg", 0, "/root") == "lxc"
    assert system.get("lxc.bdev.lvm.thin_pool", 0, "/root") == "lxc"
    assert system.get("lxc.bdev.zfs.root", 0, "/root") == "lxc"
    assert system.get("lxc.cgroup.use", 0, "/root") is None
    assert system.get("lxc.cgroup.pattern", 0, "/root") is None
    assert system.get("lxc.bogus", 0, "/root") is None


def test_user_defaults(tmp_path):
    home = str(tmp_path)
    assert system.config_path(1000, home) == f"{home}/.config/lxc/lxc.conf"
    assert system.get("lxc.lxcpath", 1000, home) == f"{home}/.local/share/lxc"
    assert system.get("lxc.default_config", 1000, home) == f"{home}/.config/lxc/default.conf"


def test_user_file(tmp_path):
    home = tmp_path
    (home / ".config/lxc").mkdir(parents=True)
    (home / ".config/lxc/lxc.conf").write_text(
        "# lxc.lxcpath = /commented\nlxc.lxcpathx = /no\n  lxc.lxcpath\t=  /srv/lxc//\n"
        "lxc.bdev.lvm.vg = \nlxc.bdev.lvm.vg = vg0  \nlxc.cgroup.use = @kernel\n")
    h = str(home)
    assert system.get("lxc.lxcpath", 1000, h) == "/srv/lxc"
    assert system.get("lxc.bdev.lvm.vg", 1000, h) == "vg0  "
    assert system.get("lxc.cgroup.use", 1000, h) == "@kernel"
    assert system.get("lxc.bdev.zfs.root", 1000, h) == "lxc"


def test_api_functions():
    assert system.default_lxcpath() == system.get("lxc.lxcpath")
    assert system.default_config_path() == system.get("lxc.default_config")
    assert [k for k, _ in system.all_items()] == list(system.LISTED)


def run(main, argv, capsys):
    rc = main(argv, prog=main.__module__.split(".")[-1].replace("_", "-"))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_lxc_config_list(capsys):
    rc, out, _ = run(lxc_config.main, ["-l"], capsys)
    assert rc == 0
    assert out.split() == list(system.LISTED)


@pytest.mark.parametrize("arg", ["-l", "lxc.lxcpath", "lxc.bdev", "lxc.cgroup.use",
                                 "lxc.cgroup.pattern", "lxc.default_config", "lxc.foo", "",
                                 "-h", "--help", "-", "--he"])
def test_lxc_config_like_upstream(arg, capsys):
    real = "/usr/bin/lxc-config"
    if not os.path.isfile(real) or os.path.islink(real) or open(real, "rb").read(4) != b"\x7fELF":
        pytest.skip("upstream lxc-config not installed")
    rc, out, _ = run(lxc_config.main, [arg], capsys)
    theirs = subprocess.run([real, arg], stdout=subprocess.PIPE, text=True)
    assert (rc, out) == (theirs.returncode, theirs.stdout.replace(real, "lxc-config"))


def test_lxc_config_unknown(capsys):
    rc, out, _ = run(lxc_config.main, ["lxc.nope"], capsys)
    assert (rc, out) == (1, "Unknown configuration item: lxc.nope\n")


def test_update_config_tool(tmp_path, capsys):
    path = tmp_path / "config"
    path.write_text("# old\nlxc.utsname = c1\nlxc.network.type = veth\n")
    rc, out, err = run(lxc_update_config.main, ["-c", str(path)], capsys)
    assert rc == 0, err
    assert path.read_text() == "# old\nlxc.uts.name = c1\nlxc.net.0.type = veth\n"
    assert (tmp_path / "config.backup").read_text().startswith("# old\nlxc.utsname")
    rc, out, err = run(lxc_update_config.main, ["--config=" + str(path)], capsys)
    assert rc == 0


def test_update_config_help_and_errors(tmp_path, capsys):
    usage = ("lxc-update-config -h|--help [-c|--config]\n"
             "config: the container configuration to update\n")
    assert run(lxc_update_config.main, [], capsys)[:2] == (0, usage)
    assert run(lxc_update_config.main, ["-h"], capsys)[:2] == (0, usage)
    rc, out, err = run(lxc_update_config.main, ["-c", str(tmp_path / "nope")], capsys)
    assert rc == 1
    assert err == (f"lxc-update-config: {tmp_path / 'nope'}: cannot read config file: "
                   "No such file or directory\n")
    assert os.listdir(str(tmp_path)) == []
    rc, out, err = run(lxc_update_config.main, ["-x"], capsys)
    assert rc == 1 and err.startswith("lxc-update-config: invalid option -- 'x'\n")
    rc, out, err = run(lxc_update_config.main, ["-l", "INFO"], capsys)
    assert rc == 1 and "missing configuration file" in err
    rc, out, err = run(lxc_update_config.main, ["-q"], capsys)
    assert rc == 1 and err == ""  # -q: no error line, as with every tool


def test_update_config_warns_about_what_is_left(tmp_path, capsys):
    path = tmp_path / "config"
    path.write_text("lxc.utsname = c1\nlxc.foo = 1\n")
    rc, out, err = run(lxc_update_config.main, ["-c", str(path)], capsys)
    assert rc == 0
    assert err == f'lxc-update-config: {path}:2: unknown key "lxc.foo" (after the update)\n'


def test_import_is_cheap():
    code = ("import sys, lxcz.config; bad = [m for m in ('ipaddress', 'pyroute2', 'elftools',"
            " 'lxcz.config.parser', 'lxcz.config.system', 'subprocess') if m in sys.modules];"
            " print(bad)")
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         text=True, cwd=os.path.dirname(os.path.dirname(
                             os.path.dirname(os.path.abspath(__file__)))))
    assert out.stdout.strip() == "[]"

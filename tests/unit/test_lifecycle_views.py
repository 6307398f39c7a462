"""The read-only views: /proc network parsing, lxc-info humanizing, lxc-ls layout,
lxc-ps filtering, and the tools' command lines."""

from __future__ import annotations

import os

import pytest

from lxcz.net import api as netapi
from lxcz.tools import lxc_info, lxc_ls, lxc_ps

FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.3.0/24 2 0 2
        |-- 10.0.3.0
           /24 link UNICAST
        |-- 10.0.3.17
           /32 host LOCAL
        |-- 10.0.3.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     |-- 192.168.5.5
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.0.3.17
        /32 host LOCAL
"""
ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0103000A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0003000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0005A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 02 40 00 80     eth0
fe8000000000000000fc00fffe000001 02 40 20 80     eth0
"""
NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs
    lo:    7069      94    0    0    0     0          0         0     7069      94    0
  eth0:       0       0    0    0    0     0          0         0        0       0    0
  eth1:       0       0    0    0    0     0          0         0        0       0    0
"""


@pytest.fixture
def fake_proc(monkeypatch):
    files = {"fib_trie": FIB_TRIE, "route": ROUTE, "if_inet6": IF_INET6, "dev": NET_DEV}

    def read(path: str) -> str:
        return files.get(os.path.basename(path), "")

    monkeypatch.setattr(netapi, "_read", read)


def test_ipv4_with_interfaces(fake_proc):
    # little-endian host: the route file's words are byte-swapped addresses
    if os.sys.byteorder != "little":
        pytest.skip("fixture written for a little-endian host")
    assert netapi.ipv4_of_pid(1) == [("10.0.3.17", "eth0"), ("127.0.0.1", "lo"),
                                     ("192.168.5.5", "eth1")]


def test_ips_like_lxc(fake_proc):
    if os.sys.byteorder != "little":
        pytest.skip("fixture written for a little-endian host")
    assert netapi.ips_of_pid(1) == ["10.0.3.17", "192.168.5.5", "fd00::2"]
    assert netapi.ips_of_pid(1, family="inet6") == ["fd00::2"]
    assert netapi.ips_of_pid(1, interface="lo") == ["127.0.0.1", "::1"]
    assert netapi.ips_of_pid(1, interface="eth0", family="inet6", scope=2) == \
        ["fe80::fc:ff:fe00:1"]
    with pytest.raises(Exception, match="unknown address family"):
        netapi.ips_of_pid(1, family="ipx")


def test_interfaces(fake_proc):
    assert netapi.interfaces_of_pid(1) == ["lo", "eth0", "eth1"]


def test_host_link_stats_refuses_paths():
    assert netapi.host_link_stats("../../etc") is None
    assert netapi.host_link_stats("") is None


@pytest.mark.parametrize("val,text", [
    (0, "0 bytes"), (1024, "1024 bytes"), (1536, "1.50 KiB"), (917504, "896.00 KiB"),
    (5 * 1024 * 1024, "5.00 MiB"),
    (3 * (1 << 30) + (1 << 29), "3.49 GiB"),  # LXC truncates GiB fractions
])
def test_humanize_like_lxc_info(val, text):
    assert lxc_info.humanize_size(val) == text


def test_ls_table_layout():
    rows = [{"NAME": "c1", "STATE": "RUNNING", "RAM": "0.61", "SWAP": "0.00"},
            {"NAME": "longer-name", "STATE": "STOPPED", "RAM": "", "SWAP": ""}]
    text = lxc_ls._table(rows, ["NAME", "STATE", "RAM", "SWAP"])
    assert text.splitlines() == [
        "NAME        STATE   RAM    SWAP   ",
        "c1          RUNNING 0.61MB 0.00MB ",
        "longer-name STOPPED -      -      ",
    ]


def test_ps_filter_adds_container_column():
    out = "  PID TTY          TIME CMD\n  10 ?        00:00:00 init\n  11 ?    00:00:00 sh\n"
    text = lxc_ps.filter_ps(out, {10: "web"})
    assert text.splitlines() == ["CONTAINER   PID TTY          TIME CMD",
                                 "web         10 ?        00:00:00 init"]


def _run(mod, argv, capsys):
    rc = mod.main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("mod", ["lxc_create", "lxc_destroy", "lxc_ls", "lxc_info",
                                 "lxc_attach", "lxc_console", "lxc_ps"])
def test_help_and_usage(mod, capsys):
    import importlib

    m = importlib.import_module("lxcz.tools." + mod)
    rc, out, _ = _run(m, ["--help"], capsys)
    assert rc == 0 and out.startswith("Usage: lxc-") and "Common options :" in out
    rc, out, _ = _run(m, ["--usage"], capsys)
    assert rc == 0 and out.startswith("Usage:")


def test_tools_bad_input(tmp_path, capsys):
    from lxcz.tools import lxc_attach, lxc_console, lxc_create, lxc_destroy

    p = str(tmp_path)
    cases = [
        (lxc_create, ["-n", "x", "-P", p], "A template must be specified"),
        (lxc_create, ["-n", "a/b", "-t", "none", "-P", p], "invalid container name"),
        (lxc_create, ["-n", "x", "-t", "nosuch-template", "-P", p], "not found"),
        (lxc_create, ["-n", "x", "-t", "none", "--lvname", "v", "-P", p], "only valid"),
        (lxc_destroy, ["-n", "x", "-P", p], "Container is not defined"),
        (lxc_destroy, ["-n", "..", "-P", p], "invalid container name"),
        (lxc_info, ["-n", "x", "-P", p], "Container is not defined"),
        (lxc_attach, ["-n", "x", "-P", p, "--", "true"], "Container is not defined"),
        (lxc_console, ["-n", "x", "-P", p], "Container is not defined"),
        (lxc_console, ["-n", "x", "-P", p, "-e", "5"], "invalid escape prefix"),
        (lxc_ls, ["-P", p, "-F", "NAME,BOGUS"], None),
    ]
    for mod, argv, msg in cases:
        rc, _out, err = _run(mod, argv, capsys)
        assert rc != 0, (mod.__name__, argv)
        assert len(err.strip().splitlines()) == 1, err
        if msg:
            assert msg in err and err.startswith("lxc-"), err
    assert os.listdir(p) == []


@pytest.mark.parametrize("value,depth", [
    (None, 0), ("", 5), ("3", 3), ("0", 0), ("0x2", 2), ("010", 8), ("+4", 4),
    ("-1", 5), ("abc", 5), ("2x", 5), ("99999999999", 5)])
def test_ls_nesting_depth_like_lxc(value, depth):
    """--nesting[=NUM]: LXC's strtoul(NUM, 0) when it takes the whole text, else 5."""
    assert lxc_ls.nesting_depth(value) == depth


def test_ls_nesting_of_stopped_containers(tmp_path, capsys):
    """A stopped container's nested containers are found in ROOTFS/LXCPATH."""
    top = str(tmp_path / "lxc")
    rootfs = tmp_path / "lxc" / "c1" / "rootfs"
    os.makedirs(rootfs)
    (tmp_path / "lxc" / "c1" / "config").write_text(f"lxc.rootfs.path = dir:{rootfs}\n")
    inner = tmp_path / ("lxc/c1/rootfs" + top) / "n1"
    os.makedirs(inner / "rootfs")
    (inner / "config").write_text(f"lxc.rootfs.path = {top}/n1/rootfs\n")
    assert lxc_ls.main(["-P", top, "--nesting", "-1"]) == 0
    assert capsys.readouterr().out == "c1\nc1/n1\n"
    assert lxc_ls.main(["-P", top, "--nesting", "-f", "-F", "NAME,STATE"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["c1   STOPPED ", "\\n1  STOPPED "]
    assert lxc_ls.main(["-P", top, "-1"]) == 0
    assert capsys.readouterr().out == "c1\n"
    # the rootfs path set through lxc.include counts too
    (tmp_path / "rootfs.conf").write_text(f"lxc.rootfs.path = dir:{rootfs}\n")
    (tmp_path / "lxc" / "c1" / "config").write_text(
        f"lxc.include = {tmp_path / 'rootfs.conf'}\n")
    assert lxc_ls.main(["-P", top, "--nesting", "-1"]) == 0
    assert capsys.readouterr().out == "c1\nc1/n1\n"


def test_ls_empty_and_missing_lxcpath(tmp_path, capsys):
    assert _run(lxc_ls, ["-P", str(tmp_path / "nope"), "-f"], capsys)[:2] == (0, "")
    assert _run(lxc_ls, ["-P", str(tmp_path)], capsys)[:2] == (0, "")


def test_ls_lists_defined_containers(tmp_path, capsys):
    for n in ("b", "a", "c"):
        (tmp_path / n).mkdir()
        (tmp_path / n / "config").write_text("lxc.group = web\n" if n != "c" else "")
    (tmp_path / "notacontainer").mkdir()
    assert _run(lxc_ls, ["-P", str(tmp_path), "-1"], capsys)[1] == "a\nb\nc\n"
    assert _run(lxc_ls, ["-P", str(tmp_path), "-1", "-g", "web"], capsys)[1] == "a\nb\n"
    assert _run(lxc_ls, ["-P", str(tmp_path), "-1", "^[bc]"], capsys)[1] == "b\nc\n"
    assert _run(lxc_ls, ["-P", str(tmp_path), "-1", "--running"], capsys)[1] == ""
    out = _run(lxc_ls, ["-P", str(tmp_path), "-f"], capsys)[1].splitlines()
    assert out[0] == "NAME STATE   AUTOSTART GROUPS IPV4 IPV6 UNPRIVILEGED "
    assert out[1] == "a    STOPPED 0         web    -    -    false        "


def test_ls_groups_like_lxc(tmp_path, capsys):
    # lxc.group splits on blanks; -g compares with the groups split again on commas
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "config").write_text("lxc.group = a b,c\n")
    p = str(tmp_path)
    for groups, shown in (("a", "g\n"), ("c", "g\n"), ("b,c", "g\n"), ("a,x", ""),
                          ("x", ""), ("a,b,c,d", "")):
        assert _run(lxc_ls, ["-P", p, "-1", "-g", groups], capsys)[1] == shown, groups
    out = _run(lxc_ls, ["-P", p, "-f"], capsys)[1].splitlines()
    assert out[1].split()[:5] == ["g", "STOPPED", "0", "a,", "b,c"]


def test_info_refuses_a_stopped_container_whose_config_does_not_load(tmp_path, capsys):
    # LXC 5: "Failed to load config for bad", exit 1
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config").write_text("lxc.uts.name = bad\nlxc.bogus = 1\n")
    rc, out, err = _run(lxc_info, ["-n", "bad", "-P", str(tmp_path)], capsys)
    assert rc == 1 and out == ""
    assert err.startswith("lxc-info: bad: ") and 'unknown key "lxc.bogus"' in err
    assert len(err.splitlines()) == 1
    rc, out, err = _run(lxc_info, ["-n", "bad", "-P", str(tmp_path), "-c", "lxc.uts.name"],
                        capsys)
    assert rc == 1 and out == "" and len(err.splitlines()) == 1


def test_one_lxcpath_only_and_n_ignored_where_there_is_no_container(tmp_path, capsys):
    from lxcz.tools import lxc_stop

    p = str(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config").write_text("")
    # LXC 5: "This command only accepts 1 -P,--lxcpath arguments", exit 1 (lxc-monitor
    # alone takes several)
    for mod, argv in ((lxc_info, ["-n", "a", "-P", p, "-P", p]),
                      (lxc_stop, ["-n", "a", "-P", p, "--lxcpath", p]),
                      (lxc_ls, ["-P", p, "-P", p])):
        rc, out, err = _run(mod, argv, capsys)
        assert rc == 1 and out == "", (mod, err)
        assert err.endswith("This command only accepts 1 -P,--lxcpath arguments\n")
        assert len(err.splitlines()) == 1
    # lxc-ls accepts -n as LXC's does, and ignores it; it is not in its help
    assert _run(lxc_ls, ["-P", p, "-1", "-n", "zzz"], capsys)[:2] == (0, "a\n")
    assert "--name" not in _run(lxc_ls, ["--help"], capsys)[1]

"""lxc-checkconfig: config parsing, source detection, compressed configs and bad input."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import subprocess

import pytest

from lxcz.checkconfig import extract, kconfig

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "kernel-configs")

SMALL = """\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.176 Kernel Configuration
#
CONFIG_NAMESPACES=y
CONFIG_VETH=m
# CONFIG_VLAN_8021Q is not set
CONFIG_LOCALVERSION=""
CONFIG_NR_CPUS=64
"""


def test_parse_values_and_header():
    cfg = kconfig.parse(SMALL, "x")
    assert cfg.version == (6, 1, 176)
    assert cfg.arch == "x86"
    assert cfg.state("NAMESPACES") == "y"
    assert cfg.state("CONFIG_VETH") == "m"
    assert cfg.state("VLAN_8021Q") == "n"
    assert cfg.value("VLAN_8021Q") == "n"
    assert cfg.state("NR_CPUS") == "n"  # not a tristate
    assert cfg.value("NR_CPUS") == "64"
    assert cfg.state("ABSENT") == "n" and cfg.value("ABSENT") is None


@pytest.mark.parametrize("header,version,arch", [
    ("# Linux/arm64 5.10.0-28 Kernel Configuration", (5, 10, 0), "arm64"),
    ("# Linux/x86_64 2.6.32 Kernel Configuration", (2, 6, 32), "x86_64"),
    ("# Linux kernel version: 2.6.30", (2, 6, 30), None),
    ("# Linux/powerpc 6.12.0-rc1 Kernel Configuration", (6, 12, 0), "powerpc"),
    ("# Linux/x86 10.3 Kernel Configuration", (10, 3, 0), "x86"),
])
def test_headers(header, version, arch):
    cfg = kconfig.parse(header + "\nCONFIG_A=y\n")
    assert cfg.version == version and cfg.arch == arch


def test_no_header_means_unknown_version():
    assert kconfig.parse("CONFIG_A=y\n").version is None


def test_not_a_config():
    with pytest.raises(kconfig.NotAConfig) as exc:
        kconfig.parse("hello world\n", "/tmp/x")
    assert exc.value.exit_code == 2


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


@pytest.mark.parametrize("name,comp", [
    ("plain", lambda b: b),
    ("gz", gzip.compress),
    ("xz", lzma.compress),
    ("bz2", bz2.compress),
    ("lzma", lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE)),
])
def test_compressed_configs(tmp_path, name, comp):
    path = _write(tmp_path, "config." + name, comp(SMALL.encode()))
    cfg = extract.load(path)
    assert cfg.state("VETH") == "m"
    assert cfg.source == path
    if name != "plain":
        assert cfg.how.endswith("-compressed config file")


@pytest.mark.parametrize("prog", ["zstd", "lz4"])
def test_program_decoders(tmp_path, prog):
    if shutil.which(prog) is None:
        pytest.skip(f"{prog} program not installed")
    src = _write(tmp_path, "config", SMALL.encode())
    out = src + "." + prog
    cmd = [prog, "-q", "-f", src, "-o", out] if prog == "zstd" else [prog, "-q", "-f", src, out]
    subprocess.run(cmd, check=True)
    cfg = extract.load(src + "." + prog)
    assert cfg.state("NAMESPACES") == "y"


def test_build_tree_directory(tmp_path):
    (tmp_path / ".config").write_text(SMALL)
    assert extract.load(str(tmp_path)).state("NAMESPACES") == "y"


@pytest.mark.parametrize("make,expect", [
    (lambda d: str(d), "is a directory"),
    (lambda d: str(d / "missing"), "no such file"),
    (lambda d: _write(d, "empty", b""), "empty file"),
    (lambda d: _write(d, "text", b"just some text\nno options\n"), "not a kernel configuration"),
    (lambda d: _write(d, "trunc.gz", gzip.compress(SMALL.encode() * 50)[:200]), "truncated gzip"),
    (lambda d: _write(d, "bad.xz", lzma.compress(SMALL.encode())[:30] + b"\0" * 40), "xz"),
    (lambda d: _write(d, "random", os.urandom(4096)), "not a kernel configuration"),
    (lambda d: _write(d, "file", b"x") + "/below", "cannot read"),
])
def test_bad_input(tmp_path, make, expect):
    path = make(tmp_path)
    with pytest.raises((extract.SourceError, kconfig.NotAConfig)) as exc:
        extract.load(path)
    msg = str(exc.value)
    assert expect in msg and "\n" not in msg and exc.value.exit_code == 2


def test_unreadable_file(tmp_path, monkeypatch):
    path = _write(tmp_path, "config", SMALL.encode())
    real_open = open

    def fake_open(p, *a, **k):
        if p == path:
            raise PermissionError(13, "Permission denied", p)
        return real_open(p, *a, **k)

    monkeypatch.setattr("builtins.open", fake_open)
    with pytest.raises(extract.SourceError, match="Permission denied"):
        extract.load(path)


def test_fixtures_present_and_parse():
    names = sorted(f for f in os.listdir(FIXTURES) if f.endswith(".config.xz"))
    arches = {n.split("_")[1] for n in names if n.endswith(".config.xz")}
    series = set()
    for n in names:
        cfg = extract.load(os.path.join(FIXTURES, n))
        assert cfg.version is not None, n
        series.add(cfg.version[:2])
    assert {"amd64", "i386", "armhf", "arm64", "ppc64el", "s390x"} <= arches
    assert {(5, 10), (6, 1), (6, 12)} <= series and len(series) >= 4
    total = sum(os.path.getsize(os.path.join(FIXTURES, n)) for n in names)
    assert total < 3_000_000


def test_last_assignment_wins_and_prefetch():
    text = SMALL + "CONFIG_VETH=y\nCONFIG_VLAN_8021Q=m\n"
    cfg = kconfig.parse(text)
    cfg.prefetch(["VETH", "CONFIG_VLAN_8021Q", "NOPE"])
    assert cfg.value("VETH") == "y" and cfg.state("VLAN_8021Q") == "m"
    assert cfg.value("NOPE") is None
    fresh = kconfig.parse(text)  # without prefetch: the full parse agrees
    assert fresh.value("VETH") == "y" and fresh.options["VLAN_8021Q"] == "m"

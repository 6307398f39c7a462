"""The lean paths of the short-lived tools: the command-socket codec (proto.encode and
proto.decode must equal json exactly), channels over _socket, lxc-info's direct cgroup
stats (must equal ContainerCgroup.stats), and what importing the client costs."""

from __future__ import annotations

import _socket
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lxcz.cgroups import get_manager
from lxcz.cgroups.fake import FakeCgroupFS
from lxcz.runtime import proto
from lxcz.tools import lxc_info

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                     st.floats(allow_nan=False))
_values = st.recursive(_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _values, max_size=6))
def test_encode_is_json_dumps(msg):
    assert proto.encode(msg) == json.dumps(msg, separators=(",", ":")).encode()


@settings(max_examples=300, deadline=None)
@given(_values)
def test_decode_is_json_loads(value):
    for text in (json.dumps(value), json.dumps(value, separators=(",", ":")),
                 json.dumps(value, indent=1).replace("\n", " ")):
        got = proto.decode(text)
        assert got == json.loads(text)
        assert type(got) is type(json.loads(text))


def test_encode_odd_values_fall_back_to_json():
    for msg in ({"t": (1, 2)}, {1: "a"}, {"f": 1.5, "n": float("inf")}, {"b": True}):
        assert proto.encode(msg) == json.dumps(msg, separators=(",", ":")).encode()
    with pytest.raises(TypeError):
        proto.encode({"x": object()})
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError):
        proto.encode(loop)


@pytest.mark.parametrize("bad", ["", " ", "{", '{"a":1} x', "[1,]", "{'a': 1}", "nul",
                                 '{"a":1}{"b":2}', "\ufeff{}"])
def test_decode_rejects_what_json_rejects(bad):
    with pytest.raises(ValueError):
        json.loads(bad)
    with pytest.raises(ValueError):
        proto.decode(bad)


def test_decode_constants_like_json():
    assert proto.decode('{"a":NaN,"b":-Infinity}')["b"] == float("-inf")
    assert proto.decode(" \t[1, 2.5, -0]\r") == [1, 2.5, 0]


def test_channel_roundtrip_with_fds_over_raw_socket():
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    r, w = os.pipe()
    try:
        ca, cb = proto.Channel(a), proto.Channel(b)
        ca.send({"cmd": "get_console", "ttynum": -1, "s": "é\n\u2028"}, fds=[r])
        ca.send({"x": [1, {"y": None}]})
        msg, fds = cb.recv()
        assert msg == {"cmd": "get_console", "ttynum": -1, "s": "é\n\u2028"}
        assert len(fds) == 1
        os.write(w, b"hi")
        assert os.read(fds[0], 2) == b"hi"
        os.close(fds[0])
        assert cb.recv() == ({"x": [1, {"y": None}]}, [])
        ca.close()
        assert cb.recv() == (None, [])
        cb.close()
    finally:
        os.close(r)
        os.close(w)


def test_channel_refuses_non_objects():
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        a.sendall(b"[1,2]\n")
        with pytest.raises(ValueError):
            proto.Channel(b).recv()
    finally:
        a.close()
        b.close()


def _filled(layout):
    fs = FakeCgroupFS(layout)
    mgr = get_manager(fs=fs, euid=0)
    cg = mgr.create("c1")
    p = cg.paths
    if "cpuacct" in "".join(p):
        key = next(k for k in p if "cpuacct" in k.split(","))
        fs.files[p[key] + "/cpuacct.usage"] = "1500000000\n"
    if "memory" in p:
        fs.files[p["memory"] + "/memory.usage_in_bytes"] = "1048576\n"
        fs.files[p["memory"] + "/memory.kmem.usage_in_bytes"] = "4096\n"
    if "blkio" in p:
        fs.files[p["blkio"] + "/blkio.throttle.io_service_bytes"] = (
            "8:0 Read 100\n8:0 Write 50\n8:0 Sync 0\n8:0 Total 150\nTotal 150\n")
    if "unified" in p:
        d = p["unified"]
        fs.files[d + "/cpu.stat"] = "usage_usec 2000\nuser_usec 1000000\n"
        if d + "/memory.stat" in fs.files:
            fs.files[d + "/memory.stat"] = "anon 1000\nfile 24\nkernel_stack 100\nslab 50\n"
        if d + "/io.stat" in fs.files:
            fs.files[d + "/io.stat"] = "8:0 rbytes=10 wbytes=5 rios=1\n8:16 rbytes=1 wbytes=0\n"
    return fs, cg


@pytest.mark.parametrize("layout", ["legacy", "hybrid", "unified"])
def test_info_stats_equal_manager_stats(layout):
    fs, cg = _filled(layout)
    want = cg.stats()
    got = lxc_info.cgroup_stats(json.loads(json.dumps(cg.paths)), fs=fs)
    for key in ("cpu_ns", "blkio_bytes", "mem_user", "mem_kernel"):
        assert got[key] == want[key], key
    assert got["cpu_ns"] is not None


def test_info_stats_missing_files_are_none(tmp_path):
    got = lxc_info.cgroup_stats({"memory": str(tmp_path / "m"), "unified": str(tmp_path)})
    assert got == {"cpu_ns": None, "mem_user": None, "mem_kernel": None,
                   "blkio_bytes": None}


def test_info_stats_host_files(tmp_path):
    (tmp_path / "cpu.stat").write_text("usage_usec 7\n")
    (tmp_path / "memory.stat").write_text("anon 5\nfile 1\nsock 2\n")
    (tmp_path / "io.stat").write_text("8:0 rbytes=3 wbytes=4\n")
    got = lxc_info.cgroup_stats({"unified": str(tmp_path)})
    assert got == {"cpu_ns": 7000, "mem_user": 6, "mem_kernel": 2, "blkio_bytes": 7}


def test_client_import_is_lean():
    code = ("import sys; import lxcz.tools.lxc_info, lxcz.runtime.client, lxcz.net.api; "
            "bad = {'socket', 'json', 're', 'enum', 'typing', 'selectors', 'signal', "
            "'lxcz.cgroups', 'dataclasses', 'struct'} & set(sys.modules); print(sorted(bad))")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          f"import sys; sys.path.insert(0, {ROOT!r}); " + code],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[]"

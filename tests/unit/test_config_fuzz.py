"""Fuzz the parser and the model: no input may raise anything but ConfigError."""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxcz.config import ContainerConfig
from lxcz.config import keys as K
from lxcz.errors import ConfigError

KEYS = ([r.name for r in K.ROWS] + [r.name + r.sub_example for r in K.ROWS if r.is_prefix]
        + ["lxc.net.0." + r.name for r in K.NET_KEYS]
        + ["lxc.network.type", "lxc.network.0.ipv4", "lxc.network.ipv4", "lxc.utsname",
           "lxc.limit.nofile", "lxc.rootfs", "lxc.pivotdir", "lxc.include", "lxc.foo", "x"])
VALUES = [r.example for r in K.ROWS + K.NET_KEYS if r.example] + [
    "", "0", "1", "-1", "99999999999999999999", "SIGRTMIN+99", "u 0 0 0", "'quoted'", '"',
    "a=b", "x" * 300, "\x00", "\udcff", "/", ".", "..", "unix:", "1:2:3", "auto", "dev"]

line = st.one_of(
    st.builds(lambda k, sp, v: f"{k}{sp}={sp}{v}", st.sampled_from(KEYS),
              st.sampled_from(["", " ", "\t", "  "]),
              st.one_of(st.sampled_from(VALUES), st.text(max_size=40))),
    st.sampled_from(["", "#", "# comment", "   ", "lxc.net =", "lxc.cgroup =", "=", "==",
                     "lxc.include = .", "lxc.include = /dev/null", "lxc.include = /proc"]),
    st.text(max_size=60),
)
document = st.lists(line, max_size=30).map("\n".join)

SETTINGS = settings(max_examples=int(os.environ.get("LXCZ_FUZZ_EXAMPLES", "300")), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _load(data: bytes) -> None:
    fd, path = tempfile.mkstemp(prefix="lxcz-fuzz-")
    try:
        os.write(fd, data)
        os.close(fd)
        try:
            cfg = ContainerConfig.load(path)
        except ConfigError:
            return
        for key in list({i.key for i in cfg.items()}):
            cfg.get_item(key)
            cfg.get(key)
            cfg.get_list(key)
        cfg.networks()
        cfg.unapplied()
        cfg.save(path)
        again = ContainerConfig.load(path)
        assert [(i.key, i.value) for i in again.items()] == [
            (i.key, i.value) for i in cfg.items()]
    finally:
        os.unlink(path)


@SETTINGS
@given(document)
def test_fuzz_text(text):
    _load(text.encode("utf-8", "surrogateescape"))


@SETTINGS
@given(st.binary(max_size=300))
def test_fuzz_bytes(data):
    _load(data)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(KEYS + ["lxc.net.0", "lxc.net.9.type"]),
                          st.one_of(st.sampled_from(VALUES), st.text(max_size=20)),
                          st.sampled_from(["set", "clear", "get"])), max_size=20))
def test_fuzz_api(ops):
    cfg = ContainerConfig()
    for key, value, op in ops:
        try:
            if op == "set":
                cfg.set_item(key, value)
            elif op == "clear":
                cfg.clear_item(key)
            else:
                cfg.get_item(key)
        except ConfigError:
            pass
    text = cfg.text()
    fd, path = tempfile.mkstemp(prefix="lxcz-fuzz-")
    os.close(fd)
    try:
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        again = ContainerConfig.load(path)
        assert [(i.key, i.value) for i in again.items()] == [
            (i.key, i.value) for i in cfg.items()]
    finally:
        os.unlink(path)


@SETTINGS
@given(document)
def test_fuzz_update_text(text):
    from lxcz.config import update

    once, _ = update.update_text(text)
    twice, changed = update.update_text(once)
    assert twice == once
    assert changed == []

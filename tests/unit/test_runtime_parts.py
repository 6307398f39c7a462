"""Runtime pieces that need no root: mount option parsing, symlink-safe resolution,
socket names, the JSON-lines channel, start specs from a configuration, tool options."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess

import pytest

from lxcz.errors import LxczError
from lxcz.runtime import api, paths, proto, rootfs
from lxcz.sys import calls


def test_parse_options():
    flags, prop, data, lxc = rootfs.parse_options("bind,ro,nosuid,create=dir,optional,size=1m")
    assert flags == calls.MS_BIND | calls.MS_RDONLY | calls.MS_NOSUID
    assert prop == 0 and data == ["size=1m"] and lxc == ["create=dir", "optional"]
    flags, prop, _, _ = rootfs.parse_options("rbind,rslave,rw")
    assert flags == calls.MS_BIND | calls.MS_REC
    assert prop == calls.MS_SLAVE | calls.MS_REC
    assert rootfs.parse_options("")[0] == 0


def test_rel_target():
    assert rootfs.rel_target("/var/lib/lxc/c1/rootfs/mnt", "/var/lib/lxc/c1/rootfs", "/r") == "mnt"
    assert rootfs.rel_target("/r/srv", "/x", "/r") == "srv"
    assert rootfs.rel_target("/srv/data", "/x", "/r") == "srv/data"
    assert rootfs.rel_target("srv", "/x", "/r") == "srv"


def test_rootfs_source():
    assert rootfs.rootfs_source("dir:/a/b") == ("dir", "/a/b")
    assert rootfs.rootfs_source("/a/b") == ("dir", "/a/b")
    assert rootfs.rootfs_source("overlay:/a:/b") == ("overlay", "/a:/b")


def test_resolve_creates_inside_and_refuses_links(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    (root / "rel").symlink_to("../outside")
    (root / "file").write_text("x")
    fd = os.open(str(root), os.O_PATH | os.O_DIRECTORY)
    try:
        t = rootfs.resolve(fd, "a/b/c", "dir")
        os.close(t)
        assert (root / "a" / "b" / "c").is_dir()
        t = rootfs.resolve(fd, "d/f", "file")
        os.close(t)
        assert (root / "d" / "f").is_file()
        for bad in ("link", "link/x", "rel/x", "a/../link"):
            with pytest.raises(LxczError):
                rootfs.resolve(fd, bad, "dir")
        with pytest.raises(LxczError, match="not a directory"):
            rootfs.resolve(fd, "file/x", "dir")
        with pytest.raises(LxczError, match="does not exist"):
            rootfs.resolve(fd, "missing", None)
    finally:
        os.close(fd)
    assert os.listdir(outside) == []


def test_socket_names():
    a = paths.command_socket("/var/lib/lxc", "c1")
    assert a == paths.command_socket("/var/lib/lxc/", "c1")
    assert a != paths.command_socket("/srv/lxc", "c1")
    assert len(paths.abstract(paths.command_socket("/" + "x" * 4000, "n" * 64))) < 108
    assert paths.lxcpath_key("/a") != paths.lxcpath_key("/b")


def test_abstract_names_finds_bound_sockets_by_prefix():
    key = f"lxcz-test-{os.getpid()}"
    socks = []
    try:
        for tail in ("a/command", "b/command"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(paths.abstract(f"{key}/{tail}"))
            s.listen(1)
            socks.append(s)
        assert sorted(paths.abstract_names(key + "/")) == [f"{key}/a/command",
                                                           f"{key}/b/command"]
        assert paths.abstract_names(key + "/a") == [f"{key}/a/command"]
        assert paths.abstract_names(key + "-nothing") == []
    finally:
        for s in socks:
            s.close()


def test_channel_roundtrip_with_fd():
    a, b = socket.socketpair()
    ca, cb = proto.Channel(a), proto.Channel(b)
    r, w = os.pipe()
    try:
        ca.send({"x": 1, "s": "é"}, [r])
        msg, fds = cb.recv()
        assert msg == {"x": 1, "s": "é"} and len(fds) == 1
        os.write(w, b"ok")
        assert os.read(fds[0], 2) == b"ok"
        os.close(fds[0])
        ca.send({"a": 1})
        ca.send({"b": 2})
        assert cb.recv()[0] == {"a": 1}
        assert cb.recv()[0] == {"b": 2}
        ca.close()
        assert cb.recv() == (None, [])
    finally:
        os.close(r)
        os.close(w)
        cb.close()


def test_wait_states_validation():
    assert api._states("RUNNING|FROZEN") == ["RUNNING", "FROZEN"]
    assert api._states("RUNNING||STOPPED|") == ["RUNNING", "STOPPED"]
    with pytest.raises(LxczError):
        api._states("RUNNING|BOGUS")
    # LXC 5 compares the names exactly
    with pytest.raises(LxczError, match=r"invalid state 'frozen' \(states are upper case: FROZEN\)"):
        api._states("RUNNING|frozen")
    with pytest.raises(LxczError, match="invalid state 'RUNNING '"):
        api._states("RUNNING |FROZEN")
    with pytest.raises(LxczError):
        api._states("")


def test_make_spec_from_config(tmp_path):
    from lxcz.container import Container
    from lxcz.runtime import start

    rootfs_dir = tmp_path / "rootfs"
    rootfs_dir.mkdir()
    cfg = tmp_path / "config"
    cfg.write_text(f"lxc.rootfs.path = dir:{rootfs_dir}\nlxc.uts.name = web\n"
                   "lxc.mount.auto = proc:mixed sys:ro\nlxc.tty.max = 4\n"
                   "lxc.environment = A=1\nlxc.signal.halt = SIGUSR1\n"
                   "lxc.namespace.keep = net\nlxc.hook.pre-start = /bin/true\n"
                   "lxc.cgroup.memory.limit_in_bytes = 1G\nlxc.init.cwd = /srv\n")
    c = Container("web", str(tmp_path), rcfile=str(cfg))
    s = start.make_spec(c, None, False, "lxc-start", {})
    assert s.cmd == ["/sbin/init"] and not s.useinit
    assert s.rootfs == str(rootfs_dir) and s.hostname == "web"
    assert s.mount_auto == ["proc:mixed", "sys:ro"] and s.tty_max == 4
    assert s.env == {"A": "1", "container": "lxc"}  # as LXC 5: no PATH, no TERM
    assert s.halt_signal == signal.SIGUSR1
    assert "net" not in s.clone and "mnt" in s.clone and "pid" in s.clone
    assert s.hooks["pre-start"] == ["/bin/true"]
    assert s.cgroup_v1 == {"memory.limit_in_bytes": "1G"}
    assert s.cwd == "/srv"
    s = start.make_spec(c, ["/bin/sh"], True, "lxc-execute", {"uid": 5})
    assert s.cmd == ["/bin/sh"] and s.useinit and s.uid == 5


def test_make_spec_refuses(tmp_path):
    from lxcz.container import Container
    from lxcz.runtime import start

    cfg = tmp_path / "config"
    cfg.write_text(f"lxc.rootfs.path = {tmp_path}/missing\n")
    c = Container("web", str(tmp_path), rcfile=str(cfg))
    with pytest.raises(LxczError, match="missing"):
        start.make_spec(c, None, False, "lxc-start", {})
    cfg.write_text("lxc.apparmor.profile = unconfined\n")
    c = Container("web", str(tmp_path), rcfile=str(cfg))
    try:
        start.make_spec(c, ["/bin/true"], True, "lxc-execute", {})
    except LxczError as err:
        assert f"{cfg}:1: lxc.apparmor.profile is not supported by lxcz yet" == str(err)
    cfg.write_text("lxc.uts.name = x\n")
    c = Container("web", str(tmp_path), rcfile=str(cfg))
    with pytest.raises(LxczError, match="no command"):
        start.make_spec(c, None, True, "lxc-execute", {})


def test_stop_option_errors(capsys):
    from lxcz.tools import lxc_stop

    for argv in (["-n", "c", "-k", "--nokill"], ["-n", "c", "-k", "-r"],
                 ["-n", "c", "-k", "-t", "3"], ["-n", "c", "--nolock"],
                 ["-n", "c", "-t", "x"]):
        assert lxc_stop.main(argv) == 1
        assert capsys.readouterr().err.startswith("lxc-stop: ")


@pytest.mark.parametrize("tool", ["start", "execute", "stop", "wait", "monitor"])
def test_help_matches_upstream(tool, capsys):
    """Option block of --help the same as LXC 5's, when LXC is installed here."""
    import importlib

    exe = shutil.which(f"lxc-{tool}")
    if not exe:
        pytest.skip(f"upstream lxc-{tool} not installed")
    res = subprocess.run([exe, "--help"], capture_output=True, text=True)
    up = res.stdout + res.stderr
    mod = importlib.import_module(f"lxcz.tools.lxc_{tool}")
    assert mod.main(["--help"]) == 0
    ours = capsys.readouterr().out
    assert ours.rstrip("\n") == up.rstrip("\n")


def test_container_lock_serializes(tmp_path):
    from lxcz.runtime.lock import container_lock

    with container_lock(str(tmp_path), "c1"):
        with pytest.raises(LxczError, match="locked"):
            with container_lock(str(tmp_path), "c1", timeout=0.05):
                pass
        with container_lock(str(tmp_path), "c2", timeout=0.05):
            pass
    with container_lock(str(tmp_path), "c1", timeout=0.05):
        pass

"""lxc-cgroup, lxc-freeze, lxc-unfreeze and lxc-top on a real lxcz busybox container.

Skips when lxcz cannot create or start the busybox container (that is another part's
test); checks the container's cgroups are gone from every hierarchy after lxc-stop -k.
"""

from __future__ import annotations

import glob
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from lxcz.cgroups import layout as L

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOUNTS = [h.mountpoint for h in L.parse_mountinfo(open("/proc/self/mountinfo").read())] \
    if os.path.exists("/proc/self/mountinfo") else []


def tool(*argv, timeout=60):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "lxcz", *argv], capture_output=True,
                          text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def cgroups_of(name):
    return sorted(p for mp in MOUNTS for p in glob.glob(os.path.join(mp, f"lxc.*.{name}*")))


@pytest.fixture
def container(tmp_path):
    if not MOUNTS:
        pytest.skip("no cgroup filesystem mounted")
    name = f"lxczcgc{secrets.token_hex(3)}"
    lxcpath = str(tmp_path / "lxc")
    os.makedirs(lxcpath)
    r = tool("lxc-create", "-t", "busybox", "-n", name, "-P", lxcpath, timeout=120)
    if r.returncode != 0:
        pytest.skip(f"lxcz lxc-create -t busybox failed: {r.stderr.strip()}")
    with open(os.path.join(lxcpath, name, "config"), "w") as f:
        f.write(f"lxc.rootfs.path = dir:{lxcpath}/{name}/rootfs\n"
                f"lxc.uts.name = {name}\n"
                "lxc.autodev = 1\n"
                "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed\n"
                "lxc.cgroup.memory.limit_in_bytes = 96M\n"
                "lxc.cgroup.pids.max = 200\n")
    r = tool("lxc-start", "-n", name, "-P", lxcpath, timeout=60)
    try:
        if r.returncode != 0:
            pytest.skip(f"lxcz lxc-start failed: {r.stderr.strip()}")
        yield name, lxcpath
    finally:
        tool("lxc-unfreeze", "-n", name, "-P", lxcpath)
        tool("lxc-stop", "-k", "-n", name, "-P", lxcpath)
        end = time.monotonic() + 10
        while cgroups_of(name) and time.monotonic() < end:
            time.sleep(0.05)
        left = cgroups_of(name)
        tool("lxc-destroy", "-f", "-n", name, "-P", lxcpath)
        assert left == [], f"cgroups left after lxc-stop -k: {left}"


def test_cgroup_freeze_top(container):
    name, lxcpath = container
    r = tool("lxc-cgroup", "-n", name, "-P", lxcpath, "memory.limit_in_bytes")
    assert (r.returncode, r.stdout) == (0, f"{96 << 20}\n\n")  # as LXC: an empty line
    r = tool("lxc-cgroup", "-n", name, "-P", lxcpath, "pids.max")
    assert r.stdout == "200\n\n"  # as LXC: an empty line after the value
    r = tool("lxc-cgroup", "-n", name, "-P", lxcpath, "memory.foo")
    assert r.returncode == 1
    assert r.stderr == f'lxc-cgroup: {name}: unknown cgroup key "memory.foo"\n'

    assert tool("lxc-freeze", "-n", name, "-P", lxcpath).returncode == 0
    r = tool("lxc-info", "-n", name, "-P", lxcpath, "-s")
    assert "FROZEN" in r.stdout
    key = "freezer.state" if any(m.endswith("/freezer") for m in MOUNTS) else "cgroup.freeze"
    assert tool("lxc-cgroup", "-n", name, "-P", lxcpath, key).stdout in ("FROZEN\n\n", "1\n\n")
    assert tool("lxc-unfreeze", "-n", name, "-P", lxcpath).returncode == 0
    r = tool("lxc-info", "-n", name, "-P", lxcpath, "-s")
    assert "RUNNING" in r.stdout

    env = dict(os.environ, PYTHONPATH=ROOT)
    top = subprocess.Popen([sys.executable, "-m", "lxcz", "lxc-top", "-b", "-d", "0.2",
                            "-P", lxcpath], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True, env=env)
    try:
        header = top.stdout.readline()
        row = top.stdout.readline()
    finally:
        top.send_signal(signal.SIGINT)
        out, err = top.communicate(timeout=10)
    assert top.returncode == 0, err
    assert header.startswith("time_ms,container,cpu_nanos,")
    cols = row.strip().split(",")
    assert cols[1] == name and len(cols) == 10
    assert int(cols[2]) > 0 and int(cols[7]) > 0  # CPU ns, memory bytes


def test_top_interactive_on_a_terminal(container):
    import pty
    import select

    name, lxcpath = container
    pid, fd = pty.fork()
    if pid == 0:  # the child: lxc-top on the pty
        os.environ["PYTHONPATH"] = ROOT
        try:
            os.execv(sys.executable, [sys.executable, "-m", "lxcz", "lxc-top", "-d", "0.3",
                                      "-P", lxcpath])
        finally:
            os._exit(127)
    out = b""
    try:
        end = time.monotonic() + 20
        while b"TOTAL 1 of 1" not in out and time.monotonic() < end:
            if select.select([fd], [], [], 0.2)[0]:
                out += os.read(fd, 65536)
        os.write(fd, b"q")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("lxc-top did not quit on 'q'")
    finally:
        os.close(fd)
    text = out.decode(errors="replace")
    assert "Container" in text and "TOTAL 1 of 1" in text
    rows = text.replace("\r", "").replace("\033[0m", "").split("\n")
    assert any(line.startswith(name[:18]) for line in rows)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

"""Processes created in their cgroups (clone3 CLONE_INTO_CGROUP, v1 tasks "0") and the
daemon monitor re-executed lean once idle: where init, an attached process and the
monitor end up in every hierarchy, that the lean monitor still serves every command and
cleans up, and the fallback when clone3 is refused."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runtime_fixtures as R  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def cgroups_of(pid: int) -> dict:
    """{hierarchy (controllers, or "" for cgroup2): path} of a process."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrl, path = line.rstrip("\n").split(":", 2)
            out[ctrl] = path
    return out


def monitor_of(lxcpath: str, name: str) -> int:
    pid = int(R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-pH", check=True).stdout)
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


@pytest.fixture
def running(tmp_path):
    name = R.unique("lean")
    lxcpath, _ = R.fresh_busybox(tmp_path, name, R.HALT_USR1 + "lxc.tty.max = 1\n")
    before = R.snapshot(name)
    try:
        r = R.lxcz("lxc-start", "-n", name, "-P", lxcpath, "-d")
        assert r.returncode == 0, r.stderr
        yield lxcpath, name
    finally:
        R.lxcz("lxc-stop", "-n", name, "-P", lxcpath, "-k", timeout=20)
        assert R.wait_clean(name, before) == before


def test_init_and_monitor_are_in_their_cgroups(running):
    lxcpath, name = running
    init = int(R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-pH", check=True).stdout)
    for ctrl, path in cgroups_of(init).items():
        assert path.endswith(f"/lxc.payload.{name}"), (ctrl, path)
    for ctrl, path in cgroups_of(monitor_of(lxcpath, name)).items():
        assert path.endswith(f"/lxc.monitor.{name}"), (ctrl, path)


def test_attached_process_lands_in_the_payload_cgroup(running):
    lxcpath, name = running
    p = R.popen("lxc-attach", "-n", name, "-P", lxcpath, "--", "/bin/sleep", "5")
    try:
        init = int(R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-pH").stdout)
        deadline = time.monotonic() + 5
        sleeper = None
        while sleeper is None and time.monotonic() < deadline:
            for pid in os.listdir("/proc"):
                if pid.isdigit() and int(pid) != init:
                    try:
                        if cmdline(int(pid)).strip() == "/bin/sleep 5" and \
                                f"lxc.payload.{name}" in open(f"/proc/{pid}/cgroup").read():
                            sleeper = int(pid)
                    except OSError:
                        pass
            time.sleep(0.05)
        assert sleeper, "the attached process is not in the container's cgroups"
        # cgroup2: in the leaf .lxc below the container's cgroup, as LXC 5 attaches
        assert all(p.endswith(f"/lxc.payload.{name}" + ("/.lxc" if ctrl == "" else ""))
                   for ctrl, p in cgroups_of(sleeper).items())
    finally:
        p.kill()
        p.wait()


def test_idle_monitor_goes_lean_and_still_serves(running):
    lxcpath, name = running
    mon = monitor_of(lxcpath, name)
    assert "[lxcz monitor]" not in cmdline(mon)
    wait_lean(mon)
    line = cmdline(mon)
    assert "[lxcz monitor]" in line and f" {name} " in line + " "
    assert monitor_of(lxcpath, name) == mon  # the same process, re-executed
    info = R.lxcz("lxc-info", "-n", name, "-P", lxcpath)
    assert "RUNNING" in info.stdout, info.stderr
    item = R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-c", "lxc.uts.name")
    assert item.stdout.strip() == f"lxc.uts.name = {name}", item.stderr
    r = R.lxcz("lxc-attach", "-n", name, "-P", lxcpath, "--", "/bin/sh", "-c", "exit 7")
    assert r.returncode == 7, r.stderr
    assert R.lxcz("lxc-freeze", "-n", name, "-P", lxcpath).returncode == 0
    assert "FROZEN" in R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-s").stdout
    assert R.lxcz("lxc-unfreeze", "-n", name, "-P", lxcpath).returncode == 0
    for ctrl, path in cgroups_of(mon).items():
        assert path.endswith(f"/lxc.monitor.{name}"), (ctrl, path)
    r = R.lxcz("lxc-stop", "-n", name, "-P", lxcpath, "-k")
    assert r.returncode == 0, r.stderr
    assert "STOPPED" in R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-s").stdout


def file_rss_kb(pid: int) -> int:
    """Resident kB of pid's file mappings (Rss - Anonymous)."""
    vals = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[-1] == "kB":
                vals[parts[0]] = int(parts[1])
    return vals["Rss:"] - vals["Anonymous:"]


def wait_trimmed(mon: int, limit: int) -> int:
    deadline = time.monotonic() + 10
    while file_rss_kb(mon) >= limit and time.monotonic() < deadline:
        time.sleep(0.2)
    return file_rss_kb(mon)


def test_idle_monitor_gives_back_startup_pages_and_still_serves(running):
    """lxcz.sys.trim: once quiet, the monitor keeps fewer file pages resident than a bare
    interpreter that has just started (whose whole start-up is still mapped); a request
    brings back what it needs and the next quiet spell trims again."""
    lxcpath, name = running
    mon = monitor_of(lxcpath, name)
    wait_lean(mon)
    bare = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        limit = file_rss_kb(bare.pid)
    finally:
        bare.kill()
        bare.wait()
    assert wait_trimmed(mon, limit) < limit
    r = R.lxcz("lxc-attach", "-n", name, "-P", lxcpath, "--", "/bin/sh", "-c", "exit 3")
    assert r.returncode == 3, r.stderr
    assert "RUNNING" in R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-s").stdout
    assert wait_trimmed(mon, limit) < limit
    assert R.lxcz("lxc-stop", "-n", name, "-P", lxcpath, "-k").returncode == 0


def wait_lean(mon: int) -> None:
    deadline = time.monotonic() + 10
    while "[lxcz monitor]" not in cmdline(mon) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "[lxcz monitor]" in cmdline(mon)


def test_lean_monitor_reboots_the_container(tmp_path):
    name = R.unique("leanrb")
    lxcpath, _ = R.fresh_busybox(tmp_path, name, R.HALT_USR1 +
                                 "lxc.signal.reboot = SIGTERM\n")  # busybox: reboot
    before = R.snapshot(name)
    try:
        assert R.lxcz("lxc-start", "-n", name, "-P", lxcpath, "-d").returncode == 0
        mon = monitor_of(lxcpath, name)
        wait_lean(mon)
        first = R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-pH").stdout.strip()
        r = R.lxcz("lxc-stop", "-n", name, "-P", lxcpath, "-r", "-t", "10")
        assert r.returncode == 0, r.stderr
        assert R.lxcz("lxc-wait", "-n", name, "-P", lxcpath, "-s", "RUNNING",
                      "-t", "10").returncode == 0
        second = R.lxcz("lxc-info", "-n", name, "-P", lxcpath, "-pH").stdout.strip()
        assert second and second != first
        assert monitor_of(lxcpath, name) == mon
        assert R.lxcz("lxc-attach", "-n", name, "-P", lxcpath, "--",
                      "/bin/true").returncode == 0
    finally:
        R.lxcz("lxc-stop", "-n", name, "-P", lxcpath, "-k", timeout=20)
        assert R.wait_clean(name, before) == before


def test_lean_monitor_keeps_the_console(running):
    lxcpath, name = running
    wait_lean(monitor_of(lxcpath, name))
    # the tty is served by the re-executed monitor: a shell on it answers
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:
        env = dict(os.environ, PYTHONPATH=R.ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "lxcz", "lxc-console", "-n", name,
                                   "-P", lxcpath, "-t", "1"], env)
    try:
        out = b""
        deadline = time.monotonic() + 10
        os.write(fd, b"\r")
        while b"login" not in out.lower() and b"#" not in out and \
                time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
            else:
                os.write(fd, b"\r")
        assert out, "no output through the lean monitor's tty"
        os.write(fd, b"\x01q")
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)


def unified_mount() -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if " - cgroup2 " in line:
                return line.split()[4]
    pytest.skip("no cgroup2 mount")


def cgroup2_of_child(fork, after=None) -> tuple:
    """fork() -> (pid, extra); the child runs after(extra), then reports its
    /proc/self/cgroup line for cgroup2 and exits 3. Returns (that line, extra)."""
    rfd, wfd = os.pipe()
    pid, extra = fork()
    if pid == 0:
        try:
            if after is not None:
                after(extra)
            with open("/proc/self/cgroup") as f:
                os.write(wfd, f.read().encode())
        finally:
            os._exit(3)
    os.close(wfd)
    data = os.read(rfd, 4096).decode()
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 3, data
    return [ln for ln in data.splitlines() if ln.startswith("0::")][0], extra


@pytest.fixture
def v2dir():
    target = os.path.join(unified_mount(), R.unique("enter"))
    os.mkdir(target)
    try:
        yield target
    finally:
        os.rmdir(target)


def test_clone3_refused_falls_back_to_a_plain_fork(v2dir, monkeypatch):
    """With clone3 unavailable the child still ends up in the cgroup2 directory."""
    from lxcz.cgroups import enter
    from lxcz.sys import clone

    def refuse(_fd):
        raise OSError(errno.ENOSYS, "clone3: refused by the test")

    monkeypatch.setattr(clone, "fork_into_cgroup", refuse)
    line, in_v2 = cgroup2_of_child(lambda: enter.fork_into([v2dir]),
                                   lambda v2: enter.join_self([v2dir], v2))
    assert in_v2 is False
    assert line.endswith("/" + os.path.basename(v2dir)), line


def test_attach_leaf_that_refuses_processes_falls_back_to_the_cgroup(v2dir):
    """lxc-attach's leaf .lxc (enter.leaf) may refuse a process: here the container's
    cgroup has a threaded child, which makes any new domain child ``domain invalid``.
    clone3 into the leaf fails, and so does writing to its cgroup.procs; the child then
    joins the container's cgroup itself."""
    from lxcz.cgroups import enter

    threaded = os.path.join(v2dir, "t")
    leaf = os.path.join(v2dir, ".lxc")
    os.mkdir(threaded)
    try:
        try:
            with open(os.path.join(threaded, "cgroup.type"), "w") as f:
                f.write("threaded")
        except OSError as err:
            pytest.skip(f"cannot make a threaded cgroup here: {err}")
        paths = enter.leaf([v2dir])
        assert paths == [leaf]
        with open(os.path.join(leaf, "cgroup.type")) as f:
            assert f.read().strip() == "domain invalid"
        line, _ = cgroup2_of_child(lambda: enter.fork_into(paths),
                                   lambda v2: enter.join_self(paths, v2))
        assert line.endswith("/" + os.path.basename(v2dir)), line
    finally:
        for d in (leaf, threaded):
            if os.path.isdir(d):
                os.rmdir(d)


def test_clone3_child_starts_in_the_cgroup(v2dir):
    from lxcz.sys import clone

    fd = os.open(v2dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            line, _ = cgroup2_of_child(lambda: (clone.fork_into_cgroup(fd), None))
        except OSError as err:
            pytest.skip(f"clone3 not available: {err}")
    finally:
        os.close(fd)
    assert line.endswith("/" + os.path.basename(v2dir)), line

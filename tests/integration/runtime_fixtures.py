"""Helpers for the runtime integration tests: a busybox rootfs, a minimal config, a
defined busybox container, one test's container as a fixture body, running the tools,
snapshots of host state (mounts, cgroups, processes, sockets) to prove a test left
nothing behind, and running a function in a forked child."""

from __future__ import annotations

import glob
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
import traceback
import uuid
from contextlib import contextmanager

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "ps", "echo", "sleep", "true", "false", "mount", "kill", "id",
           "hostname", "readlink", "wc", "test", "touch", "mkdir", "stat", "grep", "env",
           "pwd", "printf", "dd", "ln", "rm", "init", "reboot", "poweroff", "halt", "head",
           "ip")


def have_busybox() -> bool:
    if not os.path.exists(BUSYBOX):
        return False
    out = subprocess.run(["file", "-L", BUSYBOX], capture_output=True, text=True).stdout \
        if shutil.which("file") else "statically"
    return "statically" in out or "static-pie" in out


needs_busybox = pytest.mark.skipif(not have_busybox(), reason="needs a static busybox "
                                   "(apt-get install busybox-static)")


def make_rootfs(path: str) -> str:
    """A busybox rootfs: bin/ with the applets, sbin/init, etc/inittab, empty dirs."""
    for d in ("bin", "sbin", "etc", "tmp", "root", "dev", "mnt"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))
    os.symlink("../bin/busybox", os.path.join(path, "sbin", "init"))
    with open(os.path.join(path, "etc", "inittab"), "w") as f:
        f.write("::sysinit:/bin/true\n::respawn:/bin/sleep 100000\n"
                "::ctrlaltdel:/bin/reboot\n")
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    return path


def unique(prefix: str = "rt") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def write_config(path: str, rootfs: str, name: str, extra: str = "") -> str:
    with open(path, "w") as f:
        f.write(f"lxc.rootfs.path = dir:{rootfs}\nlxc.uts.name = {name}\n"
                "lxc.mount.auto = proc:mixed sys:mixed\n"
                "lxc.signal.halt = SIGUSR1\nlxc.signal.reboot = SIGTERM\n" + extra)
    return path


def busybox_config(rootfs: str, name: str, extra: str = "") -> str:
    """The configuration text of a defined busybox container: its rootfs and name, proc and
    sys mounted, /dev populated (autodev), then extra."""
    return (f"lxc.rootfs.path = dir:{rootfs}\nlxc.uts.name = {name}\n"
            "lxc.mount.auto = proc:mixed sys:mixed\nlxc.autodev = 1\n" + extra)


HALT_USR1 = "lxc.signal.halt = SIGUSR1\n"


def define_busybox(lxcpath: str, name: str, extra: str = HALT_USR1) -> str:
    """A defined container LXCPATH/NAME: rootfs/ (busybox) and config (busybox_config with
    extra, by default SIGUSR1 as the halt signal, which busybox init takes). The rootfs."""
    cdir = os.path.join(lxcpath, name)
    os.makedirs(cdir)
    rootfs = make_rootfs(os.path.join(cdir, "rootfs"))
    with open(os.path.join(cdir, "config"), "w") as fh:
        fh.write(busybox_config(rootfs, name, extra))
    return rootfs


def fresh_busybox(tmp_path: object, name: str, extra: str = HALT_USR1) -> Tuple[str, str]:
    """Skip the test without a static busybox; else define NAME (define_busybox with extra)
    in a new lxcpath tmp_path/lxc. Returns (lxcpath, rootfs)."""
    if not have_busybox():
        pytest.skip("busybox-static not installed")
    lxcpath = os.path.join(str(tmp_path), "lxc")
    return lxcpath, define_busybox(lxcpath, name, extra)


@contextmanager
def busybox_box(tmp_path: object, lxcpath: str, prefix: str) -> Iterator[dict]:
    """One test's busybox container: a unique name starting with prefix, a rootfs under
    tmp_path, and the host snapshot before it. Yields {"name", "rootfs", "lxcpath", "tmp",
    "before"} for the fixture to add to; afterwards kills whatever still runs under that
    name and asserts the host is as the snapshot found it."""
    name = unique(prefix)
    rootfs = make_rootfs(os.path.join(str(tmp_path), "rootfs"))
    before = snapshot(name)
    yield {"name": name, "rootfs": rootfs, "lxcpath": lxcpath, "tmp": str(tmp_path),
           "before": before}
    lxcz("lxc-stop", "-n", name, "-P", lxcpath, "-k", timeout=20)
    assert wait_clean(name, before) == before


def run_with(box: dict, extra: str, *cmd: str,
             tool: str = "lxc-execute") -> subprocess.CompletedProcess:
    """Write box's tmp/config (its rootfs and name, proc and sys mounted, then extra) and
    run TOOL -n NAME -P LXCPATH -f that config -- CMD."""
    cfg = os.path.join(box["tmp"], "config")
    with open(cfg, "w") as f:
        f.write(f"lxc.rootfs.path = dir:{box['rootfs']}\nlxc.uts.name = {box['name']}\n"
                "lxc.mount.auto = proc:mixed sys:mixed\n" + extra)
    return lxcz(tool, "-n", box["name"], "-P", box["lxcpath"], "-f", cfg, "--", *cmd)


def sh_with(box: dict, extra: str, script: str) -> subprocess.CompletedProcess:
    """run_with(box, extra, "/bin/sh", "-c", script)."""
    return run_with(box, extra, "/bin/sh", "-c", script)


UP = "/usr/bin"  # upstream LXC 5's tools (apt-get install lxc)
UPSTREAM_MARKS = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not os.path.exists(f"{UP}/lxc-start") or
                       not os.path.exists("/usr/share/lxc/templates/lxc-busybox"),
                       reason="upstream LXC 5 (apt-get install lxc) not installed"),
]


def up(tool: str, *args: str) -> subprocess.CompletedProcess:
    """Run upstream LXC's tool."""
    return subprocess.run([f"{UP}/{tool}", *args], capture_output=True, text=True, timeout=60)


def up_lxcpath(tmp_path: Any) -> Tuple[str, str]:
    """(a new lxcpath below tmp_path, an empty config file in it for lxc-create -f: no
    network, so no lxcbr0 is needed)."""
    path = str(tmp_path / "lxc")
    os.makedirs(path)
    empty = os.path.join(path, "empty.conf")
    open(empty, "w").close()
    return path, empty


def lxcz(*args: str, timeout: float = 30, input: str | None = None,
         check: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m lxcz ARGS` from the source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-m", "lxcz", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, input=input,
                          check=check)


def popen(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT
    return subprocess.Popen([sys.executable, "-m", "lxcz", *args], cwd=ROOT, env=env, **kw)


def snapshot(name: str) -> dict:
    """What a container NAME could leave behind on the host."""
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(" ".join(ln.split()[3:5]) for ln in f)
    cgroups = sorted(glob.glob(f"/sys/fs/cgroup/*/lxc.*.{name}*") +
                     glob.glob(f"/sys/fs/cgroup/*/*/lxc.*.{name}*"))
    with open("/proc/net/unix") as f:
        socks = sorted(ln.split()[-1] for ln in f if f"/{name}/" in ln)
    procs = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if f" {name} " in cmd + " ":
                procs.append(cmd)
    return {"mounts": mounts, "cgroups": cgroups, "sockets": socks, "procs": procs}


def wait_clean(name: str, before: dict, timeout: float = 5.0) -> dict:
    """Snapshot again until it equals before (processes take a moment to go)."""
    deadline = time.monotonic() + timeout
    while True:
        now = snapshot(name)
        if now == before or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def in_child(fn: Callable[[], Any]) -> Any:
    """Run fn() in a forked child, which alone it may change; return what it returned
    (JSON-able), or raise AssertionError with the child's traceback."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            out = {"ok": fn()}
        except BaseException:
            out = {"error": traceback.format_exc()}
        try:
            os.write(wfd, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    try:
        chunks = []
        while True:
            b = os.read(rfd, 65536)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
    assert chunks, f"child died without answering (wait status {status})"
    out = json.loads(b"".join(chunks))
    if "error" in out:
        raise AssertionError("in child:\n" + out["error"])
    return out["ok"]


def force_cleanup(name: str, lxcpath: str) -> None:
    """Last resort in fixtures: kill the container through lxc-stop -k."""
    lxcz("lxc-stop", "-n", name, "-P", lxcpath, "-k", timeout=20)


def console_session(argv: list, env: dict | None = None) -> Tuple[bytes, int]:
    """Run a console client (argv; env added to ours) on a new pty: wake the console with
    Enter, run `echo hi-$((6*7))`, leave with Ctrl-a q. (everything read, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(env or {})
        os.execv(argv[0], argv)
    out = b""

    def pump(seconds: float) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return

    try:
        pump(1.0)
        os.write(fd, b"\r")
        pump(0.5)
        os.write(fd, b"echo hi-$((6*7))\r")
        pump(1.0)
        os.write(fd, b"\x01q")
        pump(1.0)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return out, os.waitstatus_to_exitcode(status)

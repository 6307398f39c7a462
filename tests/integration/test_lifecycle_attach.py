"""lxc-attach and lxc-console as root: the attach core against a process the test makes
in new namespaces, then the tools against a running busybox container — exit codes,
environment, ids, namespaces, cgroup, the pty and its log, the console escape — and the
security promises: no host descriptor and a non-dumpable process before anything runs."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lifecycle_util as U  # noqa: E402

from lxcz.errors import LxczError  # noqa: E402

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(not U.have_busybox(), reason="no busybox on the host")]


# -- the core, without any container runtime -------------------------------------------

@pytest.fixture
def target():
    """`sleep` as PID 1 of new pid/mount/uts/ipc/net namespaces (made by unshare)."""
    if not U.shutil.which("unshare"):
        pytest.skip("needs util-linux unshare")
    p = subprocess.Popen(["unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc",
                          "--net", "sleep", "60"])
    try:
        inner = None
        for _ in range(100):
            try:
                with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                inner = int(kids[0])
                break
            time.sleep(0.02)
        assert inner, "unshare did not start its child"
        yield inner
    finally:
        p.kill()
        p.wait()


def test_core_namespaces_env_and_exit_code(target, tmp_path):
    from lxcz.runtime import attach as A

    out = tmp_path / "out"
    with open(out, "w") as f:
        st = A.attach_to_pid(target, A.attach_run_command,
                             ["/bin/sh", "-c", "echo $$ $container $A; readlink "
                              "/proc/self/ns/net; exit 3"],
                             env=A.build_env(A.LXC_ATTACH_CLEAR_ENV, ["A=b"]),
                             stdio=(0, f.fileno(), 2))
    assert A.exit_code(st) == 3
    first, netns = out.read_text().splitlines()
    assert first.split()[1:] == ["lxc", "b"]
    assert int(first.split()[0]) > 1  # a pid of the new namespace, not the host's
    assert netns == os.readlink(f"/proc/{target}/ns/net")


def test_core_closes_host_fds_and_is_not_dumpable(target, tmp_path):
    from lxcz.runtime import attach as A

    leaked = os.open("/etc/hostname", os.O_RDONLY)  # inheritable on purpose
    os.set_inheritable(leaked, True)
    result = tmp_path / "result"

    def probe(_payload):
        from lxcz.sys import calls

        fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
        dumpable = calls.prctl(calls.PR_GET_DUMPABLE)
        os.write(1, f"{','.join(map(str, fds))} {dumpable}\n".encode())
        return 0

    try:
        with open(result, "w") as f:
            st = A.attach_to_pid(target, probe, None, stdio=(0, f.fileno(), 2),
                                 namespaces=["pid", "uts", "ipc", "net"])
    finally:
        os.close(leaked)
    assert A.exit_code(st) == 0
    text, dumpable = result.read_text().rsplit(" ", 1)
    fds = [int(x) for x in text.split(",")]
    # 0, 1, 2 and the directory listing's own descriptor; nothing from the host
    assert fds[:3] == [0, 1, 2] and len(fds) <= 4, fds
    assert dumpable.strip() == "0"


def test_core_exec_failures(target):
    from lxcz.runtime import attach as A

    assert A.exit_code(A.attach_to_pid(target, A.attach_run_command, ["/nonexistent"])) \
        == 127
    assert A.exit_code(A.attach_to_pid(target, A.attach_run_command, ["/etc/hostname"])) \
        == 126


def test_core_drops_capabilities_and_ids(target, tmp_path):
    from lxcz.runtime import attach as A

    out = tmp_path / "out"
    with open(out, "w") as f:
        st = A.attach_to_pid(target, A.attach_run_command,
                             ["/bin/sh", "-c", "id -u; id -g; grep -E '^(CapBnd|NoNewPrivs)'"
                              " /proc/self/status"],
                             caps_keep={0, 1}, no_new_privs=True, uid=1234, gid=2345,
                             stdio=(0, f.fileno(), 2))
    assert A.exit_code(st) == 0
    lines = out.read_text().split()
    assert lines[:2] == ["1234", "2345"]
    assert lines[lines.index("CapBnd:") + 1] == "0000000000000003"
    assert lines[lines.index("NoNewPrivs:") + 1] == "1"


# -- the tools on a running container ------------------------------------------------

@pytest.fixture(scope="module")
def running(tmp_path_factory):
    lxcpath = str(tmp_path_factory.mktemp("lcattach"))
    name = U.unique("la")
    try:
        U.create_busybox(lxcpath, name)
        with open(os.path.join(lxcpath, name, "config"), "a") as f:
            f.write("lxc.environment = FROMCONFIG=yes\n")
        pid = U.start(lxcpath, name)
        yield lxcpath, name, pid
    finally:
        U.stop_and_destroy(lxcpath, name)
        assert U.wait_gone(name, lxcpath) == {"mounts": [], "cgroups": [], "sockets": []}


def attach(running, *args, **kw):
    lxcpath, name, _ = running
    return U.tool("lxc-attach", "-n", name, "-P", lxcpath, *args, **kw)


@pytest.mark.parametrize("cmd,code", [
    (["/bin/sh", "-c", "exit 7"], 7), (["/bin/true"], 0), (["/nonexistent"], 127),
    (["/etc/passwd"], 126), (["/bin/sh", "-c", "kill -9 $$"], 137),
])
def test_exit_codes(running, cmd, code):
    r = attach(running, "--", *cmd)
    assert r.returncode == code, r.stderr
    if code in (126, 127):
        assert r.stderr.startswith(f"lxc-attach: {running[1]}: failed to exec")
        assert len(r.stderr.splitlines()) == 1


def test_environment_policies(running):
    env = dict(os.environ, LEAK="host", KEEPME="k")
    r = attach(running, "--", "env", env=env)
    got = dict(ln.split("=", 1) for ln in r.stdout.splitlines() if "=" in ln)
    assert got["LEAK"] == "host" and got["container"] == "lxc"
    assert got["FROMCONFIG"] == "yes"
    r = attach(running, "--clear-env", "--keep-var", "KEEPME", "-v", "A=1", "-v", "B=2",
               "--", "env", env=env)
    got = dict(ln.split("=", 1) for ln in r.stdout.splitlines() if "=" in ln)
    assert "LEAK" not in got
    assert got["KEEPME"] == "k" and got["A"] == "1" and got["B"] == "2"
    assert got["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_ids_cwd_and_namespaces(running, tmp_path):
    lxcpath, name, pid = running
    r = attach(running, "-u", "1000", "-g", "1001", "--", "/bin/sh", "-c", "id -u; id -g")
    assert r.stdout.split() == ["1000", "1001"]
    r = attach(running, "--", "hostname")
    assert r.stdout.strip() == name
    r = attach(running, "--", "pwd", cwd=str(tmp_path))  # not in the container: /
    assert r.stdout.strip() == "/"
    r = attach(running, "--", "/bin/sh", "-c", "echo $$; readlink /proc/self/ns/mnt")
    inner_pid, mntns = r.stdout.split()
    assert int(inner_pid) < 1000 and mntns == os.readlink(f"/proc/{pid}/ns/mnt")
    r = attach(running, "-s", "UTSNAME", "--", "/bin/sh", "-c", "hostname; cat /etc/hostname")
    assert r.stdout.splitlines()[0] == name
    with open("/etc/hostname") as f:
        assert r.stdout.splitlines()[1] == f.read().strip()  # host mount namespace
    r = attach(running, "-s", "BOGUS", "--", "true")
    assert r.returncode != 0 and "invalid namespace" in r.stderr


def test_joins_the_container_cgroup(running):
    """v1: the container's cgroups (the namespace's root); cgroup2: the leaf .lxc below
    the container's cgroup, made on first use, as LXC 5 does."""
    r = attach(running, "--", "/bin/sh", "-c", "cat /proc/self/cgroup")
    lines = r.stdout.splitlines()
    assert all(ln.endswith(":/") for ln in lines if not ln.startswith("0::")), r.stdout
    assert all(ln == "0::/.lxc" for ln in lines if ln.startswith("0::")), r.stdout
    r = attach(running, "-e", "--", "/bin/sh", "-c", "cat /proc/self/cgroup")
    assert r.returncode == 0


def test_words_before_the_double_dash_start_the_command(running):
    """getopt's order, as in LXC: -e takes a value only attached (-eCAP); a separate word
    before "--" is the start of the command."""
    r = attach(running, "-e", "CAP", "--", "true")
    assert r.returncode == 127 and '"CAP"' in r.stderr, (r.returncode, r.stderr)
    r = attach(running, "-eCAP", "--", "true")
    assert r.returncode == 0, r.stderr
    r = attach(running, "echo", "--", "a", "b")
    assert (r.returncode, r.stdout) == (0, "a b\n"), r.stderr


def test_command_starts_with_no_signal_ignored(running):
    """Python ignores SIGPIPE and SIGXFSZ; the attached command must not inherit that."""
    r = attach(running, "--", "grep", "SigIgn", "/proc/self/status")  # no shell: sh ignores some
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["SigIgn:", "0000000000000000"], r.stdout


def test_no_host_fds_reach_the_command(running):
    extra = os.open("/etc/hostname", os.O_RDONLY)
    os.set_inheritable(extra, True)
    try:
        r = subprocess.run([sys.executable, "-m", "lxcz", "lxc-attach", "-n", running[1],
                            "-P", running[0], "--", "/bin/sh", "-c",
                            "ls /proc/self/fd"], cwd=U.ROOT, close_fds=False,
                           env=dict(os.environ, PYTHONPATH=U.ROOT), capture_output=True,
                           text=True)
    finally:
        os.close(extra)
    fds = sorted(int(x) for x in r.stdout.split())
    assert fds[:3] == [0, 1, 2] and len(fds) == 4, r.stdout  # + ls's own listing fd


def run_in_pty(argv, feed, timeout=10.0):
    """Run argv on a new pty; write each (delay, bytes) of feed; return (output, code)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child
        os.environ["PYTHONPATH"] = U.ROOT
        os.chdir(U.ROOT)
        os.execvp(sys.executable, [sys.executable, "-m", "lxcz"] + argv)
    out = b""
    start = time.monotonic()
    pending = list(feed)
    while time.monotonic() - start < timeout:
        if pending and time.monotonic() - start >= pending[0][0]:
            os.write(fd, pending.pop(0)[1])
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
    try:
        _, status = os.waitpid(pid, os.WNOHANG)
        if _ == 0:
            os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return out, os.waitstatus_to_exitcode(status)


def test_pty_and_log(running, tmp_path):
    lxcpath, name, _ = running
    log = tmp_path / "pty.log"
    out, code = run_in_pty(["lxc-attach", "-n", name, "-P", lxcpath, "-L", str(log), "--",
                            "/bin/sh", "-c", "tty; read x; echo got-$x; exit 4"],
                           [(1.5, b"abc\r")])
    assert code == 4, out
    assert b"/dev/pts/" in out and b"got-abc" in out  # a pty of the container's devpts
    assert b"got-abc" in log.read_bytes()


def test_console_escape(running):
    lxcpath, name, _ = running
    out, code = run_in_pty(["lxc-console", "-n", name, "-P", lxcpath, "-t", "1"],
                           [(1.5, b"\r"), (2.5, b"\x01q")], timeout=8)
    assert code == 0, out
    assert b"Connected to tty 1" in out and b"Type <Ctrl+a q> to exit" in out
    out, code = run_in_pty(["lxc-console", "-n", name, "-P", lxcpath, "-t", "2", "-e", "b"],
                           [(1.5, b"\x02q")], timeout=8)
    assert code == 0 and b"<Ctrl+b q>" in out, out


def test_console_frees_its_tty_and_holds_it_alone(running):
    """A tty is free again once the session before ended (the next client often gets
    the same descriptor number in the monitor: ownership is by connection), and a
    second client of a tty in use is refused, the console (tty 0) included."""
    from lxcz.container import Container
    from lxcz.runtime import console_client

    lxcpath, name, _ = running
    for tty in ("1", "1", "0", "0"):
        out, code = run_in_pty(["lxc-console", "-n", name, "-P", lxcpath, "-t", tty],
                               [(1.2, b"\x01q")], timeout=8)
        assert code == 0 and f"Connected to tty {tty}".encode() in out, out
    c = Container(name, lxcpath)
    for tty in (1, 0):
        fd, num, chan = console_client._open_console(c, tty)  # a session in progress
        try:
            r = U.tool("lxc-console", "-n", name, "-P", lxcpath, "-t", str(tty))
            assert r.returncode == 1
            assert r.stderr == f"lxc-console: {name}: tty {tty} is busy\n"
        finally:
            os.close(fd)
            chan.close()
    time.sleep(0.3)  # the monitor sees the session end
    fd, num, chan = console_client._open_console(c, 1)
    os.close(fd)
    chan.close()
    assert num == 1


def test_console_shell_has_job_control_and_one_echo(running):
    """busybox's askfirst shell on the console gets it as its controlling terminal (the
    init holds none, as with LXC) and what is typed comes back once (the monitor's pty
    to the client is raw: only the container's console echoes)."""
    lxcpath, name, _ = running
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child
        os.environ["PYTHONPATH"] = U.ROOT
        os.chdir(U.ROOT)
        os.execvp(sys.executable, [sys.executable, "-m", "lxcz", "lxc-console", "-n", name,
                                   "-P", lxcpath, "-t", "0"])
    out = b""
    try:
        deadline = time.monotonic() + 20
        asked = False
        next_enter = time.monotonic() + 0.5
        while time.monotonic() < deadline and b"JC=" not in out:
            if not asked and time.monotonic() >= next_enter:
                if b"# " in out:  # the shell's prompt: ask it
                    os.write(fd, b"echo JC=$-\r")
                    asked = True
                else:  # askfirst waits for Enter (rcS may still run at first)
                    os.write(fd, b"\r")
                    next_enter = time.monotonic() + 1.0
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                out += os.read(fd, 4096)
        time.sleep(0.3)
        while select.select([fd], [], [], 0.1)[0]:
            out += os.read(fd, 4096)
        os.write(fd, b"\x01q")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"job control turned off" not in out and b"can't access tty" not in out, out
    flags = [ln for ln in out.split(b"\n") if ln.startswith(b"JC=")]
    assert flags and b"m" in flags[0], out
    assert out.count(b"echo JC=$-") == 1, out


def test_not_running_messages(running, tmp_path):
    lxcpath = running[0]
    stopped = U.unique("st")
    U.create_busybox(lxcpath, stopped)
    try:
        r = U.tool("lxc-attach", "-n", stopped, "-P", lxcpath, "--", "true")
        assert r.returncode == 1 and r.stderr == f"lxc-attach: {stopped}: {stopped} is not running\n"
        r = U.tool("lxc-console", "-n", stopped, "-P", lxcpath)
        assert r.returncode == 1 and r.stderr == f"lxc-console: {stopped}: {stopped} is not running\n"
    finally:
        U.stop_and_destroy(lxcpath, stopped)


def test_core_loads_seccomp_policy(target, tmp_path):
    from lxcz.runtime import attach as A
    from lxcz.security import seccomp_bpf, seccomp_policy

    prog = seccomp_bpf.compile_policy(seccomp_policy.parse_policy("2\ndenylist\nsethostname errno 1\n"))
    out = tmp_path / "out"
    with open(out, "w") as f:
        st = A.attach_to_pid(target, A.attach_run_command,
                             ["/bin/sh", "-c", "grep '^Seccomp:' /proc/self/status; "
                              "hostname foo || echo denied"],
                             seccomp=prog, stdio=(0, f.fileno(), f.fileno()))
    assert A.exit_code(st) == 0
    text = out.read_text()
    assert "Seccomp:\t2" in text and "denied" in text, text


def test_remount_sys_proc_and_arch(running):
    lxcpath, name, pid = running
    r = attach(running, "-s", "NETWORK", "-R", "--", "ls", "/sys/class/net")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == sorted(os.listdir(f"/proc/{pid}/root/sys/class/net"))
    r = attach(running, "-s", "NETWORK|PID", "-R", "--", "/bin/sh", "-c", "echo $$")
    assert int(r.stdout) < 1000  # /proc and the pid are the container's
    if os.uname().machine == "x86_64":
        assert attach(running, "-a", "i686", "--", "uname", "-m").stdout.strip() == "i686"
    r = attach(running, "-a", "vax", "--", "true")
    assert r.returncode != 0 and "Invalid architecture" in r.stderr


def test_attach_takes_the_init_label(running, tmp_path, monkeypatch):
    """Container.attach_wait puts the command under the label of the container's init.
    This kernel has no LSM: label_of stands in for reading /proc/PID/attr, and a file
    under tmp_path for /proc/thread-self/attr/apparmor/exec. The child opens it while it
    still sees the host and writes it inside the container's mount namespace (where
    tmp_path does not exist), just before exec."""
    from lxcz.container import Container
    from lxcz.runtime import attach as A
    from lxcz.security import lsm

    lxcpath, name, pid = running
    seen = []
    monkeypatch.setattr(lsm, "label_of", lambda p: seen.append(p) or
                        ("apparmor", "lxc-container-default-cgns"))
    from lxcz.runtime import client

    real_init = client.RunningConfig.__init__
    monkeypatch.setattr(client.RunningConfig, "__init__",  # as if the monitor had found AppArmor
                        lambda self, items: real_init(self, dict(items, lsm="apparmor")))
    attr = tmp_path / "exec"
    attr.write_text("")
    monkeypatch.setattr(lsm, "attr_path", lambda kind, now, proc="/proc": str(attr))
    out = tmp_path / "out"
    c = Container(name, lxcpath)
    with open(out, "w") as f:
        st = c.attach_wait(A.attach_run_command,
                           ["/bin/sh", "-c", f"test -e {attr} && echo host-visible; touch /lsm-ran"],
                           stdout=f)
    assert A.exit_code(st) == 0
    assert seen == [pid]
    assert attr.read_text() == "exec lxc-container-default-cgns"
    assert out.read_text() == ""  # the command ran in the container's file system
    marker = os.path.join(lxcpath, name, "rootfs", "lsm-ran")
    assert os.path.exists(marker)
    os.unlink(marker)
    # -e LSM (no LSM flags): nothing is read or written
    attr.write_text("")
    seen.clear()
    st = c.attach_wait(A.attach_run_command, ["/bin/true"],
                       attach_flags=A.LXC_ATTACH_DEFAULT & ~A.LXC_ATTACH_LSM)
    assert A.exit_code(st) == 0 and seen == [] and attr.read_text() == ""
    # a label the kernel cannot take: a clear error, the command never runs
    monkeypatch.setattr(lsm, "attr_path", lambda kind, now, proc="/proc":
                        str(tmp_path / "missing" / "exec"))
    with pytest.raises(LxczError, match='AppArmor profile "lxc-container-default-cgns"'):
        c.attach_wait(A.attach_run_command, ["/bin/sh", "-c", "touch /lsm-ran"])
    assert not os.path.exists(marker)


def test_context_option(running):
    """-c LABEL: with no LSM on this host the label is ignored, as LXC's no-op driver
    does; combined with elevated LSM privileges it is refused before anything runs."""
    r = attach(running, "-c", "system_u:system_r:container_t:s0", "--", "/bin/sh", "-c",
               "echo in")
    assert r.returncode == 0 and r.stdout == "in\n", r.stderr
    for extra in (["-e", "LSM"], ["-e"], ["-s", "NETWORK"]):
        r = attach(running, *extra, "-c", "x", "--", "/bin/sh", "-c", "touch /ctx-ran")
        assert r.returncode != 0
        assert r.stderr.startswith(f"lxc-attach: {running[1]}: cannot combine elevated LSM")
        assert len(r.stderr.splitlines()) == 1
        assert not os.path.exists(os.path.join(running[0], running[1], "rootfs", "ctx-ran"))

"""lxc-execute and lxc-init on a real kernel: the PID-1 init, exit codes, signals,
stdio, transient containers leaving nothing behind, and the /proc/1 hardening."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from runtime_fixtures import (
    ROOT,
    busybox_box,
    lxcz,
    needs_busybox,
    popen,
    snapshot,
    wait_clean,
    write_config,
)

pytestmark = needs_busybox


@pytest.fixture
def box(tmp_path, lxcpath):
    with busybox_box(tmp_path, lxcpath, "rx") as b:
        b["config"] = write_config(str(tmp_path / "config"), b["rootfs"], b["name"])
        yield b


def execute(box, *cmd, **kw):
    return lxcz("lxc-execute", "-n", box["name"], "-P", box["lxcpath"], "-f", box["config"],
                "--", *cmd, **kw)


def test_pid1_is_lxcz_init_and_command_is_pid2(box):
    r = execute(box, "/bin/sh", "-c", "echo $$; cat /proc/1/comm; hostname")
    assert r.returncode == 0, r.stderr
    pid, comm, host = r.stdout.split()
    assert pid == "2"
    assert comm == "init.lxcz"
    assert host == box["name"]


def test_exit_status_passes_through(box):
    assert execute(box, "/bin/sh", "-c", "exit 42").returncode == 42
    assert execute(box, "/bin/true").returncode == 0
    assert execute(box, "/bin/false").returncode == 1


def test_killed_by_signal_is_128_plus_n(box):
    r = execute(box, "/bin/sh", "-c", "kill -USR1 $$")
    assert r.returncode == 128 + signal.SIGUSR1


def test_command_not_found_127_not_executable_126(box):
    r = execute(box, "/nonexistent")
    assert r.returncode == 127
    assert "/nonexistent" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = execute(box, "/etc")
    assert r.returncode == 126
    assert "/etc" in r.stderr


def test_no_command_is_a_usage_error(box):
    r = lxcz("lxc-execute", "-n", box["name"], "-P", box["lxcpath"], "-f", box["config"])
    assert r.returncode != 0
    assert "command" in r.stderr.splitlines()[0]


def test_stdio_pass_through(box):
    r = execute(box, "/bin/sh", "-c", "read x; echo out:$x; echo err:$x >&2", input="hello\n")
    assert r.returncode == 0
    assert r.stdout == "out:hello\n"
    assert "err:hello" in r.stderr


def test_tty_passes_through(box):
    import pty

    master, slave = pty.openpty()
    try:
        env = dict(os.environ, PYTHONPATH=ROOT)
        import sys

        p = subprocess.Popen([sys.executable, "-m", "lxcz", "lxc-execute", "-n", box["name"],
                              "-P", box["lxcpath"], "-f", box["config"], "--", "/bin/sh", "-c",
                              "test -t 0 && test -t 1 && echo is-a-tty"],
                             stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env)
        os.close(slave)
        slave = -1
        out = b""
        deadline = time.monotonic() + 20
        while p.poll() is None or True:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if time.monotonic() > deadline:
                break
        assert p.wait(20) == 0
        assert b"is-a-tty" in out
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_zombies_are_reaped(box):
    # an orphan exits while the command still runs: init must reap it
    r = execute(box, "/bin/sh", "-c",
                "(sleep 0.1 &) ; sleep 0.5; ps -o stat,comm | grep -c '^Z' || true")
    assert r.returncode == 0
    assert r.stdout.strip() == "0"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                                 signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH])
def test_signals_reach_the_command(box, sig):
    ready = os.path.join(box["rootfs"], "tmp", "ready")
    script = (f"trap 'echo got; exit 9' {signal.Signals(sig).name[3:]}; touch /tmp/ready; "
              "while :; do sleep 0.05; done")
    p = popen("lxc-execute", "-n", box["name"], "-P", box["lxcpath"], "-f", box["config"],
              "--", "/bin/sh", "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.02)
        p.send_signal(sig)
        out, _ = p.communicate(timeout=20)
        assert p.returncode == 9
        assert b"got" in out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_signal_to_init_reaches_command(box):
    ready = os.path.join(box["rootfs"], "tmp", "ready")
    p = popen("lxc-execute", "-n", box["name"], "-P", box["lxcpath"], "-f", box["config"],
              "--", "/bin/sh", "-c",
              "trap 'exit 5' TERM; touch /tmp/ready; while :; do sleep 0.05; done",
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.02)
        r = lxcz("lxc-info", "-n", box["name"], "-P", box["lxcpath"], "-p", "-H")
        from lxcz.container import Container
        from lxcz.runtime import client

        pid = client.get_init_pid(Container(box["name"], box["lxcpath"]))
        assert pid > 0, r.stderr
        os.kill(pid, signal.SIGTERM)
        p.communicate(timeout=20)
        assert p.returncode == 5
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_transient_leaves_nothing(box):
    r = execute(box, "/bin/true")
    assert r.returncode == 0
    assert os.listdir(box["lxcpath"]) == []
    assert wait_clean(box["name"], box["before"]) == box["before"]


def test_init_closes_host_fds_and_is_not_dumpable(box):
    extra = os.open("/dev/null", os.O_RDONLY)  # inherited by lxc-execute, must not reach init
    os.set_inheritable(extra, True)
    try:
        env = dict(os.environ, PYTHONPATH=ROOT)
        import sys

        r = subprocess.run([sys.executable, "-m", "lxcz", "lxc-execute", "-n", box["name"],
                            "-P", box["lxcpath"], "-f", box["config"], "--", "/bin/sh", "-c",
                            "ls /proc/1/fd; echo ---; readlink /proc/1/root; readlink /proc/1/cwd;"
                            " echo ---; grep -c . /proc/1/status"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
                           close_fds=False)
    finally:
        os.close(extra)
    assert r.returncode == 0, r.stderr
    fds, roots, _ = r.stdout.split("---\n")
    assert fds.split() == ["0", "1", "2"]
    assert roots.split() == ["/", "/"]


def test_proc1_exe_cannot_be_written(box, tmp_path):
    import hashlib
    import sys

    def digest(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    exe = os.path.realpath(sys.executable)
    before = digest(exe)
    r = execute(box, "/bin/sh", "-c",
                "for f in /proc/1/exe /proc/1/fd/0 /proc/1/cwd/x /proc/1/root/x; do "
                "if (echo x >> $f) 2>/dev/null; then echo WROTE:$f; fi; done; "
                "cat /proc/1/mem >/dev/null 2>&1 && echo READMEM; true")
    assert r.returncode == 0
    assert "WROTE:/proc/1/exe" not in r.stdout
    assert digest(exe) == before
    # writes through /proc/1/root and /proc/1/cwd land in the container, not on the host
    assert not os.path.exists("/x")


def test_undefined_container_without_config(lxcpath):
    before = snapshot("nosuch")
    r = lxcz("lxc-execute", "-n", "nosuch", "-P", lxcpath, "--", "/bin/true")
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("lxc-execute: nosuch: ")
    assert snapshot("nosuch") == before


@pytest.mark.parametrize("bad", ["a/b", "..", "x" * 100])
def test_invalid_names(lxcpath, bad):
    r = lxcz("lxc-execute", "-n", bad, "-P", lxcpath, "--", "/bin/true")
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1


def refused(box, cfg):
    """lxc-execute /bin/true with the configuration file cfg, which must fail."""
    r = lxcz("lxc-execute", "-n", box["name"], "-P", box["lxcpath"], "-f", cfg, "--", "/bin/true")
    assert r.returncode != 0
    return r


def test_missing_rootfs(box, tmp_path):
    cfg = write_config(str(tmp_path / "bad.conf"), str(tmp_path / "nope"), box["name"])
    r = refused(box, cfg)
    assert "nope" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert wait_clean(box["name"], box["before"]) == box["before"]


def test_unknown_cgroup_key(box, tmp_path):
    cfg = write_config(str(tmp_path / "cg.conf"), box["rootfs"], box["name"],
                       "lxc.cgroup.memory.no_such_file = 1\n")
    r = refused(box, cfg)
    assert "memory.no_such_file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert wait_clean(box["name"], box["before"]) == box["before"]


def test_unsupported_key_is_refused(box, tmp_path):
    cfg = write_config(str(tmp_path / "u.conf"), box["rootfs"], box["name"],
                       "lxc.seccomp.notify.proxy = unix:/run/x.sock\n")
    r = refused(box, cfg)
    assert "lxc.seccomp.notify.proxy is not supported by lxcz yet" in r.stderr
    assert f"{cfg}:6:" in r.stderr


def test_uid_gid_options(box):
    r = lxcz("lxc-execute", "-n", box["name"], "-P", box["lxcpath"], "-f", box["config"],
             "-u", "65534", "-g", "65534", "--", "/bin/id", "-u")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "65534"


def test_define_and_environment(box):
    r = lxcz("lxc-execute", "-n", box["name"], "-P", box["lxcpath"], "-f", box["config"],
             "-s", "lxc.environment=FOO=bar", "-s", "lxc.uts.name=other", "--",
             "/bin/sh", "-c", "echo $FOO $container; hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["bar", "lxc", "other"]


def test_lxc_init_standalone_as_pid1():
    import shutil
    import sys

    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1)")
    env = dict(os.environ, PYTHONPATH=ROOT)
    base = ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "lxcz",
            "lxc-init", "-n", "x", "--"]
    r = subprocess.run(base + ["/bin/sh", "-c", "echo $$ $PPID; (sleep 60 &); exit 3"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 3, r.stderr
    assert r.stdout.split() == ["2", "1"]
    r = subprocess.run(base + ["/no/such"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 127


def test_init_hides_host_cmdline_and_environment(box):
    env = dict(os.environ, PYTHONPATH=ROOT, LXCZ_TEST_SECRET="s3cr3t-value")
    import sys

    r = subprocess.run([sys.executable, "-m", "lxcz", "lxc-execute", "-n", box["name"],
                        "-P", box["lxcpath"], "-f", box["config"], "--", "/bin/sh", "-c",
                        "cat /proc/1/cmdline; echo; cat /proc/1/environ; echo; echo $container"],
                       cwd=ROOT, env=env, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(b"init.lxcz\0")
    assert b"s3cr3t" not in out and b"lxcz lxc-execute" not in out and ROOT.encode() not in out
    assert out.rstrip(b"\n").endswith(b"lxc")


def test_dist_zipapp_execute_and_start(box, dist_lxcz):
    """The built zipapp: init forked after imports works with shiv's extracted cache."""
    import sys

    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    r = subprocess.run([py, dist_lxcz, "lxc-execute", "-n", box["name"], "-P", box["lxcpath"],
                        "-f", box["config"], "--", "/bin/sh", "-c",
                        "ls /proc/1/fd | tr '\\n' ' '; cat /proc/1/comm; exit 7"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 7, r.stderr
    assert r.stdout.split() == ["0", "1", "2", "init.lxcz"]
    # nothing of the zipapp or shiv's extracted cache is mapped into the init
    r = subprocess.run([py, dist_lxcz, "lxc-execute", "-n", box["name"], "-P", box["lxcpath"],
                        "-f", box["config"], "--", "/bin/sh", "-c",
                        "for f in /proc/1/map_files/*; do readlink $f; done | sort -u"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    mapped = r.stdout.split()
    assert mapped, "no mappings listed"
    assert not [m for m in mapped if ".shiv" in m or "lxcz" in m], mapped
    r = subprocess.run([py, dist_lxcz, "lxc-start", "-n", box["name"], "-P", box["lxcpath"],
                        "-f", box["config"]], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([py, dist_lxcz, "lxc-stop", "-n", box["name"], "-P", box["lxcpath"],
                        "-k"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_dist_zipapp_runs_from_memory_without_a_cache(box, dist_lxcz, tmp_path):
    """No usable cache: site-packages comes from the archive's payload held in an anonymous
    file (build/lxczboot.py). The container's init still holds only 0, 1, 2; a daemon
    monitor keeps that file through closing its descriptors and its lean re-exec, so it
    can still load code for attach and stop."""
    import sys
    import time

    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = dict(os.environ, SHIV_ROOT=str(blocker / "cache"))  # cannot be created
    base = ["-n", box["name"], "-P", box["lxcpath"]]

    def lx(tool, *args):
        return subprocess.run([py, dist_lxcz, tool, *base, *args], capture_output=True,
                              text=True, timeout=60, env=env)

    r = lx("lxc-execute", "-f", box["config"], "--", "/bin/sh", "-c",
           "ls /proc/1/fd | tr '\\n' ' '; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout.split() == ["0", "1", "2"]
    r = lx("lxc-start", "-f", box["config"])
    assert r.returncode == 0, r.stderr
    try:
        pid = int(lx("lxc-info", "-pH").stdout)
        with open(f"/proc/{pid}/stat") as f:
            monitor = int(f.read().rsplit(")", 1)[1].split()[1])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # idle: the monitor re-executes (lean.py)
            with open(f"/proc/{monitor}/cmdline", "rb") as f:
                if b"/proc/self/fd/" in f.read():
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the monitor did not re-execute from the in-memory archive")
        r = lx("lxc-attach", "--", "/bin/echo", "attached")
        assert (r.returncode, r.stdout) == (0, "attached\n"), r.stderr
    finally:
        r = lx("lxc-stop", "-k")
    assert r.returncode == 0, r.stderr
    assert lx("lxc-wait", "-s", "STOPPED", "-t", "0").returncode == 0

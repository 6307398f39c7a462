"""User namespaces for real: lxc-usernsexec and lxc-unshare as root and as a throwaway
unprivileged user made here (useradd + /etc/subuid and /etc/subgid ranges through
usermod, removed in teardown even on failure).

Container root maps to an unprivileged host id (100000+ or the user's range), and cannot
write a root-owned host file bind-mounted into its mount namespace.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable  # the test venv: pyroute2 is there, and readable by every user

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def lxcz(tool, *args, user=None, cwd=None, timeout=60):
    """Run one of our tools (from the source tree), optionally as ``user``."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": ROOT, "LANG": "C"}
    argv = [PYTHON, "-m", "lxcz", tool, *args]
    if user:
        argv = ["runuser", "-u", user, "--", "env", *[f"{k}={v}" for k, v in env.items()],
                *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd or "/",
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _root_owned_file(workdir):
    src = os.path.join(workdir, "host-file")
    with open(src, "w") as f:
        f.write("host data\n")
    os.chown(src, 0, 0)
    os.chmod(src, 0o644)
    target = os.path.join(workdir, "target")
    open(target, "w").close()
    os.chmod(target, 0o666)
    return src, target


SCRIPT = ("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
          "touch {d}/made-inside; "
          "mount --bind {src} {dst} || echo BINDFAIL; "
          "stat -c %u {dst}; "
          "if echo pwned >> {dst}; then echo WROTE; else echo DENIED; fi")


def _check_container_root(res, workdir, src, base):
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split("\n")
    assert lines[0] == "0" and lines[1] == "0"
    assert lines[2].split() == ["0", str(base), "65536"]
    assert lines[3].split() == ["0", str(base), "65536"]
    # root inside created a file: on the host it belongs to the mapped id
    assert os.stat(os.path.join(workdir, "made-inside")).st_uid == base
    assert "BINDFAIL" not in res.stdout
    assert lines[4] == "65534"  # host root is unmapped: the overflow id
    assert "DENIED" in res.stdout and "WROTE" not in res.stdout
    assert open(src).read() == "host data\n"


def test_usernsexec_as_root(workdir):
    src, dst = _root_owned_file(workdir)
    res = lxcz("lxc-usernsexec", "-m", "b:0:100000:65536", "--", "sh", "-c",
               SCRIPT.format(d=workdir, src=src, dst=dst))
    _check_container_root(res, workdir, src, 100000)


def test_usernsexec_bad_maps_as_root():
    res = lxcz("lxc-usernsexec", "-m", "b:0:100000:65536", "-m", "u:10:300000:5", "--",
               "true")
    assert res.returncode == 1
    assert res.stderr == ('lxc-usernsexec: overlapping uid maps "u 0 100000 65536" and '
                          '"u 10 300000 5": namespace ids overlap\n')
    res = lxcz("lxc-usernsexec", "-m", "u:0:4294967000:1000", "-m", "g:0:1:1", "--", "true")
    assert res.returncode == 1 and "is too large" in res.stderr
    assert res.stderr.count("\n") == 1


def test_unprivileged_user(unpriv_user, workdir):
    name = unpriv_user.name
    # no /etc/subuid range yet: one clear line, nothing started
    res = lxcz("lxc-usernsexec", "--", "true", user=name)
    assert res.returncode == 1
    assert res.stderr == f"lxc-usernsexec: user {name} has no range in /etc/subuid\n"

    unpriv_user.add_ranges()
    base = unpriv_user.base
    src, dst = _root_owned_file(workdir)
    res = lxcz("lxc-usernsexec", "--", "sh", "-c",
               SCRIPT.format(d=workdir, src=src, dst=dst), user=name)
    _check_container_root(res, workdir, src, base)

    # explicit maps through newuidmap/newgidmap, plus -s (own ids after the range)
    res = lxcz("lxc-usernsexec", "-m", f"b:0:{base}:1000", "-s", "--", "cat",
               "/proc/self/uid_map", "/proc/self/gid_map", user=name)
    assert res.returncode == 0, res.stderr
    rows = [r.split() for r in res.stdout.splitlines()]
    assert ["0", str(base), "1000"] in rows
    assert ["1000", str(unpriv_user.uid), "1"] in rows

    # only our own ids: written directly, after "deny" in /proc/PID/setgroups
    import pwd

    ugid = pwd.getpwnam(name).pw_gid
    res = lxcz("lxc-usernsexec", "-m", f"u:0:{unpriv_user.uid}:1", "-m", f"g:0:{ugid}:1",
               "--", "sh", "-c", "id -u; cat /proc/self/setgroups /proc/self/gid_map",
               user=name)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0", "deny", "0", str(ugid), "1"]

    # outside the granted range: refused before anything is started
    res = lxcz("lxc-usernsexec", "-m", f"b:0:{base + 65536}:10", "--", "true", user=name)
    assert res.returncode == 1
    assert "is outside the ranges /etc/subuid grants user " + name in res.stderr
    assert res.stderr.count("\n") == 1


def test_unprivileged_same_as_upstream(unpriv_user):
    if not os.path.exists("/usr/bin/lxc-usernsexec"):
        pytest.skip("upstream lxc-usernsexec not installed")
    unpriv_user.add_ranges()
    cmd = ["--", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map"]
    ours = lxcz("lxc-usernsexec", *cmd, user=unpriv_user.name)
    theirs = subprocess.run(["runuser", "-u", unpriv_user.name, "--", "/usr/bin/lxc-usernsexec", *cmd],
                            capture_output=True, text=True, cwd="/", timeout=60,
                            stdin=subprocess.DEVNULL)
    assert ours.returncode == theirs.returncode == 0, (ours.stderr, theirs.stderr)
    assert ours.stdout == theirs.stdout


def test_unshare_user_as_unprivileged(unpriv_user):
    res = lxcz("lxc-unshare", "-s", "USER|UTSNAME|MOUNT|PID", "-u", "0", "-H", "lxcz-u",
               "-M", "--", "sh", "-c",
               "id -u; hostname; echo $$; cat /proc/self/uid_map; ls /proc | grep -c '^[0-9]'",
               user=unpriv_user.name)
    assert res.returncode == 0, res.stderr
    out = res.stdout.split("\n")
    assert out[0] == "0" and out[1] == "lxcz-u" and out[2] == "1"
    assert out[3].split() == ["0", str(unpriv_user.uid), "1"]
    assert int(out[4]) <= 3  # a fresh /proc of the new PID namespace


def test_unshare_as_root():
    res = lxcz("lxc-unshare", "-s", "NETWORK|UTSNAME|IPC|PID|MOUNT", "-H", "lxcz-r", "-M",
               "--", "sh", "-c", "hostname; echo $$; ls /sys/class/net; exit 7")
    assert res.returncode == 7, res.stderr
    out = res.stdout.split()
    assert out[:2] == ["lxcz-r", "1"]
    assert out[2:] == ["lo"]
    assert os.uname().nodename != "lxcz-r"


def test_unshare_moves_interface():
    pytest.importorskip("pyroute2")
    tag = secrets.token_hex(3)
    name, peer = "lxczd" + tag, "lxczp" + tag
    made = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", peer],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a veth pair here: {made.stderr.strip()}")
    try:
        res = lxcz("lxc-unshare", "-s", "NETWORK", "-i", name, "--", "ip", "-o", "link")
        assert res.returncode == 0, res.stderr
        assert f" {name}@" in res.stdout or f" {name}:" in res.stdout
    finally:
        # the moved end dies with the namespace and takes its peer along; if the move
        # failed, both are still here
        for dev in (name, peer):
            subprocess.run(["ip", "link", "del", dev], capture_output=True)
    res = lxcz("lxc-unshare", "-s", "NETWORK", "-i", "nosuch" + secrets.token_hex(2), "--",
               "true")
    assert res.returncode == 1 and "no such interface" in res.stderr


def test_unshare_daemon_does_not_wait(workdir):

    flag = os.path.join(workdir, "done")
    t0 = time.monotonic()
    # the command keeps our stdio (as upstream's does): give it none, or run() would
    # wait for the pipes to close
    rc = subprocess.run([PYTHON, "-m", "lxcz", "lxc-unshare", "-s", "UTSNAME", "-d", "--",
                         "sh", "-c", f"sleep 1; touch {flag}"], cwd="/", timeout=60,
                        env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin"},
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode
    assert rc == 0
    assert time.monotonic() - t0 < 1.0 or not os.path.exists(flag)
    for _ in range(100):  # the command carries on by itself and ends on its own
        if os.path.exists(flag):
            break
        time.sleep(0.05)
    assert os.path.exists(flag)

"""prlimits, sysctls, lxc.proc, session keyrings, personality, capset, AppArmor on real
processes the tests fork themselves (root). The test process itself is never changed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from runtime_fixtures import in_child

from lxcz.errors import LxczError
from lxcz.security import apparmor, caps, limits
from lxcz.sys import calls, capabilities, keyring

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def sleeper():
    """A process of ours to apply things to; killed and reaped afterwards."""
    p = subprocess.Popen(["sleep", "60"])
    try:
        yield p.pid
    finally:
        p.kill()
        p.wait()


def _limits_of(pid, label):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith(label):
                return line[len(label):].split()[:2]
    raise AssertionError(label)


def _hard(name):
    import resource

    hard = resource.getrlimit(limits.rlimit_number(name))[1]
    return "unlimited" if hard == resource.RLIM_INFINITY else str(hard)


def test_prlimits_from_parent(sleeper):
    # only lowering or keeping hard limits: this test may run without CAP_SYS_RESOURCE
    nproc, stack = _hard("nproc"), _hard("stack")
    limits.apply_prlimits(sleeper, {"nofile": "100:200", "core": "0", "nproc": nproc,
                                    "stack": f"1048576:{stack}"})
    assert _limits_of(sleeper, "Max open files") == ["100", "200"]
    assert _limits_of(sleeper, "Max core file size") == ["0", "0"]
    assert _limits_of(sleeper, "Max processes") == [nproc, nproc]
    assert _limits_of(sleeper, "Max stack size") == ["1048576", stack]


def test_prlimit_raise_hard_needs_cap(sleeper):
    import resource

    if caps.current()["CapEff"] & (1 << 24):
        pytest.skip("we have CAP_SYS_RESOURCE here")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with pytest.raises(LxczError, match="needs CAP_SYS_RESOURCE"):
        limits.apply_prlimits(sleeper, {"nofile": f"{hard + 1}"})


def test_prlimit_bad_name_changes_nothing(sleeper):
    before = _limits_of(sleeper, "Max open files")
    with pytest.raises(LxczError, match='unknown resource limit "lxc.prlimit.nofiles"'):
        limits.apply_prlimits(sleeper, {"nofile": "10:20", "nofiles": "1"})
    assert _limits_of(sleeper, "Max open files") == before


def test_prlimits_in_child_with_setrlimit():
    out = subprocess.run(["sh", "-c", "ulimit -Sn; ulimit -Hn"], capture_output=True,
                         text=True, check=True,
                         preexec_fn=lambda: limits.apply_prlimits(0, {"nofile": "64:128"}))
    assert out.stdout.split() == ["64", "128"]


def test_proc_oom_score_adj(sleeper):
    limits.apply_proc(sleeper, {"oom_score_adj": "500"})
    assert open(f"/proc/{sleeper}/oom_score_adj").read().strip() == "500"
    with pytest.raises(LxczError, match="no such file"):
        limits.apply_proc(sleeper, {"no_such_file": "1"})


def test_sysctls_inside_namespaces():
    host = {p: open(p).read() for p in ("/proc/sys/net/ipv4/ip_forward",
                                        "/proc/sys/kernel/shmmax",
                                        "/proc/sys/fs/mqueue/msg_max")}

    def child():
        calls.unshare(calls.CLONE_NEWNET | calls.CLONE_NEWIPC | calls.CLONE_NEWUTS)
        # IPC-namespaced fs.mqueue values are read through an mqueue-aware /proc only
        # after a fresh mount; kernel.shm* and net.* are visible at once.
        limits.apply_sysctls({"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789",
                              "kernel.hostname": "lxcz-sysctl"})
        return [open("/proc/sys/net/ipv4/ip_forward").read().strip(),
                open("/proc/sys/kernel/shmmax").read().strip(), os.uname().nodename]

    assert in_child(child) == ["1", "123456789", "lxcz-sysctl"]
    for path, text in host.items():
        assert open(path).read() == text, f"{path} changed on the host"


def test_unknown_sysctl_refused_before_writing():
    def child():
        calls.unshare(calls.CLONE_NEWNET)
        try:
            limits.apply_sysctls({"net.ipv4.ip_forward": "1", "net.ipv4.no_such": "1"})
        except LxczError as e:
            return [str(e), open("/proc/sys/net/ipv4/ip_forward").read().strip()]
        return None

    msg, fwd = in_child(child)
    assert "unknown sysctl lxc.sysctl.net.ipv4.no_such" in msg
    assert fwd == "0"


def test_session_keyring():
    mine = keyring.session_keyring_id()

    def child():
        before = keyring.session_keyring_id()
        new = limits.join_session_keyring()
        return [before, new, keyring.session_keyring_id()]

    before, new, after = in_child(child)
    assert before == mine
    assert new == after and new != mine
    assert keyring.session_keyring_id() == mine


def test_personality_linux32():
    if os.uname().machine != "x86_64":
        pytest.skip("checks i686 on an x86_64 host")
    out = subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True,
                         preexec_fn=lambda: limits.apply_personality("i686"))
    assert out.stdout.strip() == "i686"
    out = subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True,
                         preexec_fn=lambda: limits.apply_personality("x86_64"))
    assert out.stdout.strip() == "x86_64"


def test_capget_capset_roundtrip():
    def child():
        eff, prm, inh = capabilities.capget()
        sys_admin = 1 << 21
        capabilities.capset(eff & ~sys_admin, prm & ~sys_admin, inh)
        now = caps.current()
        got = capabilities.capget()
        try:
            calls.sethostname("x")  # needs sys_admin... of the UTS ns owner: expect EPERM
            sethost = "allowed"
        except OSError as e:
            sethost = e.errno
        return [prm, now["CapPrm"], now["CapEff"], list(got), sethost]

    prm, now_prm, now_eff, got, sethost = in_child(child)
    assert now_prm == prm & ~(1 << 21) and not now_eff & (1 << 21)
    assert got[1] == now_prm
    assert sethost == 1  # EPERM


def test_caps_apply_clears_inheritable():
    def child():
        eff, prm, inh = capabilities.capget()
        # put chown and sys_admin in the inheritable set, then keep only chown
        capabilities.capset(eff, prm, inh | 1 | 1 << 21)
        caps.apply({0})
        return caps.current()

    now = in_child(child)
    assert now["CapInh"] == 1
    assert now["CapPrm"] == 1 and now["CapEff"] == 1
    assert now["CapBnd"] == 1


def test_apparmor_on_this_host():
    if apparmor.enabled():
        pytest.skip("this host has AppArmor; the fake-sysfs unit tests cover decisions")
    assert apparmor.prepare("unconfined", False) is None
    assert apparmor.prepare(None, False) is None
    with pytest.raises(LxczError, match="AppArmor is not enabled"):
        apparmor.prepare("lxc-container-default-cgns", False)
    assert apparmor.prepare("lxc-container-default-cgns", True) is None
    in_child(lambda: apparmor.apply_at_exec("unconfined"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

"""Loading compiled seccomp filters (and capability drops) into real processes, as root.

Each test forks a child, changes only the child, reports back through a pipe and reaps
it; the test process itself never gets a filter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from runtime_fixtures import in_child

from lxcz.security import caps
from lxcz.security import seccomp_bpf as sb
from lxcz.security import seccomp_policy as sp
from lxcz.sys import arch as archmod
from lxcz.sys import seccomp

DEBIAN = "/usr/share/lxc/config/common.seccomp"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def try_call(fn, *args):
    try:
        fn(*args)
        return 0
    except OSError as e:
        return e.errno


def test_denied_call_fails_with_its_errno_and_others_work():
    pol = sp.parse_policy("2\ndenylist\nreject_force_umount\n[all]\nuname errno 42\n"
                          "lseek errno 33 [1,0x100000000,SCMP_CMP_EQ]\n", "/test")
    prog = sb.compile_policy(pol)

    def child():
        assert seccomp.mode() == 0
        seccomp.install_filter(prog)
        fd = os.open("/dev/null", os.O_RDONLY)
        return {
            "mode": seccomp.mode(),
            "uname": try_call(os.uname),
            "lseek_small": try_call(os.lseek, fd, 5, os.SEEK_SET),
            # only the 64-bit value 2**32 is denied, not its low word 0
            "lseek_2_32": try_call(os.lseek, fd, 0x100000000, os.SEEK_SET),
            "lseek_0": try_call(os.lseek, fd, 0, os.SEEK_SET),
            "getcwd": try_call(os.getcwd),
        }

    got = in_child(child)
    assert got == {"mode": 2, "uname": 42, "lseek_small": 0, "lseek_2_32": 33,
                   "lseek_0": 0, "getcwd": 0}


def test_debian_common_seccomp_is_enforced():
    if not os.path.exists(DEBIAN):
        pytest.skip(f"{DEBIAN} not installed (apt-get install lxc)")
    prog = sb.compile_policy(sp.load_policy(DEBIAN))
    native = archmod.detect()

    def child():
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        seccomp.install_filter(prog)
        out = {}
        table = archmod.syscalls(native)
        for name in ("kexec_load", "open_by_handle_at", "init_module", "finit_module",
                     "delete_module"):
            # bogus arguments: if the filter let the call through the kernel would say
            # EFAULT/EINVAL/EBADF/ENOSYS, never EPERM for root
            ret = libc.syscall(ctypes.c_long(table[name]), ctypes.c_long(-1),
                               ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
            out[name] = (ret, ctypes.get_errno())
        # reject_force_umount
        ret = libc.syscall(ctypes.c_long(table["umount2"]), b"/nonexistent-lxcz", 1)
        out["umount_force"] = (ret, ctypes.get_errno())
        ret = libc.syscall(ctypes.c_long(table["umount2"]), b"/nonexistent-lxcz", 0)
        out["umount"] = (ret, ctypes.get_errno())
        return out

    got = in_child(child)
    for name in ("kexec_load", "open_by_handle_at", "init_module", "finit_module",
                 "delete_module"):
        assert got[name] == [-1, 1], name  # EPERM from "errno 1"
    assert got["umount_force"] == [-1, 13]  # EACCES
    assert got["umount"] == [-1, 2]  # ENOENT from the kernel: allowed through


def test_v1_whitelist_runs_busybox_sh():
    if archmod.detect() != "x86_64":
        pytest.skip("the old docs' whitelist numbers are x86_64 numbers")
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("busybox not installed")
    text = "1\nwhitelist\n" + "".join(f"{n}\n" for n in [*range(301), *range(1024, 1080)])
    prog = sb.compile_policy(sp.parse_policy(text, "/whitelist"))
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.dup2(wfd, 1)
            seccomp.set_no_new_privs()
            seccomp.install_filter(prog)
            # outside the list: fails cleanly instead of killing the caller
            try:
                os.getrandom(4)  # 318
                os.write(1, b"getrandom-allowed\n")
            except OSError as e:
                os.write(1, f"getrandom-errno-{e.errno}\n".encode())
            os.execv(busybox, ["sh", "-c", "echo hi"])
        finally:
            os._exit(127)
    os.close(wfd)
    with os.fdopen(rfd) as f:
        out = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, out)
    assert out == "getrandom-errno-38\nhi\n"


def test_no_new_privs():
    def child():
        before = seccomp.get_no_new_privs()
        seccomp.set_no_new_privs()
        with open("/proc/self/status") as f:
            status = f.read()
        return [before, seccomp.get_no_new_privs(), "NoNewPrivs:\t1" in status]

    assert in_child(child) == [False, True, True]


def test_unprivileged_load_needs_no_new_privs():
    pol = sp.parse_policy("2\ndenylist\nuname errno 42\n", "/test")
    prog = sb.compile_policy(pol)

    def child():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        try:
            seccomp.install_filter(prog)
            first = "loaded"
        except OSError as e:
            first = [e.errno, "no_new_privs" in str(e)]
        seccomp.set_no_new_privs()
        seccomp.install_filter(prog)
        return [first, try_call(os.uname)]

    assert in_child(child) == [[13, True], 42]


def test_cap_apply_drops_the_bounding_set():
    def child():
        caps.apply(caps.resolve(["sys_admin", "net_raw"], []))
        bnd = caps.current()["CapBnd"]
        return [bnd >> 21 & 1, bnd >> 13 & 1, bnd >> 0 & 1]

    assert in_child(child) == [0, 0, 1]


def test_cap_drop_sys_admin_cannot_mount(tmp_path):
    target = tmp_path / "mnt"
    target.mkdir()
    code = (
        "import os, sys\n"
        "from lxcz.security import caps\n"
        "caps.apply(caps.resolve(['sys_admin'], []))\n"
        f"os.execv('/bin/mount', ['mount', '-t', 'tmpfs', 'none', {str(target)!r}])\n"
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    try:
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=30)
        assert res.returncode != 0, res
        assert "permission denied" in res.stderr.lower() or "must be superuser" in \
            res.stderr.lower(), res.stderr
        assert not os.path.ismount(str(target))
    finally:
        if os.path.ismount(str(target)):
            subprocess.run(["umount", str(target)], check=False)


def test_cap_keep_none_leaves_nothing_after_exec():
    code = (
        "import os\n"
        "from lxcz.security import caps\n"
        "caps.apply(caps.resolve([], ['none']))\n"
        "os.execv('/bin/grep', ['grep', '^Cap', '/proc/self/status'])\n"
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    sets = dict(line.split(":\t") for line in res.stdout.splitlines())
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(sets[key], 16) == 0, (key, sets)

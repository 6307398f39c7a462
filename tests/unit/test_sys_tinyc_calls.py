"""lxcz.sys's calls go through lxcz.sys.tinyc: ctypes (about 600 KB in every process that
imports it, and more pages a forked init would copy) is never loaded on the paths a
monitor, an init or an attached process take."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(code: str) -> str:
    prog = f"import sys, os; sys.path.insert(0, {ROOT!r})\n" + code
    return subprocess.run([sys.executable, "-I", "-S", "-c", prog], capture_output=True,
                          text=True, check=True).stdout


def test_buffer_is_writable_and_addressable():
    from lxcz.sys import tinyc

    buf = tinyc.buffer(b"ab", size=6)
    assert buf.raw == b"ab\0\0\0\0"
    memset = tinyc.function("memset", tinyc.VoidP, (tinyc.VoidP, tinyc.Int, tinyc.ULong))
    memset(tinyc.addressof(buf) + 2, ord("x"), 3)
    assert buf.raw == b"abxxx\0"
    assert tinyc.POINTER_SIZE in (4, 8)


def test_buffers_of_one_length_share_a_type_not_contents():
    from lxcz.sys import tinyc

    a, b = tinyc.buffer(b"one", size=8), tinyc.buffer(size=8)
    assert type(a) is type(b)  # made once: a forked init builds no class
    assert b.raw == bytes(8) and a.raw == b"one" + bytes(5)
    assert type(tinyc.buffer(size=9)) is not type(a)


def test_bind_for_init_binds_what_the_init_calls():
    out = _run("from lxcz.sys import calls, tinyc\n"
               "calls.bind_for_init()\n"
               "before = len(tinyc._bound)\n"
               "calls.set_name('lxcz-test')\n"
               "calls.set_dumpable(False)\n"
               "calls.close_fds_except((0, 1, 2))\n"
               "calls.set_proc_title('lxcz-test')\n"
               "print(before, len(tinyc._bound))\n")
    before, after = out.split()
    assert before == after  # nothing bound after the fork would be


def test_capget_matches_proc_status():
    from lxcz.sys import capabilities

    eff, perm, inh = capabilities.capget()
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            fields[key] = val.strip()
    assert eff == int(fields["CapEff"], 16)
    assert perm == int(fields["CapPrm"], 16)
    assert inh == int(fields["CapInh"], 16)


def test_capset_and_prctl_name_in_a_child_without_ctypes():
    out = _run(
        "from lxcz.sys import calls, capabilities, keyring, seccomp\n"
        "seccomp.prepare()\n"
        "keyring.session_keyring_id()\n"
        "r, w = os.pipe()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    calls.set_name('tiny-name')\n"
        "    e, p, i = capabilities.capget()\n"
        "    capabilities.capset(e & ~1, p & ~1, 0)\n"
        "    after = capabilities.capget()[0]\n"
        "    with open('/proc/self/comm') as f:\n"
        "        comm = f.read().strip()\n"
        "    os.write(w, f'{comm} {after & 1} {seccomp.get_no_new_privs()}'.encode())\n"
        "    os._exit(0)\n"
        "os.close(w)\n"
        "os.waitpid(pid, 0)\n"
        "print(os.read(r, 100).decode(), 'ctypes' in sys.modules)\n")
    assert out.split() == ["tiny-name", "0", "False", "False"]


def test_errors_carry_errno_and_the_call():
    from lxcz.sys import calls

    try:
        calls.umount2("/nonexistent-lxcz-test-path")
    except OSError as err:
        assert err.errno in (2, 1, 22)
        assert "umount /nonexistent-lxcz-test-path" in str(err)
    else:
        raise AssertionError("umount2 of a missing path succeeded")


def test_function_is_bound_once_per_signature():
    from lxcz.sys import tinyc

    assert tinyc.function("getpid") is tinyc.function("getpid")
    assert tinyc.function("getpid") is not tinyc.function("getpid", tinyc.Long)


CLOSE_PROBE = r"""
from lxcz.sys import calls
for fd in (40, 1000, 1001):
    os.dup2(2, fd)
keep = (0, 1, 2, 1000)
if sys.argv[1] == "fallback":  # as on a kernel before 5.9: close_range is ENOSYS
    calls._tiny_fn = lambda *a, **k: (lambda *args: (_ for _ in ()).throw(OSError(38, "ENOSYS")))
calls.close_fds_except(keep)
print(sorted(int(x) for x in os.listdir("/proc/self/fd") if int(x) not in (0, 1, 2, 1000))
      or "only kept")
"""


def test_close_fds_except_closes_everything_else_however_high():
    for how in ("close_range", "fallback"):
        prog = f"import sys, os; sys.path.insert(0, {ROOT!r})\n" + CLOSE_PROBE
        out = subprocess.run([sys.executable, "-I", "-S", "-c", prog, how],
                             capture_output=True, text=True, check=True, pass_fds=(),
                             ).stdout.split("\n")
        # listdir's own descriptor is the only one left besides the kept ones
        assert out[0] in ("only kept", "[3]"), (how, out)

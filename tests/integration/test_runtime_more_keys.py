"""Keys of man 5 lxc.container.conf applied this round, each against the real kernel and,
where it shows, next to upstream LXC 5: lxc.time.offset.* (time namespace; lxc-attach
joins it), lxc.monitor.unshare, lxc.autodev.tmpfs.size, lxc.selinux.context on a host
without SELinux, lxc.sched.core."""

from __future__ import annotations

import os
import subprocess

import pytest
from runtime_fixtures import busybox_box, lxcz, run_with, sh_with

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def box(tmp_path):
    with busybox_box(tmp_path, os.path.join(str(tmp_path), "lxc"), "mk") as b:
        yield b


def _host_boot_seconds() -> float:
    return float(open("/proc/uptime").read().split()[0])


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/time"), reason="no time namespaces")
def test_time_offsets_execute_and_attach(box):
    keys = "lxc.time.offset.boot = 10h\nlxc.time.offset.monotonic = -1 s\n"
    res = sh_with(box, keys, "cat /proc/self/timens_offsets; cat /proc/uptime")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split("\n")
    assert lines[0].split() == ["monotonic", "-1", "0"]
    assert lines[1].split() == ["boottime", "36000", "0"]
    assert float(lines[2].split()[0]) - _host_boot_seconds() > 35000
    # as upstream prints it
    if os.path.exists("/usr/bin/lxc-execute"):
        up = subprocess.run(["/usr/bin/lxc-execute", "-n", box["name"] + "u", "-P",
                             box["lxcpath"], "-f", os.path.join(box["tmp"], "config"), "--",
                             "cat", "/proc/self/timens_offsets"],
                            capture_output=True, text=True, timeout=30)
        if up.returncode == 0:
            assert up.stdout.split("\n")[:2] == lines[:2]
    res = run_with(box, keys, "/bin/sh", "-c", "sleep 60", tool="lxc-start")
    assert res.returncode == 0, res.stderr
    try:
        base = ["-n", box["name"], "-P", box["lxcpath"]]
        res = lxcz("lxc-attach", *base, "--", "cat", "/proc/uptime")
        assert res.returncode == 0, res.stderr
        assert float(res.stdout.split()[0]) - _host_boot_seconds() > 35000
        # -s without TIME: the host's clocks
        res = lxcz("lxc-attach", *base, "-s", "NETWORK", "--", "cat", "/proc/uptime")
        assert res.returncode == 0, res.stderr
        assert abs(float(res.stdout.split()[0]) - _host_boot_seconds()) < 100
    finally:
        lxcz("lxc-stop", "-n", box["name"], "-P", box["lxcpath"], "-k")


def test_bad_time_offset_is_one_line(box):
    res = sh_with(box, "lxc.time.offset.boot = 10 parsecs\n", "true")
    assert res.returncode != 0 and res.stderr.count("\n") == 1
    assert "invalid time offset" in res.stderr


def test_monitor_unshare_keeps_hook_mounts_off_the_host(box):
    mark = os.path.join(box["tmp"], "hookmnt")
    os.mkdir(mark)
    hook = os.path.join(box["tmp"], "hook.sh")
    with open(hook, "w") as f:
        f.write(f"#!/bin/sh\nmount -t tmpfs lxczmark {mark}\n")
    os.chmod(hook, 0o755)
    try:
        res = sh_with(box, f"lxc.monitor.unshare = 1\nlxc.hook.pre-start = {hook}\n", "true")
        assert res.returncode == 0, res.stderr
        assert not os.path.ismount(mark)  # mounted in the monitor's own namespace only
        res = sh_with(box, f"lxc.hook.pre-start = {hook}\n", "true")
        assert res.returncode == 0, res.stderr
        assert os.path.ismount(mark)  # without the key the hook mounts on the host
    finally:
        while os.path.ismount(mark):
            subprocess.run(["umount", mark])


def test_autodev_tmpfs_size(box):
    res = sh_with(box, "lxc.autodev = 1\nlxc.autodev.tmpfs.size = 2000000\n",
                  "df -k /dev | tail -1")
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.split()[1]) == 1956  # 2000000 bytes in 1 KiB blocks, page-rounded
    res = sh_with(box, "lxc.autodev = 1\n", "df -k /dev | tail -1")
    assert int(res.stdout.split()[1]) == 492  # LXC's 500000 bytes


@pytest.mark.skipif(os.path.exists("/sys/fs/selinux/enforce"), reason="SELinux is enabled")
def test_selinux_context_ignored_without_selinux(box):
    res = sh_with(box, "lxc.selinux.context = system_u:system_r:container_t:s0\n"
                       "lxc.selinux.context.keyring = system_u:system_r:container_t:s0\n",
                  "echo ran")
    assert res.returncode == 0 and res.stdout == "ran\n", res.stderr
    assert res.stderr == ""  # LXC's no-op LSM says nothing either


def test_sched_core(box):
    res = sh_with(box, "lxc.sched.core = 1\n", "echo ran")
    try:
        supported = "CONFIG_SCHED_CORE=y" in subprocess.run(
            ["sh", "-c", "zcat /proc/config.gz 2>/dev/null"], capture_output=True,
            text=True).stdout
    except OSError:
        supported = False
    if supported:
        assert res.returncode == 0 and res.stdout == "ran\n", res.stderr
    else:  # as upstream: the start fails, one line
        assert res.returncode != 0 and res.stderr.count("\n") == 1
        assert "the kernel does not support core scheduling" in res.stderr


def _cg_dirs(top: str) -> list:
    return sorted(os.path.join(r, d)[len("/sys/fs/cgroup/"):]
                  for r, ds, _ in os.walk(f"/sys/fs/cgroup/pids/{top}") for d in ds) \
        if os.path.isdir(f"/sys/fs/cgroup/pids/{top}") else []


def _rm_cg_tree(top: str) -> None:
    import time

    for _ in range(50):
        left = False
        for h in os.listdir("/sys/fs/cgroup"):
            base = os.path.join("/sys/fs/cgroup", h, top)
            if not os.path.isdir(base):
                continue
            for r, _ds, _ in sorted(os.walk(base), key=lambda x: -len(x[0])):
                try:
                    os.rmdir(r)
                except OSError:
                    left = True
        if not left:
            return
        time.sleep(0.1)


def test_cgroup_dir_container_monitor_inner_pivot(box):
    top = "lxcz" + box["name"]
    keys = (f"lxc.cgroup.dir.container = {top}/ct\nlxc.cgroup.dir.monitor = {top}/mon\n"
            f"lxc.cgroup.dir.container.inner = inner\n"
            f"lxc.cgroup.dir.monitor.pivot = {top}/piv\nlxc.cgroup.pids.max = 50\n")
    base = ["-n", box["name"], "-P", box["lxcpath"]]
    try:
        res = run_with(box, keys, "/bin/sh", "-c", "sleep 60", tool="lxc-start")
        assert res.returncode == 0, res.stderr
        pid = lxcz("lxc-info", *base, "-pH").stdout.strip()
        own = [ln for ln in open(f"/proc/{pid}/cgroup") if ":pids:" in ln][0]
        assert own.strip().endswith(f"/{top}/ct/inner")  # processes in the inner cgroup
        assert open(f"/sys/fs/cgroup/pids/{top}/ct/pids.max").read().strip() == "50"
        assert lxcz("lxc-cgroup", *base, "pids.max").stdout.strip() == "50"
        res = lxcz("lxc-attach", *base, "--", "cat", "/proc/self/cgroup")
        assert res.returncode == 0 and ":pids:/\n" in res.stdout  # the cgroupns root
        assert lxcz("lxc-freeze", *base).returncode == 0
        assert lxcz("lxc-info", *base, "-sH").stdout.strip() == "FROZEN"
        assert lxcz("lxc-unfreeze", *base).returncode == 0
        res = lxcz("lxc-stop", *base, "-k")
        assert res.returncode == 0, res.stderr
        import time

        for _ in range(50):  # the monitor removes its cgroup as it exits
            if _cg_dirs(top) == [f"pids/{top}/piv"]:
                break
            time.sleep(0.1)
        assert _cg_dirs(top) == [f"pids/{top}/piv"]  # the monitor ended in the pivot
    finally:
        lxcz("lxc-stop", *base, "-k")
        _rm_cg_tree(top)


@pytest.mark.parametrize("keys,cause", [
    ("lxc.cgroup.dir.container = a/ct\n", "must be set together"),
    ("lxc.cgroup.dir = x\nlxc.cgroup.dir.container = a/ct\nlxc.cgroup.dir.monitor = a/m\n",
     "cannot be combined"),
    ("lxc.cgroup.dir.container = a/ct\nlxc.cgroup.dir.monitor = a/ct\n", "must differ"),
])
def test_cgroup_dir_bad_combinations(box, keys, cause):
    res = sh_with(box, keys, "true")
    assert res.returncode != 0 and res.stderr.count("\n") == 1 and cause in res.stderr


# about 9 KiB of console output, then a marker
# a daemon's init has /dev/null as stdio (as LXC 5): the flood goes to /dev/console
FLOOD = ("exec > /dev/console; i=0; while [ $i -lt 300 ]; do "
         "echo line-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo DONE")


def _console_run(box, extra, script):
    """lxc-start with a console log, run script (output to /dev/console), wait, stop."""
    base = ["-n", box["name"], "-P", box["lxcpath"]]
    res = run_with(box, extra, "/bin/sh", "-c", script + "; sleep 60", tool="lxc-start")
    assert res.returncode == 0, res.stderr
    return base


def _stop_when(box, base, path, pred):
    import time

    try:
        for _ in range(100):
            if os.path.exists(path) and pred():
                break
            time.sleep(0.05)
    finally:
        lxcz("lxc-stop", *base, "-k")


def test_console_log_size_truncates(box):
    log = os.path.join(box["tmp"], "console.log")
    base = _console_run(box, f"lxc.console.logfile = {log}\nlxc.console.size = 4096\n",
                        FLOOD)
    _stop_when(box, base, log, lambda: b"DONE" in open(log, "rb").read())
    data = open(log, "rb").read()
    assert b"DONE" in data and len(data) <= 4096  # truncated when full, never above
    assert b"line-0-" not in data
    assert not os.path.exists(log + ".1")


def test_console_log_rotates(box):
    log = os.path.join(box["tmp"], "console.log")
    base = _console_run(box, f"lxc.console.logfile = {log}\nlxc.console.size = 4096\n"
                             "lxc.console.rotate = 1\n",
                        FLOOD)
    _stop_when(box, base, log, lambda: b"DONE" in open(log, "rb").read())
    assert os.path.getsize(log) <= 4096 and os.path.getsize(log + ".1") == 4096
    assert b"DONE" in open(log, "rb").read()


def test_console_buffer_ends_in_the_log(box):
    log = os.path.join(box["tmp"], "console.log")
    base = _console_run(box, f"lxc.console.logfile = {log}\nlxc.console.buffer.size = 4K\n",
                        FLOOD)
    _stop_when(box, base, log, lambda: b"DONE" in open(log, "rb").read())
    import time

    for _ in range(50):  # at the end the log holds what the ring buffer kept
        if os.path.getsize(log) <= 4096:
            break
        time.sleep(0.1)
    data = open(log, "rb").read()
    assert len(data) <= 4096 and b"DONE" in data


@pytest.mark.skipif(os.path.exists("/dev/log"), reason="a syslog daemon owns /dev/log here")
def test_log_syslog(box):
    """lxc.log.syslog: the log lines at lxc.log.level go to syslog with that facility (a
    /dev/log socket made here stands in for the daemon)."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/dev/log")
    try:
        res = sh_with(box, "lxc.log.syslog = local3\nlxc.log.level = INFO\n", "true")
        assert res.returncode == 0, res.stderr
        sock.settimeout(1)
        got = []
        try:
            while True:
                got.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
    finally:
        sock.close()
        os.unlink("/dev/log")
    # <158>: facility local3 (19 * 8) + priority info (6)
    assert any(m.startswith("<158>") and "lxc-execute[" in m and
               "changed state to [RUNNING]" in m for m in got), got


@pytest.mark.skipif(os.path.exists("/sys/kernel/security/apparmor"), reason="AppArmor here")
def test_apparmor_raw_without_apparmor(box):
    res = sh_with(box, "lxc.apparmor.profile = generated\n"
                       "lxc.apparmor.raw = mount fstype=nfs,\n", "echo ran")
    assert res.returncode == 0 and res.stdout == "ran\n" and res.stderr == "", res.stderr


def test_veth_vlan_needs_a_filtering_bridge(box):
    """Without VLAN filtering on the bridge (this host's kernel has none at all): one line,
    no veth left. The filtering case runs in the VM guests (test_veth_bridge_vlans)."""
    import random

    br = f"lxczvb{random.randint(0, 99999):05d}"
    subprocess.run(["ip", "link", "add", br, "type", "bridge"], check=True)
    try:
        before = sorted(os.listdir("/sys/class/net"))
        res = sh_with(box, f"lxc.net.0.type = veth\nlxc.net.0.link = {br}\n"
                           "lxc.net.0.veth.vlan.id = 10\n", "true")
        assert res.returncode != 0 and res.stderr.count("\n") == 1, res.stderr
        assert f"bridge '{br}' does not filter VLANs" in res.stderr
        assert sorted(os.listdir("/sys/class/net")) == before
    finally:
        subprocess.run(["ip", "link", "del", br])

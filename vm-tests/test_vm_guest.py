"""The one suite every guest of the matrix runs, through testinfra over ssh.

It checks what lxcz provides today on the guest's own CPU, kernel and Python. Tests of
tools that do not exist yet skip with "not implemented in lxcz yet" (the tool's own
message), so they turn on by themselves as tools land. Run it with ci/vm-matrix.
"""

from __future__ import annotations

import os
import re
import shlex

import pytest
from conftest import LXCZ, need, unimplemented

# ------------------------------------------------------------------ the guest itself


def test_machine_is_the_expected_cpu(host, vm):
    assert host.check_output("uname -m") == vm["uname_m"]
    assert host.check_output("python3 -c 'import platform; print(platform.machine())'") \
        == vm["uname_m"]


def test_python_version(host, vm):
    out = host.check_output("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    assert out == vm["image_python"]


def test_kernel_is_the_debian_package(host, vm):
    release = host.check_output("uname -r")
    if "stamp" in vm:
        assert release == vm["stamp"]["kernel"]
    assert host.file(f"/boot/config-{release}").exists


def test_cgroup_layout(host, vm):
    fstype = host.check_output("stat -f -c %T /sys/fs/cgroup")
    if vm["cgroup"] == "unified":
        assert fstype == "cgroup2fs"
        assert host.file("/sys/fs/cgroup/cgroup.controllers").exists
    else:
        assert fstype == "tmpfs"
        assert host.check_output("stat -f -c %T /sys/fs/cgroup/unified") == "cgroup2fs"
        v1 = host.check_output("ls /sys/fs/cgroup").split()
        # which v1 controllers exist depends on the kernel (6.12 may lack cpuset v1)
        assert "pids" in v1 and "systemd" in v1 and len(v1) >= 5, v1


# ------------------------------------------------------------------ lxcz itself


def test_lxcz_is_the_file_under_test(host):
    want = os.environ.get("LXCZ_VM_LXCZ_SHA256")
    if not want:
        pytest.skip("LXCZ_VM_LXCZ_SHA256 not set (ci/vm-matrix sets it)")
    assert host.check_output(f"sha256sum {LXCZ}").split()[0] == want


def test_lxcz_version(host):
    res = host.run(f"{LXCZ} --version")
    assert res.rc == 0, res.stderr
    assert res.stdout.startswith("lxcz ")


def test_lxcz_list(host):
    names = host.check_output(f"{LXCZ} --list").split()
    for tool in ("lxc-start", "lxc-execute", "lxc-checkconfig", "lxc-attach", "lxc-create"):
        assert tool in names
    assert len(names) >= 25


def test_install_and_uninstall(host, installed):
    names = host.check_output(f"{LXCZ} --list").split()
    for name in names:
        link = host.file(f"/usr/local/bin/{name}")
        assert link.is_symlink and link.linked_to == LXCZ, name
    again = host.run(f"{LXCZ} install")
    assert again.rc == 0 and again.stdout.startswith("0 links made"), again.stdout
    tmp = host.check_output("mktemp -d")
    try:
        assert host.run(f"{LXCZ} install --prefix {tmp}").rc == 0
        # the links and tmp/lxcz, a copy that starts the guest's python3 directly
        assert host.check_output(f"ls {tmp} | wc -l") == str(len(names) + 1)
        assert host.check_output(f"head -c 2 {tmp}/lxcz") == "#!"
        assert host.run(f"{tmp}/lxc-ls --version").rc == 0
        assert host.run(f"{LXCZ} uninstall --prefix {tmp}").rc == 0
        assert host.check_output(f"ls {tmp} | wc -l") == "0"
        bad = host.run(f"{LXCZ} install --prefix {tmp}/missing")
        assert bad.rc != 0 and bad.stderr.count("\n") == 1, bad.stderr
    finally:
        host.run(f"rm -rf {tmp}")


def test_tool_through_link(host, installed):
    res = host.run("lxc-ls --version")
    if unimplemented(res):
        pytest.skip("lxc-ls: not implemented in lxcz yet")
    assert res.rc == 0, res.stderr


# ------------------------------------------------------------------ lxc-checkconfig

# lxc-checkconfig label -> kernel config symbol
CHECKCONFIG_SYMBOLS = {
    "Namespaces": "CONFIG_NAMESPACES",
    "Utsname namespace": "CONFIG_UTS_NS",
    "Ipc namespace": "CONFIG_IPC_NS",
    "Pid namespace": "CONFIG_PID_NS",
    "User namespace": "CONFIG_USER_NS",
    "Network namespace": "CONFIG_NET_NS",
    "Cgroups": "CONFIG_CGROUPS",
    "Cgroup device": "CONFIG_CGROUP_DEVICE",
    "Cgroup sched": "CONFIG_CGROUP_SCHED",
    "Cgroup cpu account": "CONFIG_CGROUP_CPUACCT",
    "Cgroup memory controller": "CONFIG_MEMCG",
    "Cgroup cpuset": "CONFIG_CPUSETS",
    "Veth pair device": "CONFIG_VETH",
    "Macvlan": "CONFIG_MACVLAN",
    "Vlan": "CONFIG_VLAN_8021Q",
    "Bridges": "CONFIG_BRIDGE",
    "FUSE (for use with lxcfs)": "CONFIG_FUSE_FS",
    "checkpoint restore": "CONFIG_CHECKPOINT_RESTORE",
}


def _kernel_config(host) -> dict:
    text = host.check_output("cat /boot/config-$(uname -r)")
    conf = {}
    for line in text.splitlines():
        m = re.match(r"(CONFIG_\w+)=(.*)", line)
        if m:
            conf[m.group(1)] = m.group(2)
    return conf


def test_checkconfig_agrees_with_kernel_config(host, installed):
    res = need(host.run("lxc-checkconfig"), "lxc-checkconfig")
    assert res.rc == 0, res.stderr
    conf = _kernel_config(host)
    out = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)
    checked = 0
    for line in out.splitlines():
        label, sep, verdict = line.partition(":")
        label = label.strip()
        sym = label if label.startswith("CONFIG_") else CHECKCONFIG_SYMBOLS.get(label)
        if not sep or not sym:
            continue
        verdict = verdict.strip().lower()
        if not verdict:
            continue
        want_enabled = conf.get(sym) in ("y", "m")
        assert verdict.startswith("enabled") == want_enabled, (line, sym, conf.get(sym))
        checked += 1
    assert checked >= 8, out


# ------------------------------------------------------------------ containers


def test_create_busybox(host, busybox_ct):
    path, name = busybox_ct
    assert host.file(f"{path}/{name}/config").exists
    assert host.file(f"{path}/{name}/rootfs/bin/busybox").exists


def test_execute_pid2_exit_code_and_reaping(host, busybox_ct):
    path, name = busybox_ct
    res = need(host.run(f"lxc-execute -P {path} -n {name} -- /bin/sh -c 'echo pid=$$; exit 7'"),
               "lxc-execute")
    assert res.rc == 7, res.stderr
    assert "pid=2" in res.stdout.split(), res.stdout
    # an orphan (sleep whose parent exits at once) must be reaped by PID 1, not left a zombie
    script = "sh -c 'sleep 0.3 &'; sleep 1.5; cat /proc/[0-9]*/stat"
    res = need(host.run(f"lxc-execute -P {path} -n {name} -- /bin/sh -c \"{script}\""),
               "lxc-execute")
    assert res.rc == 0, res.stderr
    stats = [line for line in res.stdout.splitlines() if line.strip()]
    assert stats, "no /proc in the container"
    assert not [s for s in stats if re.search(r"\) Z ", s)], stats


def test_start_attach_stop(host, busybox_ct):
    path, name = busybox_ct
    res = need(host.run(f"lxc-start -P {path} -n {name} -d"), "lxc-start")
    assert res.rc == 0, res.stderr
    wait = host.run(f"lxc-wait -P {path} -n {name} -s RUNNING -t 30")
    if not unimplemented(wait):
        assert wait.rc == 0, wait.stderr
    info = host.run(f"lxc-info -P {path} -n {name} -s")
    if not unimplemented(info):
        assert "RUNNING" in info.stdout, info.stdout
    att = need(host.run(f"lxc-attach -P {path} -n {name} -- /bin/sh -c 'echo in; exit 3'"),
               "lxc-attach")
    assert att.rc == 3 and att.stdout.strip() == "in", (att.rc, att.stdout, att.stderr)
    stop = need(host.run(f"lxc-stop -P {path} -n {name} -t 20"), "lxc-stop")
    assert stop.rc == 0, stop.stderr
    info = host.run(f"lxc-info -P {path} -n {name} -s")
    if not unimplemented(info):
        assert "STOPPED" in info.stdout, info.stdout


# python3 -c programs for the guest (no "$": this harness's remote shell expands it even
# inside single quotes). kB of file pages resident: Rss - Anonymous of smaps_rollup.
_FILE_RSS = ("def file_rss(pid):\n"
             "    v = dict((w[0], int(w[1])) for w in (l.split() for l in "
             "open('/proc/%d/smaps_rollup' % pid)) if w[-1] == 'kB')\n"
             "    return v['Rss:'] - v['Anonymous:']\n")
# what a bare interpreter keeps one second after it started
BARE_FILE_RSS = _FILE_RSS + (
    "import subprocess, sys, time\n"
    "p = subprocess.Popen([sys.executable, '-I', '-S', '-c', 'import time; time.sleep(60)'])\n"
    "time.sleep(1)\n"
    "print(file_rss(p.pid))\n"
    "p.kill()\n")
# argv: init pid, limit; waits up to 30 s for the monitor of init to be lean and below
MONITOR_TRIMMED = _FILE_RSS + (
    "import sys, time\n"
    "init, limit = int(sys.argv[1]), int(sys.argv[2])\n"
    "mon = int(open('/proc/%d/stat' % init).read().rsplit(')', 1)[1].split()[1])\n"
    "for _ in range(60):\n"
    "    lean = b'lxcz monitor' in open('/proc/%d/cmdline' % mon, 'rb').read()\n"
    "    if lean and file_rss(mon) < limit:\n"
    "        sys.exit(0)\n"
    "    time.sleep(0.5)\n"
    "print(lean, file_rss(mon), open('/proc/%d/smaps_rollup' % mon).read())\n"
    "sys.exit(1)\n")


def test_idle_monitor_goes_lean_trims_and_serves(host, busybox_ct):
    """On this CPU and kernel: an idle daemon monitor re-executes lean and unmaps the
    interpreter code it does not run (lxcz.sys.trim: raw madvise through _ctypes), so it
    keeps fewer file pages resident than a bare interpreter, and still serves."""
    path, name = busybox_ct
    need(host.run(f"lxc-start -P {path} -n {name} -d"), "lxc-start")
    try:
        init = host.run(f"lxc-info -P {path} -n {name} -pH")
        assert init.rc == 0, init.stderr
        bare = host.run("python3 -c " + shlex.quote(BARE_FILE_RSS))
        assert bare.rc == 0, bare.stderr
        limit = int(bare.stdout)
        ok = host.run("python3 -c " + shlex.quote(MONITOR_TRIMMED)
                      + f" {int(init.stdout)} {limit}")
        assert ok.rc == 0, (limit, ok.stdout, ok.stderr)
        att = host.run(f"lxc-attach -P {path} -n {name} -- /bin/sh -c 'exit 4'")
        assert att.rc == 4, att.stderr
    finally:
        host.run(f"lxc-stop -P {path} -n {name} -k")
    info = host.run(f"lxc-info -P {path} -n {name} -s")
    assert "STOPPED" in info.stdout, info.stdout


def test_container_cgroup(host, vm, busybox_ct):
    path, name = busybox_ct
    res = need(host.run(f"lxc-start -P {path} -n {name} -d"), "lxc-start")
    assert res.rc == 0, res.stderr
    try:
        pid = need(host.run(f"lxc-info -P {path} -n {name} -p -H"), "lxc-info").stdout.strip()
        assert pid.isdigit(), pid
        cg = host.check_output(f"cat /proc/{pid}/cgroup")
        if vm["cgroup"] == "unified":
            assert cg.startswith("0::/") and name in cg, cg
        else:
            assert any(name in line for line in cg.splitlines() if not line.startswith("0::")), cg
    finally:
        host.run(f"lxc-stop -P {path} -n {name} -k")


# sethostname exists under that name on all six architectures; busybox hostname reports
# its failure, and container root may call it (own UTS namespace) when seccomp allows
SECCOMP_DENY_SETHOSTNAME = "2\\ndenylist\\nsethostname errno 1\\n"


def test_seccomp_denies_and_allows(host, vm, busybox_ct):
    path, name = busybox_ct
    profile = f"{path}/deny-sethostname.seccomp"
    host.run(f"printf '{SECCOMP_DENY_SETHOSTNAME}' > {profile}")
    run = f"lxc-execute -P {path} -n {name}"
    control = need(host.run(f"{run} -- /bin/hostname vmtest"), "lxc-execute")
    assert control.rc == 0, ("sethostname without the profile", control.stderr)
    opt = f"-s lxc.seccomp.profile={profile}"
    denied = need(host.run(f"{run} {opt} -- /bin/hostname vmtest"), "lxc-execute")
    assert denied.rc != 0, (denied.stdout, denied.stderr)
    assert "not permitted" in denied.stderr.lower(), denied.stderr
    allowed = need(host.run(f"{run} {opt} -- /bin/uname -m"), "lxc-execute")
    assert allowed.rc == 0 and allowed.stdout.strip() == vm["uname_m"], \
        (allowed.stdout, allowed.stderr)


# ------------------------------------------------------------------ networking the host lacks

def _links(host) -> set:
    return set(host.check_output("ls /sys/class/net").split())


def test_net_vlan_ipvlan_macvlan_phys(host, busybox_ct):
    """Interface types whose modules this project's build host lacks (8021q, ipvlan,
    dummy): configured inside, and everything given back or removed on exit."""
    path, name = busybox_ct
    for mod in ("dummy", "8021q", "ipvlan", "macvlan"):
        if host.run(f"modprobe {mod}").rc != 0:
            pytest.skip(f"the guest kernel has no {mod} module")
    ip = "ip"
    for d in ("lxczd0", "lxczd1", "lxczd2"):
        res = host.run(f"{ip} link add {d} type dummy && {ip} link set {d} up")
        assert res.rc == 0, res.stderr
    try:
        before = _links(host)
        keys = {
            "lxc.net.0.type": "vlan", "lxc.net.0.link": "lxczd0", "lxc.net.0.vlan.id": "42",
            "lxc.net.0.name": "v42", "lxc.net.0.flags": "up",
            "lxc.net.0.ipv4.address": "10.42.0.2/24",
            "lxc.net.1.type": "phys", "lxc.net.1.link": "lxczd1", "lxc.net.1.name": "ph0",
            "lxc.net.1.flags": "up", "lxc.net.1.ipv4.address": "10.43.0.2/24",
            # a device carries macvlans or ipvlans, not both
            "lxc.net.2.type": "ipvlan", "lxc.net.2.link": "lxczd2", "lxc.net.2.name": "ipv0",
            "lxc.net.2.ipvlan.mode": "l2", "lxc.net.2.ipvlan.isolation": "private",
            "lxc.net.2.flags": "up",
            "lxc.net.2.ipv4.address": "10.44.0.2/24",
            "lxc.net.3.type": "macvlan", "lxc.net.3.link": "lxczd0", "lxc.net.3.name": "mv0",
            "lxc.net.3.macvlan.mode": "bridge", "lxc.net.3.flags": "up",
            "lxc.net.3.ipv4.address": "10.45.0.2/24",
        }
        opts = " ".join(f"-s {k}={v}" for k, v in keys.items())
        res = need(host.run(f"lxc-execute -P {path} -n {name} {opts} -- /bin/ip -o addr"),
                   "lxc-execute")
        assert res.rc == 0, res.stderr
        for dev, addr in (("v42", "10.42.0.2/24"), ("ph0", "10.43.0.2/24"),
                          ("ipv0", "10.44.0.2/24"), ("mv0", "10.45.0.2/24")):
            assert any(dev in ln and addr in ln for ln in res.stdout.splitlines()), \
                (dev, res.stdout)
        # the phys NIC is back under its own name, nothing made for the container is left
        assert _links(host) == before
        # the ipvlan's mode and isolation, seen with the guest's own ip in the container's
        # network namespace while it runs
        script = (f"(lxc-execute -P {path} -n {name} {opts} -- /bin/sleep 60 "
                  ">/dev/null 2>&1 &); for i in $(seq 60); do "
                  f"pid=$(lxc-info -P {path} -n {name} -p -H 2>/dev/null); "
                  '[ -n "$pid" ] && break; sleep 0.5; done; '
                  "nsenter -t $pid -n ip -d link show ipv0; "
                  f"lxc-stop -P {path} -n {name} -k >/dev/null")
        res = host.run(script)
        assert re.search(r"ipvlan\s+mode l2 private", res.stdout), (res.stdout, res.stderr)
        for _ in range(20):
            if _links(host) == before:
                break
            host.run("sleep 0.5")
        assert _links(host) == before
    finally:
        for d in ("lxczd0", "lxczd1", "lxczd2"):
            host.run(f"{ip} link del {d}")


# ------------------------------------------------------------------ LVM, for real

def test_lvm_backing_store(host, lxcpath):
    """-B lvm on a volume group made here on a loop device: create, run, snapshot copy,
    destroy; no logical volume, mount or loop device is left."""
    if host.run("command -v lvcreate").rc != 0:
        pytest.skip("lvm2 is not in this guest image")
    for mod in ("loop", "dm_mod", "dm_snapshot"):
        if host.run(f"modprobe {mod}").rc != 0:
            pytest.skip(f"the guest kernel has no {mod} module")
    img, vg = "/var/tmp/lxczpv.img", "lxczvg"
    # the guest runs no udev: LVM must make its device nodes itself
    local = "/etc/lvm/lvmlocal.conf"
    saved = host.run(f"cat {local}").stdout if host.file(local).exists else None
    host.run(f"printf 'activation {{\\n udev_sync = 0\\n udev_rules = 0\\n}}\\n' > {local}")
    mounts_before = host.check_output("cut -d' ' -f2 /proc/self/mounts | sort")
    dev = host.check_output(f"truncate -s 400M {img} && losetup -f --show {img}")
    try:
        for cmd in (f"pvcreate -q {dev}", f"vgcreate -q {vg} {dev}"):
            res = host.run(cmd)
            assert res.rc == 0, (cmd, res.stderr)
        res = need(host.run(f"lxc-create -P {lxcpath} -n lv1 -t busybox -B lvm "
                            f"--vgname {vg} --fssize 64M"), "lxc-create")
        assert res.rc == 0, res.stderr
        assert "lv1" in host.check_output(f"lvs --noheadings -o lv_name {vg}").split()
        assert f"lvm:/dev/{vg}/lv1" in host.check_output(f"cat {lxcpath}/lv1/config")
        res = host.run(f"lxc-execute -P {lxcpath} -n lv1 -- /bin/sh -c "
                       "'echo from-lvm > /root/mark; cat /proc/self/mounts'")
        assert res.rc == 0, res.stderr
        assert f"/dev/mapper/{vg}-lv1 / " in res.stdout or f"/dev/{vg}/lv1 / " in res.stdout, \
            res.stdout
        res = need(host.run(f"lxc-copy -P {lxcpath} -n lv1 -N lv2 -s"), "lxc-copy")
        assert res.rc == 0, res.stderr
        lvs = host.check_output(f"lvs --noheadings -o lv_name,origin {vg}")
        assert any(ln.split() == ["lv2", "lv1"] for ln in lvs.splitlines()), lvs
        res = host.run(f"lxc-execute -P {lxcpath} -n lv2 -- /bin/cat /root/mark")
        assert res.rc == 0 and res.stdout.strip() == "from-lvm", (res.stdout, res.stderr)
        for name in ("lv2", "lv1"):
            res = host.run(f"lxc-destroy -P {lxcpath} -n {name}")
            assert res.rc == 0, res.stderr
        assert host.check_output(f"lvs --noheadings -o lv_name {vg}").strip() == ""
        assert host.check_output("cut -d' ' -f2 /proc/self/mounts | sort") == mounts_before
    finally:
        host.run(f"vgremove -q -f {vg}")
        host.run(f"pvremove -q {dev}")
        host.run(f"losetup -d {dev}")
        host.run(f"rm -f {img}")
        if saved is None:
            host.run(f"rm -f {local}")
        else:
            host.run(f"cat > {local} <<'LXCZEOF'\n{saved}LXCZEOF")
    assert dev not in host.check_output("losetup -a || true")


def test_veth_bridge_vlans(host, busybox_ct):
    """veth.vlan.id and veth.vlan.tagged.id on a VLAN-filtering bridge (this project's
    build host has no bridge VLAN filtering)."""
    path, name = busybox_ct
    br, port = "lxczvbr0", "lxczvp0"
    res = host.run(f"ip link add {br} type bridge vlan_filtering 1 && ip link set {br} up")
    if res.rc != 0:
        pytest.skip(f"no VLAN-filtering bridge here: {res.stderr.strip()}")
    try:
        opts = " ".join(f"-s {k}={v}" for k, v in (
            ("lxc.net.0.type", "veth"), ("lxc.net.0.link", br),
            ("lxc.net.0.veth.pair", port), ("lxc.net.0.flags", "up"),
            ("lxc.net.0.veth.vlan.id", "10"), ("lxc.net.0.veth.vlan.tagged.id", "20"),
            ("lxc.net.0.veth.vlan.tagged.id", "30")))
        res = need(host.run(f"lxc-start -P {path} -n {name} -d {opts}"), "lxc-start")
        assert res.rc == 0, res.stderr
        try:
            import json

            shown = json.loads(host.check_output(f"bridge -j vlan show dev {port}"))
            vlans = {v["vlan"]: sorted(v.get("flags", [])) for v in shown[0]["vlans"]}
            assert vlans == {10: ["Egress Untagged", "PVID"], 20: [], 30: []}, vlans
        finally:
            host.run(f"lxc-stop -P {path} -n {name} -k")
        for _ in range(40):  # the monitor removes the host end as it finishes
            if port not in host.check_output("ls /sys/class/net").split():
                break
            host.run("sleep 0.25")
        assert port not in host.check_output("ls /sys/class/net").split()
    finally:
        host.run(f"ip link del {br}")

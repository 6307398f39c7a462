"""Mounts, /dev, terminals, hooks, environment and namespaces of a started container,
including symlinked mount targets that must fail without touching the host."""

from __future__ import annotations

import os

import pytest
from runtime_fixtures import busybox_box, lxcz, needs_busybox
from runtime_fixtures import run_with as run
from runtime_fixtures import sh_with as sh

pytestmark = needs_busybox


@pytest.fixture
def box(tmp_path, lxcpath):
    with busybox_box(tmp_path, lxcpath, "rm") as b:
        yield b


def wait_for_text(path, marker, timeout=10):
    """The text of the file at path once it holds marker, or after timeout seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (
            os.path.exists(path) and marker in open(path).read()):
        time.sleep(0.05)
    return open(path).read()


def test_bind_entry_create_dir_relative_and_ro(box):
    host = os.path.join(box["tmp"], "share")
    os.mkdir(host)
    with open(os.path.join(host, "f"), "w") as f:
        f.write("data\n")
    r = sh(box, f"lxc.mount.entry = {host} srv/share none bind,ro,create=dir 0 0\n",
           "cat /srv/share/f; touch /srv/share/new 2>/dev/null && echo WROTE; true")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "data\n"
    assert not os.path.exists(os.path.join(host, "new"))


def test_bind_file_create_file_and_absolute_target(box):
    host = os.path.join(box["tmp"], "hostfile")
    with open(host, "w") as f:
        f.write("file-content\n")
    target = os.path.join(box["rootfs"], "etc", "bound")
    r = sh(box, f"lxc.mount.entry = {host} {target} none bind,create=file 0 0\n",
           "cat /etc/bound")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "file-content\n"


def test_optional_missing_source_is_skipped(box):
    r = sh(box, f"lxc.mount.entry = {box['tmp']}/nope mnt/x none bind,optional,create=dir\n",
           "echo ok")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"


def test_entries_below_dev_land_on_the_autodev_tmpfs(box):
    """lxc.autodev mounts /dev's tmpfs before the mount entries (LXC's order), so entries
    such as the busybox template's dev/shm and dev/mqueue are not hidden under it; the
    standard nodes are still made, and one an entry bound already is kept."""
    host = os.path.join(box["tmp"], "fakenull")
    with open(host, "w") as f:
        f.write("not a device\n")
    r = sh(box, "lxc.autodev = 1\n"
                "lxc.mount.entry = shm dev/shm tmpfs defaults,create=dir 0 0\n"
                "lxc.mount.entry = mqueue dev/mqueue mqueue defaults,optional,create=dir 0 0\n"
                f"lxc.mount.entry = {host} dev/full none bind,create=file 0 0\n",
           "for m in /dev/shm /dev/mqueue /dev/full; do "
           "grep -q \" $m \" /proc/self/mountinfo && echo mounted $m; done; "
           "cat /dev/full; test -c /dev/null && test -c /dev/zero && echo nodes; "
           "test -d /dev/mqueue && echo visible")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["mounted /dev/shm", "mounted /dev/mqueue",
                                     "mounted /dev/full", "not a device", "nodes",
                                     "visible"], r.stdout


def test_missing_source_fails(box):
    r = sh(box, f"lxc.mount.entry = {box['tmp']}/nope mnt/x none bind,create=dir 0 0\n",
           "echo ok")
    assert r.returncode != 0
    assert "mnt/x" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_tmpfs_entry_and_fstab(box):
    fstab = os.path.join(box["tmp"], "fstab")
    with open(fstab, "w") as f:
        f.write("# comment\ntmpfs mnt/t2 tmpfs size=1m,create=dir 0 0\n")
    r = sh(box, f"lxc.mount.entry = tmpfs mnt/t1 tmpfs size=1m,create=dir 0 0\n"
                f"lxc.mount.fstab = {fstab}\n",
           "grep -c ' /mnt/t[12] ' /proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"


@pytest.mark.parametrize("target", ["mnt/link/sub", "mnt/link"])
def test_symlinked_target_fails_and_creates_nothing_outside(box, target):
    outside = os.path.join(box["tmp"], "outside")
    os.mkdir(outside)
    os.symlink(outside, os.path.join(box["rootfs"], "mnt", "link"))
    r = sh(box, f"lxc.mount.entry = tmpfs {target} tmpfs create=dir 0 0\n", "echo ran")
    assert r.returncode != 0
    assert "symbolic link" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "ran" not in r.stdout
    assert os.listdir(outside) == []


def test_relative_symlink_escape_fails(box):
    os.symlink("../../../../../../../../tmp", os.path.join(box["rootfs"], "mnt", "up"))
    r = sh(box, "lxc.mount.entry = tmpfs mnt/up/lxcz-escape-probe tmpfs create=dir 0 0\n",
           "true")
    assert r.returncode != 0
    assert not os.path.exists("/tmp/lxcz-escape-probe")


def test_dotdot_target_fails(box):
    r = sh(box, "lxc.mount.entry = tmpfs mnt/../../escape tmpfs create=dir 0 0\n", "true")
    assert r.returncode != 0
    assert ".." in r.stderr


def test_rootfs_ro(box):
    r = sh(box, "lxc.rootfs.options = ro\n", "touch /x 2>/dev/null && echo WROTE; echo done")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    assert not os.path.exists(os.path.join(box["rootfs"], "x"))


def test_missing_proc_and_sys_dirs_are_created(box):
    for d in ("proc", "sys"):
        p = os.path.join(box["rootfs"], d)
        if os.path.isdir(p):
            os.rmdir(p)
    r = sh(box, "", "test -e /proc/self/status && test -d /sys/kernel && echo ok")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"


def test_proc_sys_mixed_readonly(box):
    r = sh(box, "", "grep -E ' /proc/sys | /sys ' /proc/self/mountinfo | "
                    "grep -c ' ro,'")
    assert r.returncode == 0
    assert int(r.stdout.strip()) >= 2


def test_cgroup_mixed(box):
    r = sh(box, "lxc.mount.auto = cgroup:mixed\n",
           "test -d /sys/fs/cgroup/memory && test -d /sys/fs/cgroup/unified && "
           "cat /proc/self/cgroup | grep -c ':/$'")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) >= 5  # the cgroup namespace is rooted at the container


def test_autodev_nodes_and_devpts(box):
    r = sh(box, "", "ls /dev | sort | tr '\\n' ' '; echo; "
                    "grep -c ' /dev/pts .* devpts ' /proc/self/mountinfo; "
                    "echo x > /dev/null && head -c 4 /dev/zero | wc -c")
    assert r.returncode == 0, r.stderr
    names = r.stdout.splitlines()[0].split()
    for n in ("null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "fd",
              "stdin", "stdout", "stderr", "shm"):
        assert n in names
    assert r.stdout.splitlines()[1:] == ["1", "4"]


def test_ttys_and_console_with_lxc_start(box, tmp_path):
    out = os.path.join(box["rootfs"], "tmp", "out")
    r = run(box, "lxc.tty.max = 3\nlxc.pty.max = 10\n", "/bin/sh", "-c",
            "ls /dev > /tmp/out; test -t 0 || echo no-tty-stdin >> /tmp/out; "
            "ls -lL /dev/console /dev/tty1 >> /tmp/out; "
            "test -t 3 3</dev/console && echo console-tty >> /tmp/out; "
            "exec sleep 100000", tool="lxc-start")
    assert r.returncode == 0, r.stderr
    names = wait_for_text(out, "console-tty").split()
    # a daemon's init reads /dev/null (as LXC 5); /dev/console is the console pty
    for n in ("console", "tty1", "tty2", "tty3", "no-tty-stdin", "console-tty"):
        assert n in names
    assert "tty4" not in names
    assert names.count("crw--w----") == 2, names  # 0620, as LXC leaves them


def test_hooks_environment_and_order(box):
    log = os.path.join(box["tmp"], "hooks.log")
    hook = os.path.join(box["tmp"], "hook.sh")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\necho \"$3 $1 $2 $LXC_HOOK_TYPE $LXC_NAME $LXC_ROOTFS_PATH "
                f"$LXC_HOOK_SECTION\" >> {log}\n")
    os.chmod(hook, 0o755)
    inner = os.path.join(box["rootfs"], "bin", "starthook")
    with open(inner, "w") as f:
        f.write("#!/bin/sh\necho \"start $LXC_NAME\" > /tmp/starthook\n")
    os.chmod(inner, 0o755)
    extra = "".join(f"lxc.hook.{h} = {hook}\n" for h in
                    ("pre-start", "pre-mount", "mount", "autodev", "start-host", "stop",
                     "post-stop"))
    extra += "lxc.hook.start = /bin/starthook\n"
    r = sh(box, extra, "cat /tmp/starthook")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"start {box['name']}\n"
    lines = open(log).read().splitlines()
    order = [ln.split()[0] for ln in lines]
    assert order == ["pre-start", "pre-mount", "mount", "autodev", "start-host", "stop",
                     "post-stop"]
    for ln in lines:
        parts = ln.split()
        assert parts[1] == box["name"] and parts[2] == "lxc" and parts[3] == parts[0]
        assert parts[4] == box["name"] and parts[5] == os.path.realpath(box["rootfs"])


def test_failing_hook_aborts_and_post_stop_runs(box):
    marker = os.path.join(box["tmp"], "post-stop-ran")
    hook = os.path.join(box["tmp"], "post-stop.sh")
    with open(hook, "w") as f:  # hooks get NAME lxc TYPE appended: keep them out of cwd
        f.write(f"#!/bin/sh\ntouch {marker}\n")
    os.chmod(hook, 0o755)
    r = sh(box, f"lxc.hook.pre-start = /bin/false\nlxc.hook.post-stop = {hook}\n",
           "echo should-not-run")
    assert r.returncode != 0
    assert "pre-start" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "should-not-run" not in r.stdout
    assert os.path.exists(marker)


def test_environment_cwd_uid(box):
    os.makedirs(os.path.join(box["rootfs"], "work"))
    r = sh(box, "lxc.environment = A=1\nlxc.environment = B=two words\n"
                "lxc.init.cwd = /work\nlxc.init.uid = 65534\nlxc.init.gid = 65534\n",
           "echo \"$A|$B|$container\"; pwd; id -u; id -g")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["1|two words|lxc", "/work", "65534", "65534"]


def test_namespace_keep_net(box):
    host = os.readlink("/proc/self/ns/net")
    r = sh(box, "lxc.namespace.keep = net\n", "readlink /proc/self/ns/net")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == host
    r = sh(box, "", "readlink /proc/self/ns/net")
    assert r.stdout.strip() != host


def test_namespace_clone_subset(box):
    host_uts = os.readlink("/proc/self/ns/uts")
    r = sh(box, "lxc.namespace.clone = mnt pid\n", "readlink /proc/self/ns/uts")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == host_uts


def test_namespace_share_with_running_container(box, tmp_path):
    """lxc.namespace.share.uts = OTHER joins the UTS namespace of a running container."""
    other = box["name"] + "o"
    cfg = str(tmp_path / "other.conf")
    with open(cfg, "w") as f:
        f.write(f"lxc.rootfs.path = dir:{box['rootfs']}\nlxc.uts.name = host-{other}\n")
    r = lxcz("lxc-start", "-n", other, "-P", box["lxcpath"], "-f", cfg)
    assert r.returncode == 0, r.stderr
    try:
        r = run(box, f"lxc.namespace.share.uts = {other}\n", "/bin/hostname")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"host-{other}"
        r = lxcz("lxc-execute", "-n", box["name"], "-P", box["lxcpath"], "-f",
                 os.path.join(box["tmp"], "config"), "-s", "lxc.namespace.share.uts=nosuch",
                 "--", "/bin/true")
        assert r.returncode != 0 and "nosuch" in r.stderr
    finally:
        lxcz("lxc-stop", "-n", other, "-P", box["lxcpath"], "-k")


def test_init_signal_dispositions_are_default(box):
    # SigIgn of the command: Python's ignored SIGPIPE/SIGXFSZ must not leak into it
    r = run(box, "", "/bin/cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    ign = [ln for ln in r.stdout.splitlines() if ln.startswith("SigIgn:")][0]
    assert int(ign.split()[1], 16) == 0


def test_container_log_file(box):
    logf = os.path.join(box["tmp"], "c.log")
    r = sh(box, f"lxc.log.file = {logf}\nlxc.log.level = INFO\n", "true")
    assert r.returncode == 0, r.stderr
    text = open(logf).read()
    assert "changed state to [RUNNING]" in text
    assert text.splitlines()[0].startswith(f"lxc-execute {box['name']} ")


def test_cgroup2_auto_and_unsupported_auto_word(box):
    r = sh(box, "lxc.mount.auto = cgroup2\n", "grep -c ' /sys/fs/cgroup .* cgroup2 ' "
                                               "/proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    r = sh(box, "lxc.mount.auto = shmounts:/tmp/x\n", "true")
    if r.returncode != 0:
        assert "shmounts" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_tty_dir_layout(box):
    out = os.path.join(box["rootfs"], "tmp", "ttys")
    r = run(box, "lxc.tty.max = 2\nlxc.tty.dir = lxc\n", "/bin/sh", "-c",
            "(ls /dev/lxc; readlink /dev/tty1; readlink /dev/tty2;"
            " [ -c /dev/console ] && echo chr; echo end-marker)"
            " > /tmp/ttys; exec sleep 100000", tool="lxc-start")
    assert r.returncode == 0, r.stderr
    assert wait_for_text(out, "end-marker").split() == [
        "console", "tty1", "tty2", "lxc/tty1", "lxc/tty2", "chr", "end-marker"]

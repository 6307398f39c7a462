"""lxc-attach's LSM label: read from the init, written by the attached child."""

from __future__ import annotations

import os
import signal

import pytest

from lxcz.errors import LxczError
from lxcz.runtime import attach as A
from lxcz.security import lsm, selinux


def _write(path, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture
def hosts(tmp_path):
    sysfs, proc = tmp_path / "sys", tmp_path / "proc"
    os.makedirs(sysfs)
    os.makedirs(proc)
    return str(sysfs), str(proc)


def test_no_lsm_no_label(hosts, monkeypatch):
    sysfs, proc = hosts
    monkeypatch.setattr(selinux, "enabled", lambda fs=None: False)
    _write(f"{proc}/42/attr/current", "whatever")
    assert lsm.label_of(42, sysfs, proc) is None


def test_apparmor_label_of_init_without_mode(hosts):
    sysfs, proc = hosts
    _write(f"{sysfs}/module/apparmor/parameters/enabled", "Y\n")
    _write(f"{proc}/42/attr/apparmor/current", "lxc-container-default-cgns (enforce)\n")
    _write(f"{proc}/42/attr/current", "other (complain)\n")
    assert lsm.label_of(42, sysfs, proc) == ("apparmor", "lxc-container-default-cgns")


def test_apparmor_older_kernel_attr_current(hosts):
    sysfs, proc = hosts
    _write(f"{sysfs}/module/apparmor/parameters/enabled", "Y\n")
    _write(f"{proc}/42/attr/current", "unconfined\n")
    assert lsm.label_of(42, sysfs, proc) == ("apparmor", "unconfined")


def test_apparmor_disabled_parameter(hosts, monkeypatch):
    sysfs, proc = hosts
    monkeypatch.setattr(selinux, "enabled", lambda fs=None: False)
    _write(f"{sysfs}/module/apparmor/parameters/enabled", "N\n")
    _write(f"{proc}/42/attr/apparmor/current", "p (enforce)\n")
    assert lsm.label_of(42, sysfs, proc) is None


def test_selinux_context_of_init(hosts, monkeypatch):
    sysfs, proc = hosts
    monkeypatch.setattr(selinux, "enabled", lambda fs=None: True)  # reads /proc/self
    _write(f"{proc}/42/attr/current", "system_u:system_r:container_t:s0:c1,c2\x00")
    selinuxfs = f"{sysfs}/fs/selinux"
    assert lsm.label_of(42, sysfs, proc, selinuxfs) is None  # no selinuxfs: not active
    _write(f"{selinuxfs}/enforce", "1")
    assert lsm.label_of(42, sysfs, proc, selinuxfs) == \
        ("selinux", "system_u:system_r:container_t:s0:c1,c2")


def test_attr_path_prefers_thread_self_and_the_apparmor_directory(hosts):
    _, proc = hosts
    os.makedirs(f"{proc}/self/attr")
    assert lsm.attr_path("apparmor", False, proc) == f"{proc}/self/attr/exec"
    os.makedirs(f"{proc}/thread-self/attr/apparmor")
    assert lsm.attr_path("apparmor", False, proc) == f"{proc}/thread-self/attr/apparmor/exec"
    assert lsm.attr_path("apparmor", True, proc) == f"{proc}/thread-self/attr/apparmor/current"
    assert lsm.attr_path("selinux", False, proc) == f"{proc}/thread-self/attr/exec"


@pytest.mark.parametrize("kind,label,own,change", [
    ("apparmor", "unconfined", "unconfined", False),
    ("apparmor", "unconfined", None, False),
    ("apparmor", "unconfined", "host-profile", True),
    ("apparmor", "lxc-container-default", "unconfined", True),
    ("apparmor", "lxc-container-default", "lxc-container-default", False),
    ("selinux", "a:b:c:s0", "a:b:c:s0", False),
    ("selinux", "a:b:container_t:s0", "a:b:unconfined_t:s0", True),
])
def test_needs_change(kind, label, own, change):
    assert lsm.needs_change(kind, label, own) is change


@pytest.mark.parametrize("kind,own,now,leaf,label,written", [
    ("apparmor", "apparmor/current", False, "apparmor/exec", "lxc-container-default-cgns",
     "exec lxc-container-default-cgns"),
    ("apparmor", "apparmor/current", True, "apparmor/current", "p", "changeprofile p"),
    ("selinux", "current", False, "exec", "u:r:container_t:s0", "u:r:container_t:s0"),
])
def test_label_written_through_the_opened_file(hosts, kind, own, now, leaf, label,
                                               written):
    _, proc = hosts
    _write(f"{proc}/self/attr/{own}", "unconfined\n" if kind == "apparmor"
           else "u:r:unconfined_t:s0")
    _write(f"{proc}/thread-self/attr/{leaf}", "")
    fd = lsm.open_attr(kind, label, now, proc)
    assert fd >= 0
    lsm.set_label(fd, kind, label, now)
    with open(f"{proc}/thread-self/attr/{leaf}") as f:
        assert f.read() == written
    with pytest.raises(OSError):
        os.fstat(fd)  # set_label closed it


def test_same_label_opens_nothing(hosts):
    _, proc = hosts
    _write(f"{proc}/self/attr/apparmor/current", "unconfined\n")
    assert lsm.open_attr("apparmor", "unconfined", False, proc) == -1
    lsm.set_label(-1, "apparmor", "unconfined")  # nothing to do


def test_unopenable_attr_names_the_label(hosts):
    _, proc = hosts
    _write(f"{proc}/self/attr/current", "u:r:unconfined_t:s0")
    with pytest.raises(LxczError, match='SELinux context "u:r:container_t:s0"'):
        lsm.open_attr("selinux", "u:r:container_t:s0", False, proc)


def test_refused_write_names_the_profile(hosts):
    rfd, wfd = os.pipe()
    os.close(rfd)  # EPIPE stands in for the kernel refusing the profile
    old = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        with pytest.raises(LxczError, match='AppArmor profile "p"'):
            lsm.set_label(wfd, "apparmor", "p")
    finally:
        signal.signal(signal.SIGPIPE, old)


class _Conf:
    def get_list(self, key):
        return []

    def get_item(self, key):
        return None


class _Container:
    config = _Conf()


@pytest.mark.parametrize("flags,want", [
    (A.LXC_ATTACH_DEFAULT, ("apparmor", "prof", False)),
    (A.LXC_ATTACH_DEFAULT & ~A.LXC_ATTACH_LSM, None),
    ((A.LXC_ATTACH_DEFAULT & ~A.LXC_ATTACH_LSM_EXEC) | A.LXC_ATTACH_LSM_NOW,
     ("apparmor", "prof", True)),
])
def test_attach_spec_takes_the_init_label(monkeypatch, flags, want):
    seen = []
    monkeypatch.setattr(lsm, "label_of", lambda pid: seen.append(pid) or ("apparmor", "prof"))
    spec = A._options_to_spec(_Container(), {"pid": 77, "cgroup_attach": {"pids": "/c"}},
                              {"attach_flags": flags})
    assert spec.get("lsm") == want
    assert seen == ([77] if want else [])


def test_attach_spec_without_an_lsm(monkeypatch):
    monkeypatch.setattr(lsm, "label_of", lambda pid: None)
    spec = A._options_to_spec(_Container(), {"pid": 77, "cgroup_attach": {"pids": "/c"}}, {})
    assert "lsm" not in spec


def test_attach_spec_named_label_uses_the_active_lsm(monkeypatch):
    monkeypatch.setattr(lsm, "label_of", lambda pid: ("selinux", "init-label"))
    monkeypatch.setattr(lsm, "active", lambda: "selinux")
    flags = A.LXC_ATTACH_DEFAULT | A.LXC_ATTACH_LSM_LABEL
    spec = A._options_to_spec(_Container(), {"pid": 77, "cgroup_attach": {"pids": "/c"}},
                              {"attach_flags": flags, "lsm_label": "u:r:t:s0"})
    assert spec["lsm"] == ("selinux", "u:r:t:s0", False)
    monkeypatch.setattr(lsm, "active", lambda: None)  # no LSM: ignored, as LXC's nop driver
    spec = A._options_to_spec(_Container(), {"pid": 77, "cgroup_attach": {"pids": "/c"}},
                              {"attach_flags": flags, "lsm_label": "u:r:t:s0"})
    assert "lsm" not in spec

"""AppArmor and SELinux decisions against fake /sys trees (no root, no LSM needed)."""

from __future__ import annotations

import pytest

from lxcz.errors import LxczError
from lxcz.security import apparmor, selinux


def make_sys(tmp_path, enabled=True, mount=True, profiles=("lxc-container-default-cgns",
                                                            "myprof")):
    s = tmp_path / "sys"
    p = s / "module/apparmor/parameters"
    p.mkdir(parents=True)
    (p / "enabled").write_text("Y\n" if enabled else "N\n")
    sec = s / "kernel/security/apparmor"
    (sec / "features/domain").mkdir(parents=True)
    if mount:
        (sec / "features/mount").mkdir(parents=True)
        (sec / "features/mount/mask").write_text("mount umount pivot_root\n")
    (sec / "profiles").write_text("".join(f"{n} (enforce)\n" for n in profiles))
    return str(s)


@pytest.fixture(autouse=True)
def unconfined(monkeypatch):
    monkeypatch.setattr(apparmor, "current_label", lambda pid="self": None)


def test_disabled_host(tmp_path):
    s = make_sys(tmp_path, enabled=False)
    assert not apparmor.enabled(s)
    assert apparmor.prepare(None, False, s) is None
    assert apparmor.prepare("unconfined", False, s) is None
    with pytest.raises(LxczError) as e:
        apparmor.prepare("myprof", False, s)
    assert "AppArmor is not enabled" in str(e.value)
    assert "lxc.apparmor.allow_incomplete = 1" in str(e.value)
    assert apparmor.prepare("myprof", True, s) is None


def test_no_sysfs_at_all(tmp_path):
    assert not apparmor.enabled(str(tmp_path / "none"))


def test_enabled_host(tmp_path):
    s = make_sys(tmp_path)
    assert apparmor.enabled(s) and apparmor.mount_mediation(s)
    assert apparmor.loaded_profiles(s)["myprof"] == "enforce"
    assert apparmor.prepare("myprof", False, s) == "myprof"
    assert apparmor.prepare(None, False, s) == "lxc-container-default-cgns"
    assert apparmor.prepare("unconfined", False, s) == "unconfined"
    assert apparmor.prepare("unchanged", False, s) is None


def test_profile_not_loaded(tmp_path):
    s = make_sys(tmp_path)
    with pytest.raises(LxczError, match=r'AppArmor profile "nosuch" is not loaded'):
        apparmor.prepare("nosuch", False, s)
    with pytest.raises(LxczError, match=r'"nosuch" is not loaded'):
        apparmor.prepare("myprof//&nosuch", False, s)


def test_incomplete_support(tmp_path):
    s = make_sys(tmp_path, mount=False)
    with pytest.raises(LxczError, match="incomplete AppArmor support"):
        apparmor.prepare("myprof", False, s)
    assert apparmor.prepare("myprof", True, s) == "myprof"
    assert apparmor.prepare("unconfined", False, s) == "unconfined"


def test_generated_refused_where_apparmor_runs(tmp_path):
    s = make_sys(tmp_path)
    with pytest.raises(LxczError, match="generated is not supported"):
        apparmor.prepare("generated", False, s)


def test_generated_means_unconfined_without_apparmor(tmp_path):
    """Debian's default.conf says generated: default containers must start on such hosts."""
    s = make_sys(tmp_path, enabled=False)
    assert apparmor.prepare("generated", False, s) is None
    with pytest.raises(LxczError, match="AppArmor is not enabled"):
        apparmor.prepare("myprof", False, s)


def test_confined_without_stacking(tmp_path, monkeypatch):
    s = make_sys(tmp_path)
    monkeypatch.setattr(apparmor, "current_label", lambda pid="self": "myprof")
    assert apparmor.prepare("myprof", False, s) is None
    with pytest.raises(LxczError, match="cannot stack"):
        apparmor.prepare("lxc-container-default-cgns", False, s)


def test_apply_none_is_noop():
    apparmor.apply_at_exec(None)
    apparmor.apply_at_exec("unchanged")
    apparmor.apply_at_exec("unconfined")  # already unconfined (fixture)


def test_selinux_disabled(tmp_path):
    assert not selinux.enabled(str(tmp_path))
    assert selinux.prepare("system_u:system_r:lxc_t:s0", str(tmp_path)) is None
    assert selinux.prepare("", str(tmp_path)) is None
    selinux.apply_at_exec(None)

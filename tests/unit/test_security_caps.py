"""lxc.cap.drop / lxc.cap.keep words and the capability set they leave."""

from __future__ import annotations

import pytest

from lxcz.errors import ConfigError
from lxcz.security import caps


def test_last_cap_comes_from_the_kernel():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert caps.last_cap() == int(f.read())
    assert caps.all_caps() == set(range(caps.last_cap() + 1))


@pytest.mark.parametrize("word,nr", [
    ("sys_admin", 21), ("SYS_ADMIN", 21), ("CAP_SYS_ADMIN", 21), ("cap_sys_admin", 21),
    ("chown", 0), ("mknod", 27), ("mac_admin", 33), ("sys_module", 16), ("0", 0), ("21", 21),
])
def test_parse_cap(word, nr):
    assert caps.parse_cap(word) == nr


@pytest.mark.parametrize("word", ["sys_adm", "CAP_", "foo", "-1", "999", "1.5", "cap_none"])
def test_parse_cap_refuses(word):
    with pytest.raises(ConfigError) as e:
        caps.parse_cap(word)
    assert word in str(e.value) or "999" in str(e.value)


def test_cap_names_are_in_kernel_order():
    assert caps.CAP_NAMES[21] == "sys_admin"
    assert caps.CAP_NAMES[40] == "checkpoint_restore"
    assert caps.cap_name(21) == "sys_admin"
    assert caps.cap_name(99) == "99"


def test_resolve_drop():
    full = caps.all_caps()
    assert caps.resolve([], []) == full
    kept = caps.resolve(["sys_module mac_admin mac_override sys_time", "CAP_SYS_RAWIO"], [])
    assert kept == full - {16, 33, 32, 25, 17}
    assert caps.resolve(["sys_admin", ""], []) == full - {21}


def test_resolve_keep_and_none():
    assert caps.resolve([], ["sys_admin net_admin"]) == {21, 12}
    assert caps.resolve([], ["none"]) == set()
    assert caps.resolve([], ["sys_admin", "none", "chown"]) == {0}
    assert caps.resolve([], ["sys_admin none chown kill"]) == {0, 5}


def test_resolve_refuses():
    with pytest.raises(ConfigError, match="mutually exclusive"):
        caps.resolve(["sys_admin"], ["chown"])
    with pytest.raises(ConfigError, match="none"):
        caps.resolve(["none"], [])
    with pytest.raises(ConfigError, match='unknown capability "sys_foo"'):
        caps.resolve(["chown sys_foo"], [])
    with pytest.raises(ConfigError, match='unknown capability "bogus"'):
        caps.resolve([], ["bogus"])


def test_check_value_for_the_config_layer():
    assert caps.check_value("chown none kill", True) == [0, None, 5]
    with pytest.raises(ConfigError):
        caps.check_value("none", False)


def test_current_reads_proc():
    sets = caps.current()
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd"):
        assert key in sets

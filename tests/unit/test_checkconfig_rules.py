"""lxc-checkconfig: the rule table and its verdicts on real Debian kernel configurations."""

from __future__ import annotations

import os
import re

import pytest

from lxcz.checkconfig import extract, kconfig, rules

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "kernel-configs")
FIXTURE_FILES = sorted(f for f in os.listdir(FIXTURES) if f.endswith(".config.xz"))
RULES = rules.load_rules()

# every option upstream LXC 5.0.2's lxc-checkconfig looks at
UPSTREAM_OPTIONS = {
    "NAMESPACES", "UTS_NS", "IPC_NS", "PID_NS", "USER_NS", "NET_NS",
    "DEVPTS_MULTIPLE_INSTANCES", "CGROUPS", "CGROUP_DEVICE", "CGROUP_SCHED",
    "CGROUP_CPUACCT", "MEMCG", "CGROUP_MEM_RES_CTLR", "CPUSETS", "VETH", "MACVLAN",
    "VLAN_8021Q", "BRIDGE", "NETFILTER_ADVANCED", "NF_NAT_IPV4", "NF_NAT_IPV6",
    "IP_NF_TARGET_MASQUERADE", "IP6_NF_TARGET_MASQUERADE", "NETFILTER_XT_TARGET_CHECKSUM",
    "NETFILTER_XT_MATCH_COMMENT", "FUSE_FS", "CHECKPOINT_RESTORE", "FHANDLE", "EVENTFD",
    "EPOLL", "UNIX_DIAG", "INET_DIAG", "PACKET_DIAG", "NETLINK_DIAG",
    "SECURITY_FILE_CAPABILITIES",
}
KNOWN_KEYS = {"id", "label", "options", "required", "since", "until", "if_set", "fixed",
              "live_ns", "modules", "extra", "upstream", "hint", "arch"}


def rows():
    return [r for s in RULES["section"] for r in s["check"]]


def test_table_is_well_formed():
    assert RULES["schema"] == 1
    assert [s["title"] for s in RULES["section"]] == [
        "Namespaces", "Control groups", "Misc", "Checkpoint/Restore"]
    ids = [r["id"] for r in rows()]
    assert len(ids) == len(set(ids))
    for r in rows():
        assert set(r) <= KNOWN_KEYS, r["id"]
        assert r["label"] and r["hint"], r["id"]
        assert ("options" in r) != ("fixed" in r), r["id"]
        for o in r.get("options", []):
            assert re.fullmatch(r"[A-Z0-9_]+", o), o
        for k in ("since", "until"):
            if k in r:
                rules.parse_version(r[k])
        assert r.get("fixed", "enabled") in ("enabled", "missing")


def test_every_upstream_option_is_covered():
    ours = {o for r in rows() if r.get("upstream", True) for o in r.get("options", [])}
    assert UPSTREAM_OPTIONS <= ours
    assert {r["id"] for r in rows() if r.get("required")} == {"namespaces", "ipc_ns", "pid_ns"}


def _load(name):
    return extract.load(os.path.join(FIXTURES, name))


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_debian_kernels_pass(name):
    report = rules.evaluate(_load(name), RULES)
    assert report.exit_code() == 0, [r.id for r in report.required_missing()]
    got = {r.id: r.status for r in report.results()}
    for must in ("namespaces", "uts_ns", "ipc_ns", "pid_ns", "user_ns", "net_ns", "cgroups",
                 "cgroup_ns", "cgroup_device", "cgroup_memory", "cgroup_cpuset",
                 "checkpoint_restore", "file_capabilities"):
        assert got[must] == "enabled", (name, must)
    # distribution kernels build the network drivers as modules ...
    if not name.startswith("host_"):
        for mod in ("veth", "macvlan", "vlan", "bridge"):
            assert got[mod] == "module", (name, mod)
    # ... no row for options that do not exist in these versions
    for gone in ("devpts_multiple_instances", "cgroup_memory_old", "nf_nat_ipv4",
                 "file_capabilities_old", "cgroup_ns_old"):
        assert gone not in got


@pytest.mark.parametrize("name", [n for n in FIXTURE_FILES if n.startswith("trixie_")])
def test_trixie_drops_cgroup_v1_controllers(name):
    got = {r.id: r for r in rules.evaluate(_load(name), RULES).results()}
    assert got["cgroup_memory_v1"].status == "missing"
    assert got["cgroup_cpuset_v1"].status == "missing"
    assert not got["cgroup_memory_v1"].required


def test_v1_controller_rows_only_on_new_kernels():
    old = rules.evaluate(_load([n for n in FIXTURE_FILES if n.startswith("bookworm_amd64")][0]),
                         RULES)
    assert "cgroup_memory_v1" not in {r.id for r in old.results()}


def test_host_kernel_vlan_missing():
    name = [n for n in FIXTURE_FILES if n.startswith("host_")][0]
    got = {r.id: r for r in rules.evaluate(_load(name), RULES).results()}
    assert got["vlan"].status == "missing" and "VLAN_8021Q" in got["vlan"].hint


def _cfg(version, **opts):
    text = f"# Linux/x86 {version} Kernel Configuration\n" if version else ""
    text += "".join(f"CONFIG_{k}={v}\n" for k, v in opts.items())
    return kconfig.parse(text or "CONFIG_X=y\n")


BASE = dict(NAMESPACES="y", IPC_NS="y", PID_NS="y", CGROUPS="y", SMP="y")


def test_old_kernel_rows():
    ids = {r.id: r for r in rules.evaluate(_cfg("3.2.0", CGROUP_MEM_RES_CTLR="y", **BASE),
                                           RULES).results()}
    assert ids["cgroup_memory_old"].status == "enabled"
    assert "cgroup_memory" not in ids
    assert ids["devpts_multiple_instances"].status == "missing"
    assert ids["cgroup_ns_old"].status == "missing"  # no cgroup namespaces before 4.6
    assert "nf_nat_ipv4" not in ids
    ids = {r.id for r in rules.evaluate(_cfg("2.6.32", **BASE), RULES).results()}
    assert "file_capabilities_old" in ids and "file_capabilities" not in ids
    ids = {r.id for r in rules.evaluate(_cfg("4.19.0", **BASE), RULES).results()}
    assert {"nf_nat_ipv4", "nf_nat_ipv6", "cgroup_ns"} <= ids and "nf_nat" not in ids


def test_missing_required_exits_1():
    opts = dict(BASE)
    del opts["PID_NS"]
    report = rules.evaluate(_cfg("6.1.0", **opts), RULES)
    assert report.exit_code() == 1
    assert [r.id for r in report.required_missing()] == ["pid_ns"]


def test_unknown_version_assumes_latest():
    report = rules.evaluate(_cfg(None, **BASE), RULES)
    ids = {r.id for r in report.results()}
    assert "cgroup_memory_v1" in ids and "devpts_multiple_instances" not in ids


def test_cpuset_needs_smp():
    opts = dict(BASE)
    del opts["SMP"]
    ids = {r.id for r in rules.evaluate(_cfg("6.1.0", **opts), RULES).results()}
    assert "cgroup_cpuset" not in ids


def test_live_decisions():
    cfg = _cfg("6.1.0", VETH="m", **BASE)
    report = rules.evaluate(cfg, RULES, live=True, loaded_modules={"veth"},
                            proc_ns={"ipc", "pid"})
    got = {r.id: r for r in report.results()}
    assert got["cgroup_ns"].status == "missing" and got["cgroup_ns"].source == "live"
    assert got["veth"].module_loaded is True
    report = rules.evaluate(cfg, RULES, live=False)
    got = {r.id: r for r in report.results()}
    assert got["cgroup_ns"].status == "enabled" and got["veth"].module_loaded is None


def test_arch_note():
    text = "# Linux/arm 6.1.0 Kernel Configuration\n" + "".join(
        f"CONFIG_{k}=y\n" for k in BASE)
    got = {r.id: r for r in rules.evaluate(kconfig.parse(text), RULES).results()}
    assert "3.8" in got["seccomp_filter"].note

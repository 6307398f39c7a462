"""lxc-checkconfig side by side with upstream LXC's script, on every kernel config fixture.

For each fixture both tools check the same file; every row upstream prints must get the
same verdict from lxcz (enabled / missing / required), except the documented differences
in KNOWN (label -> why lxcz is right). Also checks Debian's real ppc64el vmlinux (no
IKCONFIG blob) when tests/fixtures/fetch-kernel-configs has cached its package.
"""

from __future__ import annotations

import glob
import lzma
import os
import re
import subprocess
import sys

import pytest

from lxcz.checkconfig import extract, rules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "kernel-configs")
UPSTREAM = "/usr/bin/lxc-checkconfig"
CACHE = os.environ.get("LXCZ_KERNEL_DEBS",
                       os.path.expanduser("~/.cache/lxcz-kernel-debs"))

pytestmark = pytest.mark.skipif(not os.path.exists(UPSTREAM),
                                reason="upstream lxc-checkconfig not installed (apt-get install lxc)")

# Verdicts that differ on purpose: label -> (applies to kernel version?, why lxcz is right)
KNOWN = {
    "Cgroup namespace": (
        lambda v: v < (4, 6),
        "upstream looks at /proc/self/ns/cgroup of the machine it runs on even when "
        "checking another kernel's file; cgroup namespaces exist only since Linux 4.6"),
}
# Rows one tool shows and the other does not, on purpose: label -> (applies?, why)
KNOWN_ROWS = {
    "CONFIG_NF_NAT_IPV4": (
        lambda v: (3, 7) <= v < (4, 7) or (5, 0) <= v < (5, 1),
        "the option exists from 3.7 to 5.0; upstream's version test shows it only for "
        "4.7 to 4.x (it compares the minor number alone)"),
    "CONFIG_NF_NAT_IPV6": (
        lambda v: (3, 7) <= v < (4, 7) or (5, 0) <= v < (5, 1),
        "as CONFIG_NF_NAT_IPV4"),
}

LINE = re.compile(r"^(?P<label>[^:]+): (?P<verdict>enabled|missing|required)(?:,.*)?$")


def upstream_verdicts(path):
    env = dict(os.environ, CONFIG=path)
    p = subprocess.run(["/bin/sh", UPSTREAM], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m and not line.startswith("Cgroup v1 "):  # live v1 facts, compared separately
            out[m.group("label")] = m.group("verdict")
    return out


def our_verdicts(path):
    report = rules.evaluate(extract.load(path), rules.load_rules())
    out = {}
    for r in report.results():
        if not r.upstream:
            continue
        out[r.label] = ("enabled" if r.ok else "required" if r.required else "missing")
    return out, report


def compare(path):
    up = upstream_verdicts(path)
    ours, report = our_verdicts(path)
    version = report.config.version or rules.LATEST
    odd_rows = set(up) ^ set(ours)
    assert all(k in KNOWN_ROWS and KNOWN_ROWS[k][0](version) for k in odd_rows), odd_rows
    diffs = {k: (up[k], ours[k]) for k in set(up) & set(ours) if up[k] != ours[k]}
    unexplained = {k: v for k, v in diffs.items()
                   if not (k in KNOWN and KNOWN[k][0](version))}
    assert not unexplained, unexplained
    return diffs


FILES = sorted(glob.glob(os.path.join(FIXTURES, "*.config.xz")))


@pytest.mark.parametrize("fixture", FILES, ids=[os.path.basename(f) for f in FILES])
def test_same_verdicts_as_upstream(fixture, tmp_path):
    plain = tmp_path / "config"
    plain.write_bytes(lzma.decompress(open(fixture, "rb").read()))
    assert compare(str(plain)) == {}


SYNTHETIC = {
    # an old kernel: DEVPTS_MULTIPLE_INSTANCES row, NF_NAT_IPV4/6 rows, no cgroup namespace
    "4.4": "# Linux/x86 4.4.0 Kernel Configuration\n"
           "CONFIG_NAMESPACES=y\nCONFIG_IPC_NS=y\nCONFIG_PID_NS=y\nCONFIG_CGROUPS=y\n"
           "CONFIG_DEVPTS_MULTIPLE_INSTANCES=y\nCONFIG_MEMCG=y\nCONFIG_SMP=y\n"
           "CONFIG_NF_NAT_IPV4=m\n",
    # before the MEMCG rename
    "3.2": "# Linux/x86 3.2.0 Kernel Configuration\n"
           "CONFIG_NAMESPACES=y\nCONFIG_IPC_NS=y\nCONFIG_CGROUP_MEM_RES_CTLR=y\n",
}


@pytest.mark.parametrize("series", sorted(SYNTHETIC))
def test_synthetic_old_kernels(series, tmp_path):
    p = tmp_path / "config"
    p.write_text(SYNTHETIC[series])
    diffs = compare(str(p))
    if os.path.exists("/proc/self/ns/cgroup"):
        assert diffs == {"Cgroup namespace": ("enabled", "missing")}


def test_running_kernel_same_as_upstream():
    if not os.path.exists("/proc/config.gz"):
        pytest.skip("no /proc/config.gz on this machine")
    env = {k: v for k, v in os.environ.items() if k != "CONFIG"}
    up = subprocess.run(["/bin/sh", UPSTREAM], env=env, capture_output=True, text=True)
    ours = subprocess.run([sys.executable, "-m", "lxcz", "lxc-checkconfig"], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    assert ours.returncode == 0, ours.stderr

    def facts(text):
        keep = []
        for line in text.splitlines():
            m = LINE.match(line)
            if m:
                keep.append((m.group("label"), m.group("verdict")))
            elif line.startswith(" - "):
                keep.append(("mount", line))
        return keep

    up_facts, our_facts = facts(up.stdout), facts(ours.stdout)
    # every upstream line (verdicts and mount points) appears in ours, in the same order
    it = iter(our_facts)
    for fact in up_facts:
        assert fact in it, fact


def test_debian_ppc64el_vmlinux(tmp_path):
    debs = sorted(glob.glob(os.path.join(CACHE, "linux-image-*powerpc64le*_ppc64el.deb")))
    if not debs:
        pytest.skip(f"no cached ppc64el kernel package in {CACHE} "
                    "(run tests/fixtures/fetch-kernel-configs)")
    subprocess.run(f"dpkg-deb --fsys-tarfile '{debs[-1]}' | tar -x -C '{tmp_path}' "
                   "--wildcards './boot/vmlinux-*'", shell=True, check=True)
    vmlinux = glob.glob(str(tmp_path / "boot" / "vmlinux-*"))[0]
    p = subprocess.run([sys.executable, "-m", "lxcz", "lxc-checkconfig", "--config", vmlinux],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1
    assert "ELF vmlinux has no embedded kernel configuration" in p.stderr


def _cached_images():
    return sorted(glob.glob(os.path.join(CACHE, "linux-image-*.deb")))


@pytest.mark.parametrize("deb", _cached_images(), ids=os.path.basename)
def test_debian_kernel_images_have_no_blob(deb, tmp_path):
    """Debian's real kernel images (bzImage xz/zstd, zImage, arm64 Image, ppc64el vmlinux):
    none embeds its configuration, and each must say so in one line with exit code 2."""
    subprocess.run(f"dpkg-deb --fsys-tarfile '{deb}' | tar -x -C '{tmp_path}' "
                   "--wildcards './boot/vmlinu*'", shell=True, check=True)
    image = glob.glob(str(tmp_path / "boot" / "vmlinu*"))[0]
    p = subprocess.run([sys.executable, "-m", "lxcz", "lxc-checkconfig", "--config", image],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1, p.stderr
    assert "has no embedded kernel configuration" in p.stderr, p.stderr

"""Unit tests for the VM matrix's host side (vm-tests/*.py, ci/vm-matrix): no VM, no root."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VMT = os.path.join(REPO, "vm-tests")
sys.path.insert(0, VMT)

import arches  # noqa: E402
import vmboot  # noqa: E402
import vmimage  # noqa: E402

MATRIX = os.path.join(REPO, "ci", "vm-matrix")


def test_every_row_is_complete():
    for name, row in arches.ARCHES.items():
        assert row["image"] in arches.IMAGES, name
        assert row["qemu"] in arches.QEMU_PACKAGES, name
        for key in ("machine", "cpu_tcg", "console", "uname_m", "blk", "net", "timeout_tcg",
                    "cgroup"):
            assert row.get(key), (name, key)
        if row["kvm"]:
            assert row.get("cpu_kvm") and row.get("timeout_kvm"), name
    for name in arches.IMAGES:
        spec = arches.image_spec(name)
        assert spec["kernel"] in spec["packages"]
        assert {"python3", "busybox-static", "openssh-server", "kmod"} <= set(spec["packages"])


def test_matrix_covers_the_six_architectures():
    machines = {row["uname_m"] for row in arches.ARCHES.values()}
    assert machines == {"i686", "x86_64", "armv7l", "aarch64", "ppc64le", "s390x"}
    assert any(row["cgroup"] == "unified" for row in arches.ARCHES.values())


def test_inputs_hash_follows_the_package_list():
    spec = arches.image_spec("amd64-trixie")
    other = dict(spec, packages=spec["packages"] + ["strace"])
    assert vmimage.inputs_hash(spec) == vmimage.inputs_hash(dict(spec))
    assert vmimage.inputs_hash(spec) != vmimage.inputs_hash(other)


def test_module_depends():
    blob = b"\x7fELF...\0name=ext4\0depends=jbd2,mbcache,crc16\0vermagic=6.1\0"
    assert vmimage._module_depends(blob) == ["jbd2", "mbcache", "crc16"]
    assert vmimage._module_depends(b"\0depends=\0name=x\0") == []
    assert vmimage._module_depends(b"no modinfo") == []


def _fake_module(path, deps):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = b"\0name=x\0depends=" + ",".join(deps).encode() + b"\0"
    if path.endswith(".gz"):
        body = gzip.compress(body)
    with open(path, "wb") as f:
        f.write(body)


def test_module_load_list_orders_dependencies_first(tmp_path):
    k = tmp_path / "kernel"
    _fake_module(str(k / "fs/ext4/ext4.ko.gz"), ["jbd2", "mbcache"])
    _fake_module(str(k / "fs/jbd2/jbd2.ko"), ["crc-x"])
    _fake_module(str(k / "lib/crc-x.ko"), [])
    _fake_module(str(k / "fs/mbcache.ko"), [])
    _fake_module(str(k / "drivers/virtio_blk.ko"), ["virtio"])
    (tmp_path / "modules.builtin").write_text("kernel/drivers/virtio/virtio.ko\n")
    order = [n for n, _ in vmimage.module_load_list(
        str(tmp_path), ["virtio_blk", "ext4", "not_there", "mbcache"])]
    assert order == ["virtio_blk.ko", "crc_x.ko", "jbd2.ko", "mbcache.ko", "ext4.ko"]


def _parse_newc(data):
    out, i = {}, 0
    while True:
        hdr = data[i:i + 110]
        assert hdr[:6] == b"070701"
        fields = [int(hdr[6 + 8 * j:14 + 8 * j], 16) for j in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[i + 110:i + 110 + namesize - 1].decode()
        i += 110 + namesize
        i += -i % 4
        body = data[i:i + size]
        i += size
        i += -i % 4
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, body)


def test_cpio_roundtrip():
    import stat

    entries = [("bin", stat.S_IFDIR | 0o755, b""),
               ("bin/busybox", stat.S_IFREG | 0o755, b"x" * 5),
               ("init", stat.S_IFREG | 0o755, b"#!/bin/sh\n")]
    got = _parse_newc(vmimage._cpio(entries))
    assert got == {n: (m, d) for n, m, d in entries}


def test_guest_refuses_unknown_arch():
    with pytest.raises(vmimage.VmError, match="unknown arch"):
        vmboot.Guest("vax")


def test_choose_accel_honours_override(monkeypatch):
    monkeypatch.setenv("LXCZ_VM_ACCEL", "tcg")
    assert vmboot.choose_accel(arches.ARCHES["x86_64"]) == "tcg"
    monkeypatch.setenv("LXCZ_VM_ACCEL", "auto")
    assert vmboot.choose_accel(arches.ARCHES["arm64"]) == "tcg"


def test_not_yet_detection():
    import importlib.util

    spec = importlib.util.spec_from_file_location("vm_tests_conftest",
                                                  os.path.join(VMT, "conftest.py"))
    vmconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vmconf)

    class R:
        def __init__(self, out, err):
            self.stdout, self.stderr = out, err

    assert vmconf.unimplemented(R("", "lxc-top: not implemented in lxcz yet\n"))
    assert "lxc.cap.drop" in vmconf.unimplemented(
        R("", "lxc-start: c1: conf:16: lxc.cap.drop is not supported by lxcz yet\n"))
    assert not vmconf.unimplemented(R("ok\n", "lxc-start: c1: no such container\n"))


def test_vm_matrix_bad_argument_is_one_line_and_exit_2():
    res = subprocess.run([sys.executable, MATRIX, "vax"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == "vm-matrix: unknown arch or option 'vax'"
    assert res.stdout == ""


def test_vm_matrix_help():
    res = subprocess.run([sys.executable, MATRIX, "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("usage: ci/vm-matrix")


def test_missing_kvm_is_named(monkeypatch):
    def no_kvm(path, flags):
        raise FileNotFoundError(2, "No such file or directory", path)

    monkeypatch.setattr(vmboot.os, "open", no_kvm)
    assert vmboot.kvm_problem() == "/dev/kvm: No such file or directory"
    monkeypatch.setenv("LXCZ_VM_ACCEL", "auto")
    assert vmboot.choose_accel(arches.ARCHES["x86_64"]) == "tcg"
    monkeypatch.setenv("LXCZ_VM_ACCEL", "kvm")
    with pytest.raises(vmimage.VmError, match="/dev/kvm"):
        vmboot.choose_accel(arches.ARCHES["x86_64"])

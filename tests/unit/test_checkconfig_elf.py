"""lxc-checkconfig: the configuration a kernel embeds (CONFIG_IKCONFIG), read from real files.

The ELF files are built here the way kernel/configs.c lays the blob out: the string
"IKCFG_ST", the gzipped .config, the string "IKCFG_ED", all in .rodata. gcc turns that into
a relocatable object (what configs.ko is) and a linked executable (a vmlinux stand-in);
objcopy -O binary makes a raw "Image" of the executable, which is then compressed the ways
kernel images are. Skipped when gcc or objcopy is missing.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import subprocess
import sys

import pytest

from lxcz.checkconfig import extract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.6.0 Kernel Configuration
#
CONFIG_NAMESPACES=y
CONFIG_UTS_NS=y
CONFIG_IPC_NS=y
CONFIG_PID_NS=y
CONFIG_VETH=m
CONFIG_IKCONFIG=m
""" + "".join(f"CONFIG_FILLER_{i}=y\n" for i in range(400))

BLOB_ASM = r"""
__asm__(".pushsection .rodata, \"a\"\n"
        ".ascii \"IKCFG_ST\"\n"
        ".global kernel_config_data\n"
        "kernel_config_data:\n"
        ".incbin \"config_data.gz\"\n"
        ".global kernel_config_data_end\n"
        "kernel_config_data_end:\n"
        ".ascii \"IKCFG_ED\"\n"
        ".popsection\n");
"""
# some text and data around it, so the blob is not at a trivial offset
PROGRAM = r"""
#include <stdio.h>
static const char banner[] = "Linux version 6.6.0 (lxcz test) #1 SMP";
int main(void) { puts(banner); return 0; }
"""


def _need(*tools):
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} not installed")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    _need("gcc", "objcopy")
    d = tmp_path_factory.mktemp("ikconfig")
    (d / "config_data.gz").write_bytes(gzip.compress(CONFIG.encode(), 9))
    (d / "configs.c").write_text(BLOB_ASM)
    (d / "main.c").write_text(PROGRAM)
    (d / "plain.c").write_text(PROGRAM)

    def cc(*args):
        subprocess.run(["gcc", *args], cwd=d, check=True, capture_output=True)

    cc("-c", "-O2", "-o", "configs.ko", "configs.c")
    cc("-O2", "-no-pie", "-o", "vmlinux", "main.c", "configs.c")
    cc("-O2", "-o", "plain", "plain.c")
    subprocess.run(["objcopy", "-O", "binary", "vmlinux", "Image"], cwd=d, check=True)
    return d


def _check(path, how_part):
    cfg = extract.load(str(path))
    assert cfg.version == (6, 6, 0)
    assert cfg.state("VETH") == "m" and cfg.state("FILLER_399") == "y"
    assert how_part in cfg.how, cfg.how
    return cfg


def test_configs_ko_relocatable(built):
    _check(built / "configs.ko", "section .rodata of ELF module")


def test_vmlinux_executable(built):
    _check(built / "vmlinux", "section .rodata of ELF vmlinux")


@pytest.mark.parametrize("kind,comp", [
    ("xz", lambda b: lzma.compress(b, check=lzma.CHECK_CRC32)),
    ("gz", gzip.compress),
])
def test_compressed_module_file(built, tmp_path, kind, comp):
    p = tmp_path / f"configs.ko.{kind}"
    p.write_bytes(comp((built / "configs.ko").read_bytes()))
    cfg = _check(p, "ELF module")
    assert cfg.how.startswith(("xz-compressed", "gzip-compressed"))


def test_uncompressed_image(built):
    _check(built / "Image", "uncompressed kernel image")


COMPRESSORS = {
    "gzip": gzip.compress,
    "xz": lambda b: lzma.compress(b, check=lzma.CHECK_CRC32),
    "bzip2": bz2.compress,
    "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE,
                                    filters=[{"id": lzma.FILTER_LZMA1,
                                              "dict_size": 1 << 23}]),
}


def _stub(payload: bytes) -> bytes:
    # a boot stub in front of the payload and a trailer after it, like bzImage/zImage
    head = b"MZ" + bytes(range(256)) * 40 + b"HdrS"
    return head + payload + (len(payload)).to_bytes(4, "little") + b"\0" * 512


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_kernel_image(built, tmp_path, kind):
    image = (built / "Image").read_bytes()
    p = tmp_path / f"vmlinuz.{kind}"
    p.write_bytes(_stub(COMPRESSORS[kind](image)))
    _check(p, f"{kind}-compressed kernel image")


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_whole_file_compressed_image(built, tmp_path, kind):
    # Image.gz, Image.xz, ... as arm64 and riscv install them
    p = tmp_path / f"Image.{kind}"
    p.write_bytes(COMPRESSORS[kind]((built / "Image").read_bytes()))
    _check(p, "uncompressed kernel image")


@pytest.mark.parametrize("prog", ["zstd", "lz4"])
def test_program_compressed_image(built, tmp_path, prog):
    _need(prog)
    raw = tmp_path / "payload"
    raw.write_bytes((built / "Image").read_bytes())
    cmd = ([prog, "-q", "-19", str(raw), "-o", str(raw) + ".c"] if prog == "zstd"
           else [prog, "-q", "-l", "-9", str(raw), str(raw) + ".c"])
    subprocess.run(cmd, check=True)
    p = tmp_path / f"vmlinuz.{prog}"
    p.write_bytes(_stub((tmp_path / "payload.c").read_bytes()))
    _check(p, f"{prog}-compressed kernel image")


def test_elf_without_blob(built):
    with pytest.raises(extract.SourceError) as exc:
        extract.load(str(built / "plain"))
    assert "has no embedded kernel configuration" in str(exc.value)
    assert exc.value.exit_code == 2


def test_image_without_blob(tmp_path):
    body = b"Linux version 6.6.0 (nobody) #1\n" + os.urandom(1 << 16)
    p = tmp_path / "vmlinuz"
    p.write_bytes(_stub(gzip.compress(body)))
    with pytest.raises(extract.SourceError, match="has no embedded kernel configuration"):
        extract.load(str(p))


def test_truncated_blob(built, tmp_path):
    data = (built / "Image").read_bytes()
    start = data.index(b"IKCFG_ST")
    p = tmp_path / "Image.cut"
    p.write_bytes(data[:start + 200])
    with pytest.raises(extract.SourceError, match="truncated"):
        extract.load(str(p))


def test_elftools_only_for_elf(built, tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(CONFIG)
    code = ("import sys; from lxcz.checkconfig import extract; "
            "extract.load(sys.argv[1]); print('elftools' in sys.modules)")
    run = lambda p: subprocess.run([sys.executable, "-c", code, p], cwd=ROOT,  # noqa: E731
                                   capture_output=True, text=True, check=True).stdout.strip()
    assert run(str(cfg)) == "False"
    assert run(str(built / "Image")) == "False"
    assert run(str(built / "vmlinux")) == "True"


def test_tool_on_embedded_config(built, capsys):
    from lxcz.tools import lxc_checkconfig

    rc = lxc_checkconfig.main(["--config", str(built / "configs.ko")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Kernel configuration read from IKCONFIG blob in section .rodata" in out
    assert "Veth pair device: enabled, built as module" in out


def test_tool_on_elf_without_blob(built, capsys):
    from lxcz.tools import lxc_checkconfig

    rc = lxc_checkconfig.main(["--config", str(built / "plain")])
    cap = capsys.readouterr()
    assert rc == 2 and cap.out == ""
    assert cap.err.count("\n") == 1 and cap.err.startswith("lxc-checkconfig: ")

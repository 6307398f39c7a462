"""Get kernel configuration text out of whatever a path holds.

Accepted: a ``.config`` file (plain or compressed with gzip, xz, lzma, bzip2, zstd, lz4),
a kernel build tree (its ``.config``), and kernels built with ``CONFIG_IKCONFIG``, whose
configuration is embedded as ``"IKCFG_ST" <gzip data> "IKCFG_ED"`` (kernel/configs.c):

- ELF files: an uncompressed ``vmlinux`` or the ``configs.ko`` module (also when the
  module file itself is compressed: ``configs.ko.xz``/``.zst``/``.gz``). The blob is found
  section by section with pyelftools, which is imported only here.
- kernel images: ``Image`` (uncompressed), ``Image.gz`` and friends, ``bzImage``/``vmlinuz``,
  ``zImage``, EFI zboot images: the compressed payload is located by its magic bytes and
  decompressed in memory, like the kernel's scripts/extract-ikconfig does.

gzip, xz, lzma and bzip2 come from the standard library. zstd uses ``compression.zstd``
(Python 3.14) or the ``zstandard`` module, lz4 the ``lz4`` module; failing those, the
``zstd``/``lz4`` programs when they are on PATH. LZO payloads are not supported.

Every failure is a ``SourceError`` (exit code 2) with a one-line message.
"""

from __future__ import annotations

import os

from lxcz.checkconfig import kconfig
from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

BLOB_START = b"IKCFG_ST"
BLOB_END = b"IKCFG_ED"
MAX_OUTPUT = 1 << 30  # refuse to inflate anything beyond 1 GiB

# magic bytes -> format name, for whole files and for payloads inside kernel images
MAGICS: List[Tuple[bytes, str]] = [
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\x02\x21\x4c\x18", "lz4"),  # the legacy lz4 format the kernel uses
    (b"\x04\x22\x4d\x18", "lz4"),  # lz4 frame format
    (b"\x5d\x00\x00", "lzma"),
    (b"\x89LZO\x00\x0d\x0a\x1a\x0a", "lzo"),
]


class SourceError(LxczError):
    """No usable kernel configuration at a path (lxc-checkconfig exits 2)."""

    exit_code = 2


class _Bad(Exception):
    """A decompression attempt failed; carries a short reason."""


def load(path: str) -> kconfig.KernelConfig:
    """Read and parse the kernel configuration that ``path`` holds or embeds."""
    text, how, shown = read_text(path)
    return kconfig.parse(text, source=shown, how=how)


def read_text(path: str) -> Tuple[str, str, str]:
    """Return (config text, how it was obtained, path shown to the user)."""
    if os.path.isdir(path):
        cand = os.path.join(path, ".config")
        if not os.path.isfile(cand):
            raise SourceError(f"{path}: is a directory (give a kernel config file, a kernel "
                              "image, or a kernel build tree with a .config)")
        path = cand
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory") from None
    except OSError as err:
        raise SourceError(f"{path}: cannot read: {err.strerror or err}") from None
    if not data:
        raise SourceError(f"{path}: empty file, not a kernel configuration")
    text, how = text_from_bytes(data, path)
    return text, how, path


def text_from_bytes(data: bytes, name: str, depth: int = 0) -> Tuple[str, str]:
    """Config text and a description of where it came from, out of a file's bytes."""
    if kconfig.looks_like_config(data):
        return data.decode("utf-8", "replace"), "config file"
    if data[:4] == b"\x7fELF":
        return _from_elf(data, name)
    kind = whole_file_format(data)
    if kind and depth < 3:
        try:
            out, used, complete = decompress(kind, data, 0)
        except _Bad as err:
            raise SourceError(f"{name}: corrupt {kind} data ({err})") from None
        if not complete:
            raise SourceError(f"{name}: truncated {kind} data")
        text, how = text_from_bytes(out, name, depth + 1)
        return text, f"{kind}-compressed {how}"
    found = find_blob(data, name, strict=False)
    if found is not None:
        return found, "IKCONFIG blob in uncompressed kernel image"
    try:
        return _scan_image(data, name)
    except SourceError:
        if BLOB_START in data and b"Linux version " in data:
            find_blob(data, name, strict=True)  # a damaged blob: say so
        raise


def whole_file_format(data: bytes) -> Optional[str]:
    for magic, kind in MAGICS:
        if data.startswith(magic):
            if kind == "lzma" and not _plausible_lzma(data, 0):
                continue
            if kind == "bzip2" and data[3:4] not in b"123456789":
                continue
            return kind
    return None


def _plausible_lzma(data: bytes, off: int) -> bool:
    # props byte 0x5d and a power-of-two-ish dictionary size, as the kernel writes it
    dict_size = int.from_bytes(data[off + 1:off + 5], "little")
    return dict_size >= 4096 and dict_size & (dict_size - 1) == 0


def find_blob(buf: bytes, name: str, strict: bool = True) -> Optional[str]:
    """The config inside an IKCFG_ST..IKCFG_ED blob in buf, or None if there is none.

    strict: a blob that is there but corrupt or truncated is an error (SourceError);
    otherwise it is skipped (raw bytes of a compressed image can hold the marker as a
    literal followed by garbage).
    """
    pos = buf.find(BLOB_START)
    if pos < 0:
        return None
    import zlib

    view = memoryview(buf)
    while pos >= 0:
        start = pos + len(BLOB_START)
        if buf[start:start + 2] == b"\x1f\x8b":
            end = buf.find(BLOB_END, start)
            chunk = view[start:end] if end >= 0 else view[start:]
            dec = zlib.decompressobj(31)
            problem = None
            try:
                out = dec.decompress(chunk, MAX_OUTPUT)
                if not dec.eof:
                    problem = "is truncated"
            except zlib.error as err:
                problem = f"is corrupt ({err})"
            if problem is None:
                return out.decode("utf-8", "replace")
            if strict:
                raise SourceError(f"{name}: embedded kernel configuration {problem}")
        pos = buf.find(BLOB_START, start)
    return None


def _from_elf(data: bytes, name: str) -> Tuple[str, str]:
    import io

    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        kind = {"ET_REL": "module", "ET_EXEC": "vmlinux", "ET_DYN": "vmlinux"}.get(
            elf.header["e_type"], "ELF file")
        sections = [s for s in elf.iter_sections()
                    if s["sh_type"] not in ("SHT_NOBITS", "SHT_NULL") and s["sh_size"]]
        # the blob lives in .rodata (kernel/configs.c); look there first
        sections.sort(key=lambda s: (not s.name.startswith(".rodata"), s["sh_offset"]))
        for sec in sections:
            blob_data = sec.data()
            if BLOB_START not in blob_data:
                continue
            text = find_blob(blob_data, name)
            if text is not None:
                return text, f"IKCONFIG blob in section {sec.name} of ELF {kind}"
    except (ELFError, ValueError, KeyError, OSError) as err:
        raise SourceError(f"{name}: unreadable ELF file ({err})") from None
    raise SourceError(f"{name}: ELF {kind} has no embedded kernel configuration "
                      "(no IKCFG_ST blob; kernel built without CONFIG_IKCONFIG)")


def _scan_image(data: bytes, name: str) -> Tuple[str, str]:
    """Find a compressed kernel payload anywhere in data and look for the blob inside."""
    candidates = []
    for magic, kind in MAGICS:
        pos = data.find(magic)
        while pos >= 0:
            candidates.append((pos, kind))
            pos = data.find(magic, pos + 1)
    candidates.sort()
    unsupported = set()
    decoded_any = False
    covered = -1
    for pos, kind in candidates:
        if pos < covered:
            continue  # inside a payload already decoded
        if kind == "lzma" and not _plausible_lzma(data, pos):
            continue
        if kind == "bzip2" and data[pos + 3:pos + 10] not in [
                bytes([d]) + b"1AY&SY" for d in b"123456789"]:
            continue
        if kind == "lzo":
            unsupported.add("lzo")
            continue
        try:
            out, used, _complete = decompress(kind, data, pos)
        except _NoDecoder:
            unsupported.add(kind)
            continue
        except _Bad:
            continue
        if len(out) < 4096:
            continue
        decoded_any = True
        covered = pos + used
        text = find_blob(out, name)
        if text is not None:
            return text, f"IKCONFIG blob in {kind}-compressed kernel image"
    if not decoded_any and b"Linux version " in data:
        raise SourceError(f"{name}: uncompressed kernel image has no embedded kernel "
                          "configuration (kernel built without CONFIG_IKCONFIG)")
    if unsupported and not decoded_any:
        raise SourceError(f"{name}: kernel image payload is {'/'.join(sorted(unsupported))}-"
                          "compressed and no decoder is available")
    if decoded_any:
        raise SourceError(f"{name}: kernel image has no embedded kernel configuration "
                          "(kernel built without CONFIG_IKCONFIG)")
    raise SourceError(f"{name}: not a kernel configuration nor a kernel image "
                      "(no CONFIG_ lines, no compressed payload, no IKCFG_ST blob)")


class _NoDecoder(Exception):
    pass


def decompress(kind: str, data: bytes, off: int) -> Tuple[bytes, int, bool]:
    """Decompress one stream starting at data[off].

    Returns (output, bytes of input consumed, whether the stream ended properly).
    Raises _Bad when the data is not such a stream, _NoDecoder when kind is unsupported.
    """
    view = memoryview(data)[off:]
    if kind == "gzip":
        import zlib

        return _run_obj(zlib.decompressobj(31), view, zlib.error)
    if kind in ("xz", "lzma"):
        import lzma

        fmt = lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE
        return _run_obj(lzma.LZMADecompressor(fmt), view, lzma.LZMAError)
    if kind == "bzip2":
        import bz2

        return _run_obj(bz2.BZ2Decompressor(), view, (OSError, ValueError))
    if kind == "zstd":
        return _zstd(view)
    if kind == "lz4":
        return _lz4(view)
    raise _NoDecoder(kind)


def _run_obj(dec, view: memoryview, errors) -> Tuple[bytes, int, bool]:
    parts = []
    total = 0
    pos = 0
    step = 1 << 20
    try:
        while pos < len(view) and not dec.eof:
            chunk = view[pos:pos + step]
            out = dec.decompress(chunk)
            pos += len(chunk)
            total += len(out)
            parts.append(out)
            if total > MAX_OUTPUT:
                raise _Bad("output too large")
    except errors as err:
        raise _Bad(str(err)) from None
    if total == 0 and not dec.eof:
        raise _Bad("no data")
    used = pos - len(dec.unused_data) if dec.eof else pos
    return b"".join(parts), used, bool(dec.eof)


def _zstd(view: memoryview) -> Tuple[bytes, int, bool]:
    try:
        from compression import zstd as _stdzstd  # Python 3.14

        return _run_obj(_stdzstd.ZstdDecompressor(), view, _stdzstd.ZstdError)
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found]

        obj = zstandard.ZstdDecompressor().decompressobj()
        try:
            out = obj.decompress(bytes(view))
        except zstandard.ZstdError as err:
            raise _Bad(str(err)) from None
        return out, len(view), True
    except ImportError:
        pass
    return _program(["zstd", "-dcq"], view)


def _lz4(view: memoryview) -> Tuple[bytes, int, bool]:
    try:
        import lz4.block  # type: ignore[import-not-found]
        import lz4.frame  # type: ignore[import-not-found]
    except ImportError:
        return _program(["lz4", "-dcq"], view)
    if bytes(view[:4]) == b"\x04\x22\x4d\x18":
        try:
            return lz4.frame.decompress(bytes(view)), len(view), True
        except RuntimeError as err:
            raise _Bad(str(err)) from None
    # legacy format: magic, then blocks of <le32 size><data>, each up to 8 MiB out
    parts, pos = [], 4
    while pos + 4 <= len(view):
        size = int.from_bytes(view[pos:pos + 4], "little")
        if size == 0 or size > (8 << 20) + (8 << 20) // 255 + 16 or pos + 4 + size > len(view):
            break
        try:
            parts.append(lz4.block.decompress(bytes(view[pos + 4:pos + 4 + size]),
                                              uncompressed_size=8 << 20))
        except lz4.block.LZ4BlockError:
            break
        pos += 4 + size
    if not parts:
        raise _Bad("not lz4 data")
    return b"".join(parts), pos, True


def _program(cmd: List[str], view: memoryview) -> Tuple[bytes, int, bool]:
    import shutil
    import subprocess

    if shutil.which(cmd[0]) is None:
        raise _NoDecoder(cmd[0])
    try:
        proc = subprocess.run(cmd, input=bytes(view), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, check=False)
    except OSError as err:
        raise _NoDecoder(f"{cmd[0]}: {err}") from None
    if not proc.stdout:
        raise _Bad(f"{cmd[0]} failed")
    # trailing bytes after the stream make the programs complain; the output still counts
    return proc.stdout, len(view), proc.returncode == 0


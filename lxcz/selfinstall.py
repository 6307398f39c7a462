"""``lxcz install`` and ``lxcz uninstall``: one symlink per tool pointing at lxcz.

The links point at ``PREFIX/lxcz``, a copy of the file install was run from whose first
line starts the Python that ran install directly (``#!PYTHON -IScCODE``) instead of
going through /bin/sh (the archive's portable prologue, build/build): half a millisecond
less on every command. The file install was run from is not changed, so it still runs on
any host. When the copy cannot be made (a shebang too long for the kernel, an interpreter
path with blanks, an archive without the prologue), the links point at that file itself.

Install is idempotent and refuses to replace anything that is not already a link to an
lxcz file (or, for ``PREFIX/lxcz``, an lxcz file) unless --force. Uninstall removes only
links that point at an lxcz file, and ``PREFIX/lxcz`` when it is an lxcz file.
"""

from __future__ import annotations

import os
import sys
import zipfile

DEFAULT_PREFIX = "/usr/local/bin"
SHEBANG_MAX = 127  # bytes of a #! line every Linux kernel reads whole (128 before 5.1)
ZIP_START = b"PK\x03\x04"  # the first local file header: the prologue ends there


def is_lxcz_file(path: str) -> bool:
    """True when path is an lxcz zipapp (any version)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    # today's archive holds site-packages/ as one inner archive (build/lxczboot.py);
    # older ones had site-packages/lxcz/ at the top level
    return ("_lxcz_boot.py" in names and "site-packages.zip" in names) or \
        any(n.endswith("lxcz/__main__.py") for n in names)


def points_at_lxcz(link: str) -> bool:
    """A symlink to an lxcz file; a dangling one whose target is named like lxcz counts."""
    if not os.path.islink(link):
        return False
    target = os.path.join(os.path.dirname(link), os.readlink(link))
    if os.path.exists(target):
        return is_lxcz_file(os.path.realpath(target))
    return os.path.basename(target).startswith("lxcz")


def entry_code(head: bytes) -> str | None:
    """The Python code the archive's prologue runs (``-c 'CODE'`` of the shell prologue,
    or what follows ``-ISc`` of a direct #! line), None for an unknown prologue."""
    first = head.split(b"\n", 1)[0]
    if first.startswith(b"#!") and b" -ISc" in first:
        return first.split(b" -ISc", 1)[1].decode("utf-8", "replace")
    if first == b"#!/bin/sh":
        for line in head.split(b"\n"):
            if line.startswith(b"exec ") and b" -c '" in line:
                return line.split(b" -c '", 1)[1].split(b"'", 1)[0].decode("utf-8", "replace")
    return None


def direct_copy(source: str, dest: str, python: str) -> str | None:
    """Write dest: source with a first line starting python directly. None when done,
    else why not (dest is then unchanged)."""
    if not python or not os.path.isabs(python) or any(c.isspace() for c in python):
        return f"interpreter path '{python}' cannot go on a #! line"
    with open(source, "rb") as f:
        data = f.read()
    start = data.find(ZIP_START)
    code = entry_code(data[:start]) if start > 0 else None
    if code is None:
        return f"{source} has no prologue install knows"
    line = f"#!{python} -ISc{code}\n".encode()
    if len(line) > SHEBANG_MAX:
        return f"a #! line for {python} would be longer than {SHEBANG_MAX} bytes"
    if len(line) + 2 <= start:
        # the same length as before: the archive's offsets count from the file's start,
        # and Python's zipimport accepts extra leading bytes but never fewer
        line += b"#" + b" " * (start - len(line) - 2) + b"\n"
    new = line + data[start:]
    try:
        with open(dest, "rb") as f:
            if f.read() == new:
                return None
    except OSError:
        pass
    tmp = dest + ".lxcz-new"
    try:
        with open(tmp, "wb") as f:
            f.write(new)
            os.fchmod(f.fileno(), 0o755)
        os.replace(tmp, dest)
    except OSError as err:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        return f"{dest}: {err.strerror or err}"
    return None


def self_path(argv0: str) -> str | None:
    path = os.path.realpath(argv0)
    return path if is_lxcz_file(path) else None


def _parse(rest: list[str]) -> tuple:
    prefix, force, service = DEFAULT_PREFIX, False, False
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--force" or a == "-f":
            force = True
        elif a == "--service":
            service = True
        elif a.startswith("--prefix="):
            prefix = a.split("=", 1)[1]
        elif a == "--prefix" and i + 1 < len(rest):
            i += 1
            prefix = rest[i]
        else:
            raise ValueError(f"unknown argument '{a}'")
        i += 1
    return prefix, force, service


def main(cmd: str, rest: list[str], argv0: str) -> int:
    from lxcz.tools import TOOLS

    try:
        prefix, force, service = _parse(rest)
    except ValueError as err:
        sys.stderr.write(f"lxcz {cmd}: {err}\n"
                         f"Usage: lxcz {cmd} [--prefix DIR] [--service]"
                         f"{' [--force]' * (cmd == 'install')}\n")
        return 2
    copy = os.path.join(prefix, "lxcz")  # install's copy that starts Python directly
    if cmd == "uninstall":
        removed = 0
        for name in TOOLS:
            link = os.path.join(prefix, name)
            if points_at_lxcz(link):
                try:
                    os.unlink(link)
                except OSError as err:
                    sys.stderr.write(f"lxcz uninstall: {link}: {err.strerror or err}\n")
                    return 1
                removed += 1
        if os.path.isfile(copy) and not os.path.islink(copy) and is_lxcz_file(copy) \
                and os.path.realpath(copy) != self_path(argv0):
            try:
                os.unlink(copy)
            except OSError as err:
                sys.stderr.write(f"lxcz uninstall: {copy}: {err.strerror or err}\n")
                return 1
            sys.stdout.write(f"removed {copy}\n")
        sys.stdout.write(f"removed {removed} links from {prefix}\n")
        if service:
            from lxcz import service as units

            for path in units.uninstall():
                sys.stdout.write(f"removed {path}\n")
        return 0
    target = self_path(argv0)
    if target is None:
        sys.stderr.write(f"lxcz install: {argv0} is not the lxcz zipapp; build dist/lxcz "
                         "with build/build and run install from it\n")
        return 1
    if not os.path.isdir(prefix):
        sys.stderr.write(f"lxcz install: {prefix}: not a directory\n")
        return 1
    blocked = []
    if os.path.lexists(copy) and not force and not (
            is_lxcz_file(copy) or points_at_lxcz(copy)):
        blocked.append(copy)
    for name in TOOLS:
        link = os.path.join(prefix, name)
        if os.path.lexists(link) and not points_at_lxcz(link) and not force:
            blocked.append(link)
    if blocked:
        sys.stderr.write(f"lxcz install: {blocked[0]} exists and is not a link to lxcz "
                         f"({len(blocked)} such files; --force replaces them)\n")
        return 1
    why = direct_copy(target, copy, sys.executable)
    if why is None:
        target = os.path.realpath(copy)
    else:
        sys.stdout.write(f"links point at {target}, not at a copy in {prefix}: {why}\n")
    made = 0
    for name in TOOLS:
        link = os.path.join(prefix, name)
        if os.path.islink(link) and os.path.realpath(link) == target:
            continue
        tmp = link + ".lxcz-new"
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(target, tmp)
            os.replace(tmp, link)
        except OSError as err:
            if os.path.islink(tmp):
                os.unlink(tmp)
            sys.stderr.write(f"lxcz install: {link}: {err.strerror or err}\n")
            return 1
        made += 1
    sys.stdout.write(f"{made} links made in {prefix} ({len(TOOLS) - made} already there) "
                     f"-> {target}\n")
    if service:
        from lxcz import service as units

        try:
            written = units.install(prefix, target)
        except OSError as err:
            sys.stderr.write(f"lxcz install: --service: {err}\n")
            return 1
        for path in written:
            sys.stdout.write(f"wrote {path}\n")
    return 0

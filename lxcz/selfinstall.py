"""``lxcz install`` and ``lxcz uninstall``: one symlink per tool pointing at this file.

Install is idempotent and refuses to replace anything that is not already a link to an
lxcz file unless --force. Uninstall removes only links that point at an lxcz file.
"""

from __future__ import annotations

import os
import sys
import zipfile

DEFAULT_PREFIX = "/usr/local/bin"


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
    for name in TOOLS:
        link = os.path.join(prefix, name)
        if os.path.lexists(link) and not points_at_lxcz(link) and not force:
            blocked.append(link)
    if blocked:
        sys.stderr.write(f"lxcz install: {blocked[0]} exists and is not a link to lxcz "
                         f"({len(blocked)} such files; --force replaces them)\n")
        return 1
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

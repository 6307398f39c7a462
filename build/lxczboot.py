"""First-run and fallback half of the lxcz zipapp entry (goes into the archive as _lxcz_boot.py).

build/build replaces shiv's generic ``__main__.py`` ("import _bootstrap; bootstrap()") with
build/zipmain.py. The archive keeps shiv's pieces (_bootstrap/, environment.json) but
holds site-packages/ as one stored inner archive, site-packages.zip (PAYLOAD): Python
reads the outer central directory at every start, and a dozen entries cost nothing where
~460 cost 0.7 ms. The first run extracts the payload with shiv's own
``extract_site_packages()``. What differs is the warm path: shiv's bootstrap imports json,
hashlib, pathlib, subprocess, shutil, compileall, ... on every start (about 25 ms); the
warm path in zipmain.py is a few stat() calls and one sys.path insert. zipmain.py runs
from its .pyc in the archive (for the Python version build/build compiled it for; other
versions compile it at every start), so it holds only that warm path; everything else is
here and runs only when the warm path does not apply (first run, an unusable cache, or a
dependency that ships a .pth file).

Cache root: $SHIV_ROOT if set, else /var/cache/lxcz for root, else
${XDG_CACHE_HOME:-~/.cache}/lxcz; it is created mode 0700 and the extracted tree under it
is named lxcz_BUILDID. A tree that is not owned by the user running lxcz, that anyone
else can write, or that sits below a directory someone else owns or can write (sticky
directories such as /tmp excepted) is never used: lxcz then imports from the payload
held in memory (``in_memory``) — slower, never from files another user could have
changed — and says so on stderr. When the cache cannot be written at all (read-only file
system, no home), lxcz runs from memory silently.

Python 3.9 compatible; stdlib only; never imported by lxcz itself.
"""

from __future__ import annotations

import os
import sys


def cache_root() -> str:
    root = os.environ.get("SHIV_ROOT")
    if root:
        return os.path.abspath(os.path.expanduser(root))
    if os.geteuid() == 0:
        return "/var/cache/lxcz"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "lxcz")


def unsafe(path: str, uid: int):
    """Why the existing directory path must not be trusted by uid, or None."""
    st = os.lstat(path)
    if (st.st_mode & 0o170000) != 0o040000:
        return path + " is not a directory"
    if st.st_uid != uid:
        return f"{path} is owned by uid {st.st_uid}"
    if st.st_mode & 0o022:
        return path + " is writable by group or others"
    parent = os.path.dirname(path)
    while True:
        st = os.stat(parent)
        if st.st_uid not in (0, uid):
            return f"{parent} is owned by uid {st.st_uid}"
        if st.st_mode & 0o022 and not st.st_mode & 0o1000:
            return parent + " is writable by group or others"
        if parent == "/":
            return None
        parent = os.path.dirname(parent)


PAYLOAD = "site-packages.zip"  # build/build packs site-packages/ into this one entry


def payload(archive: str) -> bytes:
    """The inner archive holding site-packages/ (one stored entry of the zipapp, so that
    Python reads a central directory of a dozen entries at every start, not ~460)."""
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        return zf.read(PAYLOAD)


def in_memory(data: bytes) -> str:
    """site-packages importable from data (the inner archive) without touching the disk:
    an anonymous file (memfd) that zipimport opens as /proc/self/fd/N. The descriptor is
    close-on-exec; forked processes share it, and a monitor that re-executes itself or
    closes descriptors keeps it (lxcz.runtime.init.import_fds)."""
    try:
        fd = os.memfd_create("lxcz-site-packages", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        import tempfile

        f = tempfile.TemporaryFile()
        fd = os.dup(f.fileno())
        f.close()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return f"/proc/self/fd/{fd}/site-packages"


def extracted(archive: str, build_id: str) -> tuple:
    """(the site-packages directory to import from, whether it is the cache): the cache,
    extracted if need be, or else the archive's payload in memory."""
    archive = os.path.abspath(archive)
    root = cache_root()
    target = os.path.join(root, "lxcz_" + build_id)
    site_packages = os.path.join(target, "site-packages")
    uid = os.geteuid()
    try:
        if not os.path.isdir(site_packages):
            os.makedirs(root, mode=0o700, exist_ok=True)
            why = unsafe(root, uid)
            if why:
                raise PermissionError(why)
            import io
            import zipfile
            from pathlib import Path

            from _bootstrap import extract_site_packages

            with zipfile.ZipFile(io.BytesIO(payload(archive))) as zf:
                extract_site_packages(zf, Path(target))
        why = unsafe(target, uid)
        if why:
            raise PermissionError(why)
        return site_packages, True
    except OSError as err:
        if isinstance(err, PermissionError) and err.args and isinstance(err.args[0], str):
            sys.stderr.write(f"lxcz: not using cache {root}: {err.args[0]}; "
                             "running from the archive\n")
        return in_memory(payload(archive)), False


def compile_tree(site_packages: str) -> None:
    """Write the .pyc files of the extracted tree for this interpreter, once.

    Without them every start compiles lxcz from source whenever bytecode is not written
    as a side effect of importing (PYTHONDONTWRITEBYTECODE, python3 -B): several ms per
    command. The tree never changes under its build id, so the files are unchecked-hash
    pycs (no stat of the source on import). A stamp .compiled-TAG next to site-packages
    says it is done for that interpreter; a cache that cannot be written is left alone.
    """
    tag = sys.implementation.cache_tag
    if not tag:
        return
    stamp = os.path.join(os.path.dirname(site_packages), ".compiled-" + tag)
    if os.path.exists(stamp):
        return
    try:
        fd = os.open(f"{stamp}.{os.getpid()}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError:
        return
    os.close(fd)
    try:
        import compileall
        import py_compile

        compileall.compile_dir(site_packages, quiet=2,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        os.rename(f"{stamp}.{os.getpid()}", stamp)
    except Exception:  # noqa: BLE001 - only speed is at stake; the imports still work
        try:
            os.unlink(f"{stamp}.{os.getpid()}")
        except OSError:
            pass


def add_to_path(site_packages: str, has_pth: bool) -> None:
    """Put site_packages where shiv does: before the first site-packages on sys.path."""
    index = len(sys.path)
    for i, entry in enumerate(sys.path):
        if entry.endswith(("site-packages", "dist-packages")):
            index = i
            break
    if not has_pth:
        sys.path.insert(index, site_packages)
        return
    import site

    before = list(sys.path)
    site.addsitedir(site_packages)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = before[:index] + added + before[index:]


def boot(archive: str, build_id: str, has_pth: bool) -> None:
    site_packages, cached = extracted(archive, build_id)
    if cached:
        compile_tree(site_packages)
    add_to_path(site_packages, has_pth)

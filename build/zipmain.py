"""lxcz zipapp entry; build/build installs it as __main__.py (and __main__.pyc). Warm path
only: see build/lxczboot.py (_lxcz_boot in the archive) for the why and for everything
else, and build/standin.py for the stand-ins dropped first."""

import os
import sys

BUILD_ID = "@BUILD_ID@"
HAS_PTH = False
STANDINS = ("contextlib", "functools")  # build/standin.py, at the archive root


def _site_index():
    """Where the first site-packages (or dist-packages) directory is on sys.path."""
    for i, entry in enumerate(sys.path):
        if entry.endswith(("site-packages", "dist-packages")):
            return i
    return len(sys.path)


def _drop_standins(archive):
    """Forget the stand-ins runpy imported and put the archive behind the standard library,
    so that later imports of those names get the real modules; the archive's own modules
    (_lxcz_boot, _bootstrap) still come before any other site-packages."""
    for name in STANDINS:
        if getattr(sys.modules.get(name), "_lxcz_standin", False):
            del sys.modules[name]
    if not sys.path:
        return
    same = sys.path[0] == archive
    if not same:
        try:
            same = os.path.abspath(sys.path[0]) == os.path.abspath(archive)
        except OSError:  # relative paths and a removed working directory
            return
    if same:
        entry = sys.path.pop(0)
        sys.path.insert(_site_index(), entry)


def _warm(uid):
    root = os.environ.get("SHIV_ROOT")
    if not root:
        if not uid:
            root = "/var/cache/lxcz"
        else:
            root = (os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) + "/lxcz"
    if HAS_PTH or root[:1] != "/":
        return None
    target = os.path.normpath(root + "/lxcz_" + BUILD_ID)
    st = os.lstat(target)
    if st.st_uid != uid or st.st_mode & 0o170022 != 0o040000:
        return None
    p = os.path.dirname(target)
    while p != "/":
        st = os.stat(p)
        if st.st_uid not in (0, uid) or st.st_mode & 0o1022 in (0o20, 0o2, 0o22):
            return None
        p = os.path.dirname(p)
    target += "/site-packages"
    if not os.path.isdir(target):
        return None
    sys.path.insert(_site_index(), target)
    return target


def _boot():
    _drop_standins(os.path.dirname(__file__))
    try:
        done = _warm(os.geteuid())
    except OSError:
        done = None
    if not done:
        import _lxcz_boot  # from the archive (see _drop_standins)

        _lxcz_boot.boot(os.path.dirname(__file__), BUILD_ID, HAS_PTH)
    elif not os.path.exists(done[:-13] + ".compiled-" + str(sys.implementation.cache_tag)):
        import _lxcz_boot

        _lxcz_boot.compile_tree(done)
    from lxcz.__main__ import entry

    entry()


if __name__ == "__main__":
    _boot()

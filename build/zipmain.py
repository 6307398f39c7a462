"""lxcz zipapp entry; build/build installs it as __main__.py. Warm path only: see
build/lxczboot.py (_lxcz_boot in the archive) for the why and for everything else."""

import os
import sys

BUILD_ID = "@BUILD_ID@"
HAS_PTH = False


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
    for i, entry in enumerate(sys.path):  # noqa: B007 - i is used after the loop
        if entry.endswith(("site-packages", "dist-packages")):
            break
    else:
        i = len(sys.path)
    sys.path.insert(i, target)
    return target


def _boot():
    try:
        done = _warm(os.geteuid())
    except OSError:
        done = None
    if not done:
        import _lxcz_boot  # from the archive, which is sys.path[0]

        _lxcz_boot.boot(os.path.dirname(__file__), BUILD_ID, HAS_PTH)
    elif not os.path.exists(done[:-13] + ".compiled-" + str(sys.implementation.cache_tag)):
        import _lxcz_boot

        _lxcz_boot.compile_tree(done)
    from lxcz.__main__ import main

    sys.exit(main())


if __name__ == "__main__":
    _boot()

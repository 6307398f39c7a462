"""lxcz zipapp entry; build/build installs it as _lxcz_main.py (and .pyc), which the
archive's shell prologue imports with `python3 -I -S -c` (sys.argv[0] is then "-c" and the
archive is argv[1]) and whose _boot() the archive's __main__.py calls when Python runs the
archive itself (`python3 dist/lxcz`). Warm path only: see build/lxczboot.py (_lxcz_boot
in the archive) for the why and for everything else, and build/standin.py for the
stand-ins dropped first."""

import os
import sys

BUILD_ID = "@BUILD_ID@"
HAS_PTH = False
STANDINS = ("contextlib", "functools")  # build/standin.py, at the archive root
MODULES = {}  # build/build: {"lxcz.runtime": True (a package), "lxcz.runtime.attach": False, ...}


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


class _Finder:
    """lxcz's own modules from the extracted tree's .pyc files (lxczboot.compile_tree),
    found by name in MODULES. The standard path finder lists each package's directory
    and checks every entry of sys.path, then stats and opens several files per module:
    about 30 us a module, 0.7 ms of an lxc-attach. A missing or foreign .pyc falls back
    to compiling the source, as the standard loader would."""

    def __init__(self, site):
        self.site = site
        self.tag = sys.implementation.cache_tag
        self.spec_type = sys.modules["_frozen_importlib"].ModuleSpec
        self.magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER

    def find_spec(self, name, path=None, target=None):
        pkg = MODULES.get(name)
        if pkg is None:
            return None
        src = self.site + "/" + name.replace(".", "/") + ("/__init__.py" if pkg else ".py")
        where, _, base = src.rpartition("/")
        spec = self.spec_type(name, self, origin=src, is_package=pkg)
        spec.has_location = True
        spec.cached = f"{where}/__pycache__/{base[:-3]}.{self.tag}.pyc"
        if pkg:
            spec.submodule_search_locations = [where]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self._code(module.__spec__), module.__dict__)

    def _code(self, spec):
        import marshal

        try:
            with open(spec.cached, "rb") as f:
                data = f.read()
            if data[:4] == self.magic and self.tag:
                return marshal.loads(memoryview(data)[16:])
        except (OSError, ValueError, EOFError, TypeError):
            pass
        with open(spec.origin, "rb") as f:
            return compile(f.read(), spec.origin, "exec", dont_inherit=True)

    def get_code(self, name):
        spec = self.find_spec(name)
        if spec is None:
            raise ImportError(f"no module named {name}", name=name)
        return self._code(spec)

    def is_package(self, name):
        return bool(MODULES.get(name))

    def get_filename(self, name):
        return self.find_spec(name).origin


def _boot():
    _drop_standins(os.path.dirname(__file__))
    try:
        done = _warm(os.geteuid())
    except OSError:
        done = None
    if not done:
        import _lxcz_boot  # from the archive (see _drop_standins)

        _lxcz_boot.boot(os.path.dirname(__file__), BUILD_ID, HAS_PTH)
    else:
        if not os.path.exists(done[:-13] + ".compiled-" + str(sys.implementation.cache_tag)):
            import _lxcz_boot

            _lxcz_boot.compile_tree(done)
        if MODULES:
            sys.meta_path.insert(0, _Finder(done))
    from lxcz.__main__ import entry

    entry()


if sys.argv[:1] == ["-c"]:  # the prologue: `python3 -I -S -c ... ARCHIVE ARGS`
    del sys.argv[0]
    _boot()

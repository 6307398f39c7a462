"""The build's purity check, the layout of the built dist/lxcz, and its cache-root rules.

build/build is a script without a .py suffix; it is loaded here as a module. The tests on
dist/lxcz skip when it has not been built (ci/test builds it first). Runs of dist/lxcz
point SHIV_ROOT at a temporary directory so that no test touches the real cache.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.join(ROOT, "build")


def _load(name: str, path: str):
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_mod():
    return _load("lxcz_build_script", os.path.join(BUILD_DIR, "build"))


@pytest.fixture(scope="module")
def boot_mod():
    return _load("lxcz_build_boot", os.path.join(BUILD_DIR, "lxczboot.py"))


# --- the purity check ---------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "site-packages/tomli/_parser.cpython-311-x86_64-linux-gnu.so",
    "site-packages/x/_speed.abi3.so",
    "site-packages/x/libfoo.so.1",
    "site-packages/x/mod.pyd",
    "site-packages/x/lib.dylib",
])
def test_purity_rejects_compiled_names(build_mod, name):
    assert build_mod.purity_problems([(name, b"")]) == [name]


def test_purity_rejects_elf_content_under_any_name(build_mod):
    assert build_mod.purity_problems([("site-packages/x/data.bin", b"\x7fELF")]) == [
        "site-packages/x/data.bin"]


def test_purity_accepts_python_and_data(build_mod):
    pairs = [("site-packages/lxcz/__main__.py", b'"""E'), ("site-packages/x/rules.toml", b"[a]"),
             ("site-packages/x/", b""), ("site-packages/x/so.py", b"imp")]
    assert build_mod.purity_problems(pairs) == []


def test_check_archive_fails_on_a_shared_object(build_mod, tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("site-packages/tomli/__init__.py", "")
        zf.writestr("site-packages/tomli/_parser.cpython-39-x86_64-linux-gnu.so", b"\x7fELF....")
    bad = tmp_path / "bad.pyz"
    with zipfile.ZipFile(bad, "w") as zf:  # the shared object inside the payload
        zf.writestr("__main__.py", "")
        zf.writestr(build_mod.PAYLOAD, inner.getvalue())
    with pytest.raises(build_mod.BuildError, match=r"_parser\.cpython-39.*\.so"):
        build_mod.check_archive(str(bad))
    with zipfile.ZipFile(bad, "w") as zf:  # and beside it
        zf.writestr("__main__.py", "")
        zf.writestr("_speed.abi3.so", b"\x7fELF....")
    with pytest.raises(build_mod.BuildError, match=r"_speed"):
        build_mod.check_archive(str(bad))


def _fake_site(tmp_path, wheel_text: str, extra: str | None = None):
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("")
    (site / "pkg-1.0.dist-info").mkdir()
    (site / "pkg-1.0.dist-info" / "WHEEL").write_text(wheel_text)
    if extra:
        (site / "pkg" / extra).write_bytes(b"\x7fELF")
    return str(site)


PURE = "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def test_check_staging_accepts_pure(build_mod, tmp_path):
    assert build_mod.check_staging(_fake_site(tmp_path, PURE)) is False


def test_check_staging_rejects_platform_wheel(build_mod, tmp_path):
    text = "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\n"
    with pytest.raises(build_mod.BuildError, match="not a pure-Python wheel"):
        build_mod.check_staging(_fake_site(tmp_path, text))


def test_check_staging_rejects_platform_tag(build_mod, tmp_path):
    text = PURE + "Tag: cp311-cp311-linux_x86_64\n"
    with pytest.raises(build_mod.BuildError, match="platform tag"):
        build_mod.check_staging(_fake_site(tmp_path, text))


def test_check_staging_rejects_so(build_mod, tmp_path):
    with pytest.raises(build_mod.BuildError, match="compiled files"):
        build_mod.check_staging(_fake_site(tmp_path, PURE, extra="_x.cpython-311-x86_64-linux-gnu.so"))


def test_install_reads_the_code_the_prologue_runs(build_mod):
    """lxcz install (lxcz.selfinstall.entry_code) finds in build/build's prologue the code
    its #! line must run, and in a #! line it wrote itself the same code again."""
    from lxcz import selfinstall

    code = f"import sys;sys.path[:0]=sys.argv[1:2];import {build_mod.MAIN_MODULE}"
    assert selfinstall.entry_code(build_mod.PROLOGUE) == code
    assert selfinstall.entry_code(f"#!/usr/bin/python3 -ISc{code}\n#  \n".encode()) == code
    assert selfinstall.entry_code(b"#!/usr/bin/env python3\n") is None


# --- the built file -----------------------------------------------------------------

def test_dist_is_a_pure_shiv_zipapp(dist_lxcz, build_mod):
    with open(dist_lxcz, "rb") as f:
        assert f.read(len(build_mod.PROLOGUE)) == build_mod.PROLOGUE
    assert build_mod.PROLOGUE.startswith(b"#!/bin/sh\n")
    assert os.access(dist_lxcz, os.X_OK)
    with zipfile.ZipFile(dist_lxcz) as zf:
        outer = zf.namelist()
        main = zf.read("__main__.py").decode()
        with zipfile.ZipFile(io.BytesIO(zf.read(build_mod.PAYLOAD))) as pay:
            wheels = {n.split("/")[1]: pay.read(n).decode() for n in pay.namelist()
                      if n.endswith(".dist-info/WHEEL")}
    pairs = build_mod.archive_members(dist_lxcz)
    names = [n for n, _ in pairs]
    assert build_mod.purity_problems(pairs) == []
    # Python reads the outer central directory at every start: site-packages is one entry
    assert len(outer) < 20 and not any(n.startswith("site-packages/") for n in outer)
    assert build_mod.PAYLOAD in outer
    for required in ("environment.json", "__main__.py", "_lxcz_boot.py",
                     "_bootstrap/__init__.py", "site-packages/lxcz/__main__.py",
                     "site-packages/lxcz/tools/__init__.py"):
        assert required in names
    for dep in ("pyroute2", "elftools", "tomli"):
        assert f"site-packages/{dep}/__init__.py" in names, dep
    assert "@BUILD_ID@" not in main
    assert not any(n.startswith("site-packages/bin/") for n in names)
    tomli = [text for dist, text in wheels.items() if dist.startswith("tomli-")]
    assert tomli and "Tag: py3-none-any" in tomli[0] and "Root-Is-Purelib: true" in tomli[0]
    for dist, text in wheels.items():
        assert "Root-Is-Purelib: true" in text, dist


def _run(dist: str, *args: str, env_extra: dict | None = None, cwd: str | None = None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, dist, *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=60)


def test_dist_version_and_list(dist_lxcz, tmp_path):
    cache = tmp_path / "cache"
    out = _run(dist_lxcz, "--version", env_extra={"SHIV_ROOT": str(cache)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("lxcz ") and out.stderr == ""
    assert (cache.stat().st_mode & 0o777) == 0o700
    extracted = [p for p in os.listdir(cache) if p.startswith("lxcz_") and not p.endswith("_lock")]
    assert len(extracted) == 1
    assert os.path.isfile(cache / extracted[0] / "site-packages" / "lxcz" / "__main__.py")
    out = _run(dist_lxcz, "--list", env_extra={"SHIV_ROOT": str(cache)})
    assert out.returncode == 0
    names = out.stdout.split()
    assert "lxc-start" in names and "lxc-start-ephemeral" in names and len(names) >= 29
    assert names == [n for n in names if n.startswith("lxc-")]


def test_dist_unknown_tool_exits_2(dist_lxcz, tmp_path):
    out = _run(dist_lxcz, "lxc-nosuchtool", env_extra={"SHIV_ROOT": str(tmp_path / "c")})
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "unknown tool" in out.stderr
    assert out.stdout == ""


def test_dist_refuses_a_cache_others_can_write(dist_lxcz, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # writable by anyone, not sticky
    cache = shared / "cache"
    out = _run(dist_lxcz, "--version", env_extra={"SHIV_ROOT": str(cache)})
    assert out.returncode == 0
    assert out.stdout.startswith("lxcz ")
    assert "not using cache" in out.stderr and "writable by group or others" in out.stderr
    # and nothing was extracted below it
    assert not any(p.startswith("lxcz_") for p in os.listdir(cache))


def test_dist_runs_from_the_archive_when_the_cache_is_unwritable(dist_lxcz, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = _run(dist_lxcz, "--list", env_extra={"SHIV_ROOT": str(blocker / "cache")},
               cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "lxc-ls" in out.stdout.split()


# --- the cache-root rules (lxczboot.py, the archive's _lxcz_boot) -------------------

def test_cache_root_defaults(boot_mod, monkeypatch, tmp_path):
    monkeypatch.delenv("SHIV_ROOT", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert boot_mod.cache_root() == "/var/cache/lxcz"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert boot_mod.cache_root() == os.path.join(str(tmp_path), ".cache", "lxcz")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert boot_mod.cache_root() == os.path.join(str(tmp_path), "xdg", "lxcz")
    monkeypatch.setenv("SHIV_ROOT", str(tmp_path / "explicit"))
    assert boot_mod.cache_root() == str(tmp_path / "explicit")


def test_unsafe_rules(boot_mod, tmp_path):
    uid = os.geteuid()
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    assert boot_mod.unsafe(str(mine), uid) is None
    mine.chmod(0o770)
    assert "writable by group or others" in boot_mod.unsafe(str(mine), uid)
    mine.chmod(0o700)
    assert "owned by uid" in boot_mod.unsafe(str(mine), uid + 1)
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert "not a directory" in boot_mod.unsafe(str(link), uid)
    open_parent = tmp_path / "open"
    open_parent.mkdir()
    open_parent.chmod(0o777)
    (open_parent / "c").mkdir(mode=0o700)
    assert "writable by group or others" in boot_mod.unsafe(str(open_parent / "c"), uid)
    open_parent.chmod(0o1777)  # sticky, like /tmp: others cannot rename what is ours
    assert boot_mod.unsafe(str(open_parent / "c"), uid) is None


def test_zipmain_warm_path_agrees_with_unsafe(tmp_path, monkeypatch):
    """The warm path in zipmain.py must take exactly the trees lxczboot.unsafe() accepts."""
    main = _load("lxcz_build_zipmain", os.path.join(BUILD_DIR, "zipmain.py"))
    uid = os.geteuid()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SHIV_ROOT", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(main, "BUILD_ID", "test")
    monkeypatch.setattr(sys, "path", list(sys.path))
    target = tmp_path / ".cache" / "lxcz" / "lxcz_test"
    (target / "site-packages").mkdir(parents=True)
    target.chmod(0o700)
    if uid == 0:  # root's warm path is /var/cache/lxcz: act as another user's tree instead
        uid = 54321
        for p in (tmp_path / ".cache", tmp_path / ".cache" / "lxcz", target):
            os.chown(p, uid, uid)
    assert main._warm(uid) == str(target / "site-packages")
    target.chmod(0o770)
    assert main._warm(uid) is None
    target.chmod(0o700)
    (tmp_path / ".cache").chmod(0o777)
    assert main._warm(uid) is None


def test_zipmain_warm_path_honours_shiv_root(tmp_path, monkeypatch):
    main = _load("lxcz_build_zipmain2", os.path.join(BUILD_DIR, "zipmain.py"))
    monkeypatch.setattr(main, "BUILD_ID", "test")
    monkeypatch.setattr(sys, "path", list(sys.path))
    root = tmp_path / "explicit"
    (root / "lxcz_test" / "site-packages").mkdir(parents=True)
    root.chmod(0o700)
    (root / "lxcz_test").chmod(0o700)
    monkeypatch.setenv("SHIV_ROOT", str(root))
    got = main._warm(os.geteuid())
    assert got == str(root / "lxcz_test" / "site-packages")
    assert sys.path.index(got) <= min(
        [i for i, p in enumerate(sys.path) if p.endswith(("site-packages", "dist-packages"))
         and p != got] or [len(sys.path)])
    monkeypatch.setenv("SHIV_ROOT", "relative/dir")  # left to the slow path
    assert main._warm(os.geteuid()) is None


def test_lxc_ls_version_imports_neither_pyroute2_nor_elftools(dist_lxcz, tmp_path):
    """The lazy-import rule, checked on the built file (bench/bench_startup.py times it)."""
    env = dict(os.environ, SHIV_ROOT=str(tmp_path / "cache"))
    cmd = [sys.executable, "-X", "importtime", dist_lxcz, "lxc-ls", "--version"]
    subprocess.run(cmd, capture_output=True, env=env, timeout=60)  # first run extracts
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    if "not implemented in lxcz yet" in out.stderr:
        pytest.skip("lxc-ls is not built yet")
    assert out.returncode == 0, out.stderr[-500:]
    modules = [line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines()
               if line.startswith("import time:") and "|" in line]
    assert "lxcz.__main__" in modules
    assert "_bootstrap" not in modules  # the warm path skips shiv's bootstrap imports
    heavy = [m for m in modules if m.split(".")[0] in ("pyroute2", "elftools")]
    assert heavy == []


# --- zipmain's finder for lxcz's own modules ------------------------------------------

def test_lxcz_modules_lists_modules_and_packages(build_mod):
    names = ["site-packages/lxcz/__init__.py", "site-packages/lxcz/runtime/__init__.py",
             "site-packages/lxcz/runtime/attach.py", "site-packages/lxcz/checkconfig/rules.toml",
             "site-packages/pyroute2/__init__.py", "_bootstrap/__init__.py"]
    assert build_mod.lxcz_modules(names) == {"lxcz": True, "lxcz.runtime": True,
                                             "lxcz.runtime.attach": False}


@pytest.fixture
def finder_site(tmp_path, monkeypatch):
    """A site directory with package pkgz (unchecked-hash .pyc files saying VALUE = 1,
    sources saying VALUE = 2) and zipmain's finder over it on sys.meta_path."""
    import compileall
    import py_compile

    main = _load("lxcz_build_zipmain_finder", os.path.join(BUILD_DIR, "zipmain.py"))
    site = tmp_path / "site-packages"
    (site / "pkgz").mkdir(parents=True)
    (site / "pkgz" / "__init__.py").write_text("VALUE = 1\n")
    (site / "pkgz" / "mod.py").write_text("VALUE = 1\n")
    compileall.compile_dir(str(site), quiet=2,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    for name in ("__init__.py", "mod.py"):
        (site / "pkgz" / name).write_text("VALUE = 2\n")
    monkeypatch.setattr(main, "MODULES", {"pkgz": True, "pkgz.mod": False})
    monkeypatch.setattr(sys, "meta_path", [main._Finder(str(site))] + sys.meta_path)
    for name in ("pkgz", "pkgz.mod"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield site
    for name in ("pkgz", "pkgz.mod"):
        sys.modules.pop(name, None)


def test_finder_imports_from_the_pyc_by_name(finder_site):
    import pkgz.mod  # noqa: F401 - imported through the finder

    mod = sys.modules["pkgz.mod"]
    assert mod.VALUE == 1  # the .pyc, not the (later) source: no stat, no check
    assert mod.__file__ == str(finder_site / "pkgz" / "mod.py")
    assert sys.modules["pkgz"].__path__ == [str(finder_site / "pkgz")]
    assert type(mod.__loader__).__name__ == "_Finder"
    assert mod.__loader__.get_code("pkgz.mod").co_filename.endswith("mod.py")


def test_finder_compiles_the_source_when_the_pyc_is_missing(finder_site):
    cache = finder_site / "pkgz" / "__pycache__"
    for p in cache.iterdir():
        if p.name.startswith("mod."):
            p.unlink()
    import pkgz.mod  # noqa: F401

    assert sys.modules["pkgz.mod"].VALUE == 2
    assert sys.modules["pkgz"].VALUE == 1


def test_finder_leaves_other_names_to_the_standard_finders(finder_site):
    with pytest.raises(ModuleNotFoundError):
        import pkgz.missing  # noqa: F401
    assert sys.meta_path[0].find_spec("json") is None


def test_dist_imports_lxcz_through_the_finder(dist_lxcz, tmp_path):
    """On the warm path no lxcz module goes through the standard path finder (python3 -v
    names each .pyc that one loads)."""
    env = dict(os.environ, SHIV_ROOT=str(tmp_path / "cache"))
    cmd = [sys.executable, "-v", dist_lxcz, "lxc-ls", "--version"]
    subprocess.run(cmd, capture_output=True, env=env, timeout=60)  # first run extracts
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr[-500:]
    standard = [ln for ln in out.stderr.splitlines()
                if "code object from" in ln and "/site-packages/lxcz/" in ln]
    assert standard == []
    assert out.stdout.strip()  # the version

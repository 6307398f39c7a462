"""The archive's start-up files: the stand-ins (build/standin.py), the .pyc files build/build
adds for them and for __main__.py, and zipmain.py's clean-up after runpy.

A small zipapp is made in a temporary directory from the real build/standin.py and
build/zipmain.py (its last line replaced by a probe) and run under every Python 3.9+ found
on this machine: on 3.10 and 3.11 runpy loads the stand-ins, on 3.9 they replace
themselves with the real modules at once, on 3.12+ nothing loads them. Either way,
after zipmain's clean-up every import gets the real standard-library module.
"""

from __future__ import annotations

import glob
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.join(ROOT, "build")

PROBE = r'''
loaded = sorted(n for n in ("site", "runpy", "importlib.util") if n in sys.modules)
import importlib.util
used = sorted(n for n in STANDINS if getattr(sys.modules.get(n), "_lxcz_standin", False))
kept = getattr(importlib.util, "functools", None)
archive = os.path.dirname(__file__)
_drop_standins(archive)
import contextlib, functools
report = {
    "version": list(sys.version_info[:2]),
    "used": used,
    "left": [n for n in STANDINS if getattr(sys.modules.get(n), "_lxcz_standin", False)],
    "contextlib": contextlib.__file__,
    "functools": functools.__file__,
    "real": [hasattr(contextlib, "ExitStack"), hasattr(functools, "lru_cache")],
    "archive_at": sys.path.index(archive),
    "site_at": _site_index(),
    "main_from": __file__,
    "argv": sys.argv,
    "no_site": sys.flags.no_site,
    "isolated": sys.flags.isolated,
    "loaded": loaded,
}
if hasattr(importlib.util, "_module_to_load"):  # 3.9 to 3.11: decorated with the stand-in
    with importlib.util._module_to_load("lxcz_probe_module") as module:
        report["module_to_load"] = module.__name__
if kept is not None:  # importlib.util keeps the stand-in, which forwards
    report["forwards"] = kept.wraps is functools.wraps and kept.partial is functools.partial
import json
print(json.dumps(report))
'''


def _load(name: str, path: str):
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_mod():
    return _load("lxcz_build_script_standins", os.path.join(BUILD_DIR, "build"))


def _pythons() -> list:
    found = {}
    for cand in [sys.executable, "/usr/bin/python3",
                 *sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3"))]:
        if not os.access(cand, os.X_OK):
            continue
        out = subprocess.run([cand, "-I", "-S", "-c",
                              "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
        version = out.stdout.strip()
        if out.returncode == 0 and version and tuple(map(int, version.split("."))) >= (3, 9):
            found.setdefault(version, cand)
    return [found[v] for v in sorted(found, key=lambda v: tuple(map(int, v.split("."))))]


PYTHONS = _pythons()


def _main_source() -> str:
    with open(os.path.join(BUILD_DIR, "zipmain.py")) as f:
        text = f.read()
    tail = 'if sys.argv[:1] == ["-c"]:  # the prologue: `python3 -I -S -c ... ARCHIVE ARGS`\n' \
        '    del sys.argv[0]\n    _boot()\n'
    assert text.endswith(tail)
    return text[: -len(tail)] + PROBE


def _make_app(build_mod, path: str, with_pycs: bool, prologue: bool = False) -> None:
    """The probe as __main__.py; with prologue, laid out as build/build does it: the
    probe as the entry module behind the shell prologue, __main__.py the shim."""
    with open(os.path.join(BUILD_DIR, "standin.py")) as f:
        standin = f.read()
    if prologue:
        files = {build_mod.MAIN_MODULE + ".py": _main_source(),
                 "__main__.py": build_mod.MAIN_SHIM}
    else:
        files = {"__main__.py": _main_source()}
    for name in build_mod.STANDIN_NAMES:
        files[name + ".py"] = standin
    if with_pycs:
        files.update(build_mod.start_pycs(sys.executable, files))
    with open(path, "wb") as f:
        f.write(build_mod.PROLOGUE if prologue else b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(f, "w") as zf:
            for name in sorted(files):
                data = files[name]
                zf.writestr(name, data if isinstance(data, bytes) else data.encode())


def test_zipmain_and_build_agree_on_the_standins(build_mod):
    main = _load("lxcz_build_zipmain_standins", os.path.join(BUILD_DIR, "zipmain.py"))
    assert tuple(main.STANDINS) == tuple(build_mod.STANDIN_NAMES)


@pytest.mark.parametrize("with_pycs", [True, False], ids=["pyc", "source"])
@pytest.mark.parametrize("python", PYTHONS)
def test_standins_give_way_to_the_real_modules(build_mod, tmp_path, python, with_pycs):
    app = str(tmp_path / "app.pyz")
    _make_app(build_mod, app, with_pycs)
    out = subprocess.run([python, app], capture_output=True, text=True, timeout=60,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    version = tuple(report["version"])
    if (3, 10) <= version < (3, 12):
        assert report["used"] == ["contextlib", "functools"]  # runpy took the stand-ins
        assert report["forwards"] is True
    else:
        assert report["used"] == []
    assert report["left"] == []
    for name in ("contextlib", "functools"):
        assert not report[name].startswith(app), report[name]  # the standard library's
    assert report["real"] == [True, True]
    # behind the standard library, before any site-packages
    assert 0 < report["archive_at"] <= report["site_at"]
    if "module_to_load" in report:
        assert report["module_to_load"] == "lxcz_probe_module"
    if with_pycs and python == sys.executable:
        assert report["main_from"].endswith("__main__.pyc")


@pytest.mark.parametrize("python", PYTHONS)
def test_prologue_imports_the_entry_module_without_site_or_runpy(build_mod, tmp_path, python):
    app = str(tmp_path / "app.pyz")
    _make_app(build_mod, app, with_pycs=True, prologue=True)
    os.chmod(app, 0o755)
    link = tmp_path / "lxc-probe"
    link.symlink_to(app)
    env = dict(os.environ, LXCZ_PYTHON=python, PYTHONPATH=str(tmp_path / "ignored"))
    out = subprocess.run([str(link), "-n", "c1"], capture_output=True, text=True,
                         timeout=60, cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    # the shell handed over the link's path and the arguments; _boot drops the "-c"
    assert report["argv"] == ["-c", str(link), "-n", "c1"]
    assert report["no_site"] == 1 and report["isolated"] == 1
    assert report["loaded"] == []  # no site, no runpy, no importlib.util
    assert report["left"] == [] and report["real"] == [True, True]
    assert 0 < report["archive_at"]  # behind the standard library
    assert report["main_from"].startswith(str(link) + "/" + build_mod.MAIN_MODULE)


def test_start_pycs_are_unchecked_hash_pycs_and_reproducible(build_mod):
    sources = {"__main__.py": "import sys\nX = 1\n", "contextlib.py": "Y = 2\n"}
    first = build_mod.start_pycs(sys.executable, sources)
    assert sorted(first) == ["__main__.pyc", "contextlib.pyc"]
    assert first == build_mod.start_pycs(sys.executable, sources)
    data = first["__main__.pyc"]
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[4:8], "little") == 1  # hash-based, not checked
    assert data[8:16] == importlib.util.source_hash(sources["__main__.py"].encode())


def test_start_pycs_failure_means_no_pycs(build_mod, tmp_path):
    assert build_mod.start_pycs(str(tmp_path / "no-python"), {"__main__.py": "pass\n"}) == {}
    assert build_mod.start_pycs(sys.executable, {"__main__.py": "def (:\n"}) == {}


def test_dist_has_stored_start_files(dist_lxcz, build_mod):
    entry = build_mod.MAIN_MODULE
    with zipfile.ZipFile(dist_lxcz) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        for name in ("__main__.py", "__main__.pyc", entry + ".py", entry + ".pyc",
                     "contextlib.py", "contextlib.pyc", "functools.py", "functools.pyc"):
            assert name in infos, name
            assert infos[name].compress_type == zipfile.ZIP_STORED, name
        assert zf.read("__main__.py").decode() == build_mod.MAIN_SHIM
        main = zf.read(entry + ".py")
        pyc = zf.read(entry + ".pyc")
        with open(os.path.join(BUILD_DIR, "standin.py"), "rb") as f:
            assert zf.read("contextlib.py") == f.read()
    assert pyc[2:4] == b"\r\n" and int.from_bytes(pyc[4:8], "little") == 1
    if pyc[:4] == importlib.util.MAGIC_NUMBER:
        assert pyc[8:16] == importlib.util.source_hash(main)  # compiled from this source

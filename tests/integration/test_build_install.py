"""The built dist/lxcz as an administrator uses it: install/uninstall, links, caches, rebuilds.

Each test works in its own temporary prefix and SHIV_ROOT; nothing outside tmp_path is
touched except that the non-root test runs the file as uid 65534 (setpriv).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["SHIV_ROOT"] = str(tmp_path / "cache")
    return e


@pytest.fixture
def prefix(tmp_path):
    p = tmp_path / "bin"
    p.mkdir()
    return str(p)


@pytest.fixture
def lxcz_copy(dist_lxcz, tmp_path):
    """dist/lxcz copied to a private place (the links point at the copy)."""
    d = tmp_path / "opt"
    d.mkdir()
    dst = str(d / "lxcz")
    shutil.copy2(dist_lxcz, dst)
    return dst


def run(cmd, env, **kw):
    return subprocess.run(cmd, capture_output=True, text=True,
                          env=env, timeout=120, **kw)


def tool_names(lxcz, env):
    out = run([lxcz, "--list"], env)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def links(prefix):
    return sorted(n for n in os.listdir(prefix) if os.path.islink(os.path.join(prefix, n)))


def test_install_is_idempotent_and_links_dispatch(lxcz_copy, prefix, env):
    names = tool_names(lxcz_copy, env)
    first = run([lxcz_copy, "install", "--prefix", prefix], env)
    assert first.returncode == 0, first.stderr
    assert links(prefix) == sorted(names)
    copy = os.path.join(prefix, "lxcz")
    for n in names:
        assert os.path.realpath(os.path.join(prefix, n)) == os.path.realpath(copy)
    again = run([lxcz_copy, "install", "--prefix", prefix], env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 links made")
    assert links(prefix) == sorted(names)
    # a link selects its tool by name: it behaves exactly as `lxcz TOOL`, whether the tool
    # is built yet or not
    for n in ("lxc-ls", "lxc-config", "lxc-start", "lxc-start-ephemeral"):
        via_link = run([os.path.join(prefix, n), "--help"], env)
        via_arg = run([lxcz_copy, n, "--help"], env)
        assert (via_link.returncode, via_link.stdout, via_link.stderr) == (
            via_arg.returncode, via_arg.stdout, via_arg.stderr)
        assert via_link.returncode in (0, 1)
        if via_link.returncode == 1:
            assert via_link.stderr == f"{n}: not implemented in lxcz yet\n"


def _head(path):
    with open(path, "rb") as f:
        data = f.read()
    start = data.index(b"PK\x03\x04")
    return data[:start], data[start:]


def test_install_copy_starts_the_interpreter_directly(lxcz_copy, prefix, env):
    """PREFIX/lxcz is the archive with a #! line for the Python that ran install (no
    /bin/sh on the way), the same length of prologue, the same zip; the file install
    was run from is unchanged."""
    with open(lxcz_copy, "rb") as f:
        before = f.read()
    out = run([SYSTEM_PYTHON, lxcz_copy, "install", "--prefix", prefix], env)
    assert out.returncode == 0, out.stderr
    with open(lxcz_copy, "rb") as f:
        assert f.read() == before
    copy = os.path.join(prefix, "lxcz")
    head, body = _head(copy)
    old_head, old_body = _head(lxcz_copy)
    assert body == old_body and len(head) == len(old_head)
    first = head.split(b"\n")[0].decode()
    assert first.startswith(f"#!{SYSTEM_PYTHON} -ISc") and len(first) < 128
    assert os.access(copy, os.X_OK)
    probe = run([os.path.join(prefix, "lxc-config"), "-l"], env)
    assert probe.returncode == 0 and "lxc.lxcpath" in probe.stdout.split()
    # install again with another interpreter path re-pins the copy; same zip
    short = tempfile.mkdtemp(prefix="py", dir="/tmp")  # a #! line has 127 bytes
    try:
        link_py = os.path.join(short, "py3")
        os.symlink(SYSTEM_PYTHON, link_py)
        out = run([link_py, lxcz_copy, "install", "--prefix", prefix], env)
    finally:
        shutil.rmtree(short)
    assert out.returncode == 0, out.stderr
    head2, body2 = _head(copy)
    assert head2.startswith(f"#!{link_py} -ISc".encode()) and body2 == old_body
    # uninstall removes the copy with the links
    out = run([lxcz_copy, "uninstall", "--prefix", prefix], env)
    assert out.returncode == 0 and os.listdir(prefix) == []


def test_install_falls_back_to_links_at_the_file(lxcz_copy, tmp_path, env):
    """An interpreter path that cannot go on a #! line (a blank in it): the links point
    at the file install was run from, which still works through its shell prologue."""
    d = tmp_path / "with space"
    d.mkdir()
    py = str(d / "python3")
    os.symlink(SYSTEM_PYTHON, py)
    prefix = tmp_path / "pbin"
    prefix.mkdir()
    out = run([py, lxcz_copy, "install", "--prefix", str(prefix)], env)
    assert out.returncode == 0, out.stderr
    assert "cannot go on a #! line" in out.stdout
    assert not os.path.exists(prefix / "lxcz")
    assert os.path.realpath(prefix / "lxc-info") == os.path.realpath(lxcz_copy)
    assert run([str(prefix / "lxc-info"), "--version"], env).returncode == 0


def test_install_refuses_foreign_files_unless_forced(lxcz_copy, prefix, env, tmp_path):
    foreign = os.path.join(prefix, "lxc-start")
    with open(foreign, "w") as f:
        f.write("#!/bin/sh\necho upstream\n")
    out = run([lxcz_copy, "install", "--prefix", prefix], env)
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1 and "--force" in out.stderr
    assert links(prefix) == []  # nothing half-done
    with open(foreign) as f:
        assert "upstream" in f.read()
    os.unlink(foreign)
    with open(os.path.join(prefix, "lxcz"), "w") as f:  # a foreign file named lxcz
        f.write("#!/bin/sh\necho other\n")
    out = run([lxcz_copy, "install", "--prefix", prefix], env)
    assert out.returncode == 1 and "lxcz exists" in out.stderr and links(prefix) == []
    with open(foreign, "w") as f:
        f.write("#!/bin/sh\necho upstream\n")
    forced = run([lxcz_copy, "install", "--prefix", prefix, "--force"], env)
    assert forced.returncode == 0, forced.stderr
    assert os.path.islink(foreign)
    assert not [n for n in os.listdir(prefix) if n.endswith(".lxcz-new")]


def test_uninstall_removes_only_lxcz_links(lxcz_copy, prefix, env, tmp_path):
    assert run([lxcz_copy, "install", "--prefix", prefix], env).returncode == 0
    other = tmp_path / "other"
    other.write_text("#!/bin/sh\n")
    os.unlink(os.path.join(prefix, "lxc-info"))
    os.symlink(str(other), os.path.join(prefix, "lxc-info"))  # a link to something else
    os.unlink(os.path.join(prefix, "lxc-top"))
    with open(os.path.join(prefix, "lxc-top"), "w") as f:  # a plain file
        f.write("x")
    with open(os.path.join(prefix, "unrelated"), "w") as f:
        f.write("x")
    out = run([lxcz_copy, "uninstall", "--prefix", prefix], env)
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(prefix)) == ["lxc-info", "lxc-top", "unrelated"]
    assert os.readlink(os.path.join(prefix, "lxc-info")) == str(other)
    again = run([lxcz_copy, "uninstall", "--prefix", prefix], env)
    assert again.returncode == 0 and again.stdout.startswith("removed 0 ")


def test_install_bad_arguments(lxcz_copy, prefix, env, tmp_path):
    out = run([lxcz_copy, "install", "--bogus"], env)
    assert out.returncode == 2 and "unknown argument" in out.stderr
    out = run([lxcz_copy, "install", "--prefix", str(tmp_path / "missing")], env)
    assert out.returncode == 1 and "not a directory" in out.stderr
    assert not os.path.exists(tmp_path / "missing")


def test_install_refuses_when_not_run_from_the_zipapp(prefix, env):
    cmd = [sys.executable, "-m", "lxcz", "install", "--prefix", prefix]
    out = run(cmd, dict(env, PYTHONPATH=ROOT))
    assert out.returncode == 1 and "not the lxcz zipapp" in out.stderr
    assert os.listdir(prefix) == []


def test_unknown_tool_exits_2(lxcz_copy, prefix, env):
    out = run([lxcz_copy, "frobnicate"], env)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    os.symlink(lxcz_copy, os.path.join(prefix, "lxc-frobnicate"))
    out = run([os.path.join(prefix, "lxc-frobnicate")], env)
    assert out.returncode == 2 and out.stderr.count("\n") == 1


def test_root_cache_is_private(lxcz_copy, env, tmp_path):
    out = run([SYSTEM_PYTHON, lxcz_copy, "--version"], env)
    assert out.returncode == 0, out.stderr
    cache = tmp_path / "cache"
    st = os.stat(cache)
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o700
    for dirpath, dirs, files in os.walk(cache):
        for n in dirs + files:
            s = os.lstat(os.path.join(dirpath, n))
            assert s.st_uid == 0 and not s.st_mode & 0o002, os.path.join(dirpath, n)


@pytest.fixture
def world_dir():
    """A directory uid 65534 can reach (pytest's tmp_path lives under a 0700 directory)."""
    d = tempfile.mkdtemp(prefix="lxcz-build-test-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_non_root_user_gets_its_own_cache(dist_lxcz, world_dir):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    lxcz = os.path.join(world_dir, "lxcz")
    shutil.copy2(dist_lxcz, lxcz)
    os.chmod(lxcz, 0o755)
    home = os.path.join(world_dir, "home")
    os.mkdir(home)
    os.chown(home, 65534, 65534)
    env = {"PATH": "/usr/bin:/bin", "HOME": home}
    out = run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
               SYSTEM_PYTHON, lxcz, "--version"], env)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    st = os.stat(os.path.join(home, ".cache", "lxcz"))
    assert st.st_uid == 65534 and (st.st_mode & 0o777) == 0o700
    assert not os.path.exists("/var/cache/lxcz") or os.stat("/var/cache/lxcz").st_uid == 0


def _tree_hash() -> str:
    h = hashlib.sha256()
    for dirpath, dirs, files in os.walk(os.path.join(ROOT, "lxcz")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for fn in sorted(files):
            if fn.endswith(".pyc"):
                continue
            path = os.path.join(dirpath, fn)
            h.update(path.encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def test_build_is_reproducible(tmp_path):
    """Two builds of the same tree give the same bytes (warm build venv: a few seconds).

    Retried when lxcz/ changed between the two builds (someone editing while tests run).
    """
    for _attempt in range(3):
        before = _tree_hash()
        outs = []
        for i in (1, 2):
            out_file = str(tmp_path / f"lxcz{i}")
            res = subprocess.run([os.path.join(ROOT, "build", "build"), "-q", "-o", out_file],
                                 capture_output=True, text=True,
                                 timeout=600)
            assert res.returncode == 0, res.stderr
            assert res.stdout.strip() == out_file
            with open(out_file, "rb") as f:
                outs.append(hashlib.sha256(f.read()).hexdigest())
        if _tree_hash() == before:
            break
    assert outs[0] == outs[1]


def _as_nobody(cmd, env):
    return run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *cmd], env)


def test_concurrent_first_runs_share_one_extraction(lxcz_copy, env, tmp_path):
    procs = [subprocess.Popen([SYSTEM_PYTHON, lxcz_copy, "lxc-ls", "--version"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(r[0] == 0 and r[2] == "" for r in results), results
    assert len({r[1] for r in results}) == 1
    trees = [n for n in os.listdir(tmp_path / "cache") if n.startswith("lxcz_")
             and not n.endswith("_lock")]
    assert len(trees) == 1
    assert os.path.isfile(tmp_path / "cache" / trees[0] / "site-packages" / "lxcz" / "__init__.py")


def test_without_home_runs_from_the_archive(dist_lxcz, world_dir):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    lxcz = os.path.join(world_dir, "lxcz")
    shutil.copy2(dist_lxcz, lxcz)
    out = _as_nobody([SYSTEM_PYTHON, lxcz, "lxc-ls", "--version"], {"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() and out.stderr == ""


def test_a_cache_owned_by_another_user_is_not_used(dist_lxcz, world_dir):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    lxcz = os.path.join(world_dir, "lxcz")
    shutil.copy2(dist_lxcz, lxcz)
    cache = os.path.join(world_dir, "cache")
    env = {"PATH": "/usr/bin:/bin", "SHIV_ROOT": cache}
    assert run([SYSTEM_PYTHON, lxcz, "--version"], env).returncode == 0  # root extracts
    os.chmod(cache, 0o755)  # readable by all, as a careless admin might leave it
    out = _as_nobody([SYSTEM_PYTHON, lxcz, "lxc-ls", "--version"], env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("lxcz: not using cache ") and "owned by uid 0" in out.stderr


def test_a_rebuilt_file_never_runs_the_old_cached_code(dist_lxcz, tmp_path, env):
    """Same cache, a file built from changed sources: each file runs its own code.

    The changed build is made from a copy of the tree (build/work shared, so the build
    venv and the wheelhouse are reused and the build lock is the real one).
    """
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if os.path.exists(os.path.join(ROOT, name)):
            shutil.copy2(os.path.join(ROOT, name), copy / name)
    shutil.copytree(os.path.join(ROOT, "lxcz"), copy / "lxcz",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(ROOT, "build"), copy / "build",
                    ignore=shutil.ignore_patterns("work", "__pycache__"))
    os.symlink(os.path.join(ROOT, "build", "work"), copy / "build" / "work")
    version_py = copy / "lxcz" / "version.py"
    text = version_py.read_text()
    version_py.write_text(text.replace('VERSION = "', 'VERSION = "9.9.9-rebuilt-', 1))
    new = str(tmp_path / "lxcz-new")
    res = subprocess.run([str(copy / "build" / "build"), "-q", "-o", new],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    old = run([SYSTEM_PYTHON, dist_lxcz, "--version"], env)
    assert old.returncode == 0 and "9.9.9-rebuilt-" not in old.stdout
    rebuilt = run([SYSTEM_PYTHON, new, "--version"], env)
    assert rebuilt.returncode == 0 and "9.9.9-rebuilt-" in rebuilt.stdout, rebuilt.stdout
    again = run([SYSTEM_PYTHON, dist_lxcz, "--version"], env)
    assert again.stdout == old.stdout  # and back: the old file still runs its own code
    trees = [n for n in os.listdir(env["SHIV_ROOT"]) if n.startswith("lxcz_")
             and not n.endswith("_lock")]
    assert len(trees) == 2

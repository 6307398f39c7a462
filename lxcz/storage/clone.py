"""Copies, snapshot clones, renames, and the dependencies between them, as LXC 5 keeps them.

A clone gets its own directory with a rewritten config: ``lxc.uts.name`` is the new name
(unless keepname), ``lxc.rootfs.path`` names the new store, every ``hwaddr`` gets new
random digits after the old prefix (unless keepmac), and any value that named a path in the
old container's directory names the same path in the new one. Only the lines that change
are rewritten; comments and order stay.

Snapshot clones depend on their base (an overlay's lower layer is the base's rootfs, say).
LXC records that in two files this module writes the same way: ``lxc_rdepends`` in the
clone (the base's lxcpath and name, one a line) and ``lxc_snapshots`` in the base (how many
clones depend on it, then their lxcpath and name, two lines each). A base with dependents
cannot be destroyed.

Every operation either finishes or removes what it made; the source is never modified
except for its ``lxc_snapshots`` count, which is written last.

lxc-copy -s is a few mkdir and write calls, so the Python start-up around them is most of
its time: this module imports nothing beyond ``os`` at the top and matches config lines
with plain string operations (``re`` alone costs more than the copy). The clone hooks are
looked for with a quick scan; the full configuration parser runs only when a line sets
an ``lxc.hook`` key or includes another file.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError
from lxcz.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple

    from lxcz.container import Container

# python3-lxc's flag values
LXC_CLONE_KEEPNAME = 1 << 0
LXC_CLONE_KEEPMACADDR = 1 << 1
LXC_CLONE_SNAPSHOT = 1 << 2
LXC_CLONE_KEEPBDEVTYPE = 1 << 3
LXC_CLONE_MAYBE_SNAPSHOT = 1 << 4
LXC_CLONE_MAXFLAGS = 1 << 5
LXC_CLONE_ALLOW_RUNNING = 1 << 6

_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_ROOTFS_KEYS = ("lxc.rootfs.path", "lxc.rootfs")
_UTS_KEYS = ("lxc.uts.name", "lxc.utsname")


def split_line(line: str) -> Optional[Tuple[str, str, str, str]]:
    """(indent, key, the blanks and '=' between, value) of an ``lxc.KEY = VALUE`` line
    (without its line break); None for anything else. Trailing white space is not part of
    the value. Same as the regex ``^(\\s*)(lxc\\.[A-Za-z0-9_.-]+)(\\s*=\\s*)(.*?)\\s*$``."""
    n = len(line)
    i = 0
    while i < n and line[i].isspace():
        i += 1
    if not line.startswith("lxc.", i):
        return None
    j = i + 4
    while j < n and line[j] in _KEY_CHARS:
        j += 1
    if j == i + 4:
        return None
    k = j
    while k < n and line[k].isspace():
        k += 1
    if k == n or line[k] != "=":
        return None
    k += 1
    while k < n and line[k].isspace():
        k += 1
    return line[:i], line[i:j], line[j:k], line[k:].rstrip()


def _is_hwaddr_key(key: str) -> bool:
    """lxc.net.hwaddr, lxc.net.N.hwaddr and the lxc.network spellings."""
    if not key.endswith(".hwaddr"):
        return False
    for head in ("lxc.network", "lxc.net"):
        if key.startswith(head):
            mid = key[len(head):-len(".hwaddr")]
            return mid == "" or (mid[:1] == "." and mid[1:].isascii() and mid[1:].isdigit())
    return False


def replace_dir(value: str, old_dir: str, new_dir: str, before_blank: bool = True) -> str:
    """value with every old_dir that ends at a '/', a ':', the end (or, with before_blank,
    white space) replaced by new_dir; old_dir inside a longer name is left alone."""
    if not old_dir:
        return value
    out = []
    start = 0
    at = value.find(old_dir)
    while at >= 0:
        end = at + len(old_dir)
        nxt = value[end:end + 1]
        if nxt in ("", "/", ":") or (before_blank and nxt.isspace()):
            out.append(value[start:at])
            out.append(new_dir)
            start = end
            at = value.find(old_dir, end)
        else:
            at = value.find(old_dir, at + 1)
    out.append(value[start:])
    return "".join(out)


def new_mac(old: str) -> str:
    """Keep the first three octets (the OUI), draw the rest; never multicast."""
    parts = old.strip().split(":")
    if len(parts) != 6:
        parts = ["00", "16", "3e", "xx", "xx", "xx"]
    head = [p if all(c in "0123456789abcdefABCDEF" for c in p) else "00" for p in parts[:3]]
    first = int(head[0], 16) & 0xFE
    tail = [f"{b:02x}" for b in os.urandom(3)]
    return ":".join([f"{first:02x}"] + head[1:] + tail)


def rewrite_config(text: str, old_dir: str, new_dir: str, new_name: str, rootfs: str,
                   keepname: bool = False, keepmac: bool = False) -> str:
    """The clone's config text; see the module docstring."""
    out: List[str] = []
    seen_rootfs = seen_uts = False
    old_dir, new_dir = old_dir.rstrip("/"), new_dir.rstrip("/")
    for line in text.splitlines(keepends=True):
        m = split_line(line.rstrip("\n"))
        if m is None:
            out.append(line)
            continue
        indent, key, eq, value = m
        new_value = value
        if key in _ROOTFS_KEYS:
            new_value, seen_rootfs = rootfs, True
            key = "lxc.rootfs.path" if key == "lxc.rootfs" else key
        elif key in _UTS_KEYS:
            seen_uts = True
            if not keepname:
                new_value = new_name
        elif _is_hwaddr_key(key) and not keepmac:
            new_value = new_mac(value)
        elif old_dir and old_dir in value:
            new_value = replace_dir(value, old_dir, new_dir)
        if new_value == value and key not in _ROOTFS_KEYS:
            out.append(line)
        else:
            out.append(f"{indent}{key}{eq}{new_value}\n")
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    if not seen_rootfs:
        out.append(f"lxc.rootfs.path = {rootfs}\n")
    if not seen_uts and not keepname:
        out.append(f"lxc.uts.name = {new_name}\n")
    return "".join(out)


def rootfs_value(config_text: str) -> str:
    value = ""
    for line in config_text.splitlines():
        m = split_line(line)
        if m is not None and m[1] in _ROOTFS_KEYS:
            value = m[3]
    return value


# -- dependencies ---------------------------------------------------------------------
def _read_snapshots_file(container_dir: str) -> Tuple[Optional[int], List[Tuple[str, str]]]:
    """(old-format count or None, dependents) from lxc_snapshots.

    LXC 5 writes one ``lxcpath`` line and one ``name`` line per dependent clone; releases
    before it wrote only a count, which LXC keeps counting in when it finds one.
    """
    try:
        with open(os.path.join(container_dir, "lxc_snapshots")) as fh:
            lines = [ln.rstrip("\n") for ln in fh if ln.strip()]
    except FileNotFoundError:
        return None, []
    if lines and lines[0].strip().lstrip("-").isdigit():
        return int(lines[0]), []
    return None, [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]


def read_snapshots(container_dir: str) -> List[Tuple[str, str]]:
    """The (lxcpath, name) clones that depend on the container in container_dir."""
    count, deps = _read_snapshots_file(container_dir)
    if count is not None:
        return [("?", "?")] * max(count, 0)
    return deps


def _write_snapshots(container_dir: str, deps: Sequence[Tuple[str, str]],
                     count: Optional[int] = None) -> None:
    path = os.path.join(container_dir, "lxc_snapshots")
    if (count is not None and count <= 0) or (count is None and not deps):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    tmp = path + ".new"
    with open(tmp, "w") as fh:
        if count is not None:
            fh.write(f"{count}\n")
        else:
            fh.write("".join(f"{lxcpath}\n{name}\n" for lxcpath, name in deps))
    os.replace(tmp, path)


def read_rdepends(container_dir: str) -> Optional[Tuple[str, str]]:
    try:
        with open(os.path.join(container_dir, "lxc_rdepends")) as fh:
            lines = [ln.rstrip("\n") for ln in fh]
    except FileNotFoundError:
        return None
    return (lines[0], lines[1]) if len(lines) >= 2 else None


def add_dependency(base_dir: str, base_lxcpath: str, base_name: str, clone_lxcpath: str,
                   clone_name: str, clone_dir: str) -> None:
    with open(os.path.join(clone_dir, "lxc_rdepends"), "w") as fh:
        fh.write(f"{base_lxcpath}\n{base_name}\n")
    count, deps = _read_snapshots_file(base_dir)
    if count is not None:
        _write_snapshots(base_dir, [], count + 1)
    else:
        _write_snapshots(base_dir, deps + [(clone_lxcpath, clone_name)])


def drop_dependency(clone_dir: str, clone_lxcpath: str, clone_name: str) -> None:
    """Called when a clone goes away: its base forgets it."""
    base = read_rdepends(clone_dir)
    if base is not None:
        drop_dependency_of(base, clone_lxcpath, clone_name)


def drop_dependency_of(base: Tuple[str, str], clone_lxcpath: str, clone_name: str) -> None:
    base_dir = os.path.join(base[0], base[1])
    if not os.path.isdir(base_dir):
        return
    count, deps = _read_snapshots_file(base_dir)
    if count is not None:
        _write_snapshots(base_dir, [], count - 1)
    else:
        _write_snapshots(base_dir, [d for d in deps if d != (clone_lxcpath, clone_name)])


def check_no_dependents(c: Container) -> None:
    deps = read_snapshots(c.path)
    if deps:
        names = ", ".join(n for _, n in deps if n != "?") or f"{len(deps)} clones"
        raise LxczError(f"{c.name} has snapshot clones that depend on it ({names}): destroy "
                        "them first, or use lxc-destroy -s to remove it with its snapshots")


# -- clone ----------------------------------------------------------------------------
def is_running(c: Container) -> bool:
    """c.running, without importing the runtime unless a monitor holds c's socket."""
    from lxcz.autostart import is_running as running

    return running(c)


def clone(c: Container, newname: str, config_path: Optional[str] = None, flags: int = 0,
          bdevtype: Optional[str] = None, bdevdata: Optional[str] = None, newsize: int = 0,
          hookargs: Sequence[str] = (), fstype: str = "") -> Container:
    """python3-lxc's Container.clone: the new Container, or LxczError."""
    from lxcz.container import Container, check_name
    from lxcz.storage import bdev

    check_name(newname)
    if not c.defined:
        raise LxczError(f"{c.name} does not exist")
    lxcpath = os.path.abspath(config_path or c.config_path)
    new = Container(newname, lxcpath)
    if os.path.lexists(new.path):
        raise LxczError(f"container {newname} already exists in {lxcpath}")
    snapshot = bool(flags & LXC_CLONE_SNAPSHOT)
    if not flags & LXC_CLONE_ALLOW_RUNNING and is_running(c):
        raise LxczError(f"{c.name} is running: stop it first (or pass -a to snapshot it "
                        "anyway)")
    with open(c.config_file_name) as fh:
        text = fh.read()
    src_value = rootfs_value(text) or "dir:" + os.path.join(c.path, "rootfs")
    src_kind = bdev.store_type(src_value)
    kind = src_kind if flags & LXC_CLONE_KEEPBDEVTYPE else (bdevtype or src_kind)
    if snapshot and kind == "dir" and not bdevtype and not flags & LXC_CLONE_KEEPBDEVTYPE:
        kind = "overlay"  # lxc-copy -s of a dir container: an overlay on the base's rootfs
    store = bdev.get_store(kind)
    if snapshot and not store.can_snapshot:
        if not flags & LXC_CLONE_MAYBE_SNAPSHOT:
            raise LxczError(f"the {kind} store cannot make snapshots (-B overlay can)")
        log.warning("%s is on a %s store, which cannot share blocks with a snapshot: "
                    "making a full copy instead (an overlay or btrfs store would not "
                    "need one)", c.name, kind)
        snapshot = False
    opts = bdev.StoreOptions(fssize=newsize, fstype=fstype)
    if bdevdata:
        opts.extra["bdevdata"] = bdevdata
    os.makedirs(lxcpath, exist_ok=True)
    os.mkdir(new.path, 0o770)
    value = ""
    try:
        value = store.clone(src_value, new.path, newname, snapshot, opts)
        config = rewrite_config(text, c.path, new.path, newname, value,
                                keepname=bool(flags & LXC_CLONE_KEEPNAME),
                                keepmac=bool(flags & LXC_CLONE_KEEPMACADDR))
        _copy_side_files(c.path, new.path)
        tmp = os.path.join(new.path, "config.new")
        with open(tmp, "w") as fh:
            fh.write(config)
        os.replace(tmp, new.config_file_name)
        _run_clone_hooks(new, c, hookargs, config)
        if snapshot:
            add_dependency(c.path, c.config_path, c.name, lxcpath, newname, new.path)
    except BaseException:
        if value:
            try:
                store.destroy(value)
            except LxczError:
                pass
        import shutil

        shutil.rmtree(new.path, ignore_errors=True)
        raise
    return new


def _copy_side_files(old_dir: str, new_dir: str) -> None:
    """An fstab kept in the container's directory travels with it, as LXC does."""
    src = os.path.join(old_dir, "fstab")
    if os.path.isfile(src):
        import shutil

        shutil.copy2(src, os.path.join(new_dir, "fstab"))


def _may_set_hooks(config_text: str) -> bool:
    """Whether a line sets an lxc.hook key or includes a file (which might); when neither,
    there is no clone hook and the parser is spared."""
    for line in config_text.split("\n"):
        s = line.lstrip(" \t\r")
        if s.startswith("lxc.hook") or s.startswith("lxc.include"):
            return True
    return False


def _run_clone_hooks(new: Container, src: Container, hookargs: Sequence[str],
                     config_text: str) -> None:
    if not _may_set_hooks(config_text):
        return
    import subprocess

    from lxcz.config import ContainerConfig

    cfg = ContainerConfig.load(new.config_file_name)
    hooks = cfg.get_list("lxc.hook.clone")
    if not hooks:
        return
    from lxcz.storage import bdev

    value = cfg.get("lxc.rootfs.path") or ""
    rootfs = os.path.join(new.path, "rootfs")
    mounted = bdev.mount_rootfs(value, rootfs) if value else rootfs
    try:
        env = dict(os.environ, LXC_NAME=new.name, LXC_SRC_NAME=src.name,
                   LXC_CONFIG_FILE=new.config_file_name, LXC_ROOTFS_MOUNT=mounted or rootfs,
                   LXC_ROOTFS_PATH=value, LXC_HOOK_TYPE="clone", LXC_HOOK_SECTION="lxc")
        for hook in hooks:
            argv = str(hook).split() + [new.name, "lxc", "clone", *hookargs]
            res = subprocess.run(argv, env=env, capture_output=True, text=True)
            if res.returncode != 0:
                raise LxczError(f"clone hook '{hook}' exited with status {res.returncode}")
    finally:
        if value and bdev.store_type(value) != "dir":
            bdev.for_value(value).umount(rootfs)


def rename(c: Container, new_name: str) -> bool:
    """Move the container's directory and rewrite the paths its config holds."""
    from lxcz.container import check_name

    check_name(new_name)
    if not c.defined:
        raise LxczError(f"{c.name} does not exist")
    if is_running(c):
        raise LxczError(f"{c.name} is running: stop it before renaming")
    if read_snapshots(c.path):
        raise LxczError(f"{c.name} has snapshot clones that depend on it: cannot rename")
    new_dir = os.path.join(c.config_path, new_name)
    if os.path.lexists(new_dir):
        raise LxczError(f"container {new_name} already exists")
    with open(c.config_file_name) as fh:
        text = fh.read()
    old_dir = c.path
    value = rootfs_value(text)
    new_value = replace_dir(value, old_dir, new_dir, before_blank=False)
    config = rewrite_config(text, old_dir, new_dir, new_name, new_value, keepmac=True)
    os.rename(old_dir, new_dir)
    try:
        tmp = os.path.join(new_dir, "config.new")
        with open(tmp, "w") as fh:
            fh.write(config)
        os.replace(tmp, os.path.join(new_dir, "config"))
    except BaseException:
        os.rename(new_dir, old_dir)
        raise
    base = read_rdepends(new_dir)
    if base is not None:
        base_dir = os.path.join(*base)
        count, deps = _read_snapshots_file(base_dir)
        if count is None:
            _write_snapshots(base_dir, [(p, new_name if (p, n) == (c.config_path, c.name)
                                         else n) for p, n in deps])
    c.name = new_name
    c._config = None
    return True

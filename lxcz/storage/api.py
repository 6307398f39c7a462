"""Container lifecycle on disk: create (templates, backing stores) and destroy.

``lxcz.Container.create``/``destroy``/``clone``/... call the functions here.

create follows LXC 5's order: refuse an existing container; load the initial
configuration (``-f FILE`` or ``lxc.default_config``), filling every ``x`` of an
``lxc.net.N.hwaddr`` with a random hex digit; make ``LXCPATH/NAME`` (0770) and, when a
template is used, the rootfs (dir store: ``LXCPATH/NAME/rootfs`` or ``--dir DIR``);
write the config with ``lxc.rootfs.path = dir:ROOTFS``; run the template; prepend the
template header; check that the result loads. A ``partial`` file marks the container
while this happens. Any failure removes everything this call made, and nothing else.

destroy removes ``LXCPATH/NAME`` and a rootfs inside it, never anything outside the
lxcpath: a container directory that is a symlink, or a rootfs elsewhere, is refused or
left in place (see ``destroy``).

User namespaces (``lxc.idmap`` in the initial configuration), as LXC 5 does them: the
maps are checked before anything is made (root must be mapped; a caller that is not root
must hold every range in /etc/subuid and /etc/subgid), the container directory (0770)
and a rootfs this call makes are given to the host ids of the container's root
(``lxcz.security.userns_exec.chown_mapped_root``: for a caller that is not root the
directory keeps the caller's group, so it stays usable), and the template runs as root
of a namespace holding the maps (``lxcz.storage.templates.run``), so its files belong to
the mapped ids. A caller that is not root gets a one-line error instead of a rootfs when
the configuration has no ``lxc.idmap``: such a container could never start. destroy
removes an unprivileged container's tree inside a namespace with its maps, where the
caller may remove files owned by the container's ids.
"""

from __future__ import annotations

import fcntl
import os
import random
import re

from lxcz.errors import LxczError, NotImplementedYet
from lxcz.storage import dirstore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence

    from lxcz.container import Container

LXC_CREATE_QUIET = 1

# lxc-create -B values LXC 5 knows (nbd and rbd are not implemented by lxcz)
KNOWN_STORES = ("dir", "btrfs", "lvm", "loop", "nbd", "overlay", "overlayfs", "rbd", "zfs")

_HWADDR = re.compile(r"^(\s*lxc\.net(?:work)?(?:\.\d+)?\.hwaddr\s*=\s*)(\S+)(.*)$")
_ROOTFS_KEY = re.compile(r"^\s*lxc\.rootfs(?:\.path)?\s*=\s*(.*?)\s*$")
_HEX = "0123456789abcdef"


def fill_hwaddr(value: str, rng: Optional[random.Random] = None) -> str:
    """Replace each x/X in a MAC address with a random hex digit, like LXC.

    The second digit of the first octet stays even, so the address is never multicast.
    """
    rng = rng or random.SystemRandom()
    out = []
    for i, ch in enumerate(value):
        if ch in "xX":
            digit = rng.randrange(16)
            if i == 1:
                digit &= 0x0E
            out.append(_HEX[digit])
        else:
            out.append(ch)
    return "".join(out)


def initial_config_lines(text: str, rng: Optional[random.Random] = None) -> List[str]:
    """The lines of an initial configuration as lxc-create stores them.

    Lines are kept as written (LXC keeps its unexpanded config verbatim), blank lines
    are dropped and hwaddr ``xx`` digits are filled in.
    """
    lines = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _HWADDR.match(line)
        if m and "x" in m.group(2).lower():
            line = m.group(1) + fill_hwaddr(m.group(2), rng) + m.group(3)
        lines.append(line)
    return lines


def _raw_rootfs(lines: Sequence[str]) -> Optional[str]:
    value = None
    for line in lines:
        m = _ROOTFS_KEY.match(line)
        if m:
            value = m.group(1).strip('"') or None
    return value


def default_config_path() -> Optional[str]:
    """lxc.default_config of the system configuration (None when unset)."""
    from lxcz.config import system

    return system.get("lxc.default_config")


def _load_check(path: str) -> None:
    """Parse the finished configuration the way a later start will; raise its error."""
    from lxcz.config import ContainerConfig

    ContainerConfig.load(path)


def _config_maps(cfg: Any) -> List[Any]:
    """The checked lxc.idmap entries of a loaded configuration ([] when none)."""
    from lxcz.security import idmap

    raw = cfg.get_list("lxc.idmap")
    return idmap.parse(raw) if raw else []


class _Warned(set):
    """A legacy-warning record that has seen every key: the file is loaded again later."""

    def __contains__(self, item: object) -> bool:
        return True


def _load_quietly(path: str) -> Any:
    """Load a configuration for its id maps without repeating its legacy-key warnings,
    which the final check of the created container's file gives once."""
    from lxcz.config import ContainerConfig, parser

    cfg = ContainerConfig()
    cfg.path = path
    cfg._legacy.warned = _Warned()
    parser.load_file(cfg, path)
    return cfg


def _saved_maps(c: Container) -> List[Any]:
    """lxc.idmap of the container's saved configuration; [] when it cannot be read.

    Read from the file, leaving ``c``'s in-memory configuration alone."""
    try:
        return _config_maps(_load_quietly(os.path.join(c.path, "config")))
    except LxczError:
        return []


def _check_maps(maps: Sequence[Any], template: bool, makes_rootfs: bool) -> None:
    """Refuse, before anything is made, id maps this caller cannot use (module docstring)."""
    from lxcz.security import idmap, userns_exec

    if maps:
        idmap.root_ids(maps)
        idmap.check_allowed(userns_exec.add_caller(maps)[0] if template else maps)
        return
    if os.geteuid() == 0 or not makes_rootfs:
        return
    try:
        suggestion = idmap.default_maps()
    except LxczError as err:
        raise LxczError(f"{err}: an unprivileged container needs lxc.idmap entries "
                        "from it for root of the container") from None
    from lxcz.config import system

    raise LxczError("no lxc.idmap in the configuration: an unprivileged container needs "
                    "one for root (e.g. " + ", ".join(f'"lxc.idmap = {m}"' for m in
                                                       suggestion) +
                    f" in {system.default_config_path()})")


def _remove_dir(path: str, maps: Sequence[Any]) -> None:
    if maps and os.geteuid() != 0:
        from lxcz.security import userns_exec

        userns_exec.remove_tree_mapped(path, maps)
    else:
        dirstore.remove_tree(path)


def _clear_stale_partial(c: Container) -> None:
    """A ``partial`` marker nobody holds is a create that died half-way (killed, power
    loss): remove that half-made container, as LXC does when it next sees it."""
    from lxcz import log

    marker = os.path.join(c.path, "partial")
    if not os.path.isfile(marker) or os.path.islink(c.path):
        return
    try:
        fd = os.open(marker, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise LxczError("Container is being created by another process") from None
    os.close(fd)
    log.log.warning("removing %s, left half-made by an interrupted lxc-create", c.path)
    try:
        with open(os.path.join(c.path, "config")) as f:
            spec = _raw_rootfs(f.read().splitlines()) or ""
    except OSError:
        spec = ""
    rootfs = dirstore.rootfs_dir(spec)
    if rootfs and not _inside(rootfs, c.path) and os.path.isdir(rootfs):
        log.log.warning("its rootfs %s is outside %s: left in place", rootfs, c.path)
    _remove_dir(c.path, _saved_maps(c))


def _remove_marker(path: str, fd: Optional[int]) -> None:
    if fd is not None:
        os.close(fd)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def create(c: Container, template: Optional[str] = None, flags: int = 0,
           args: Sequence[str] = (), bdevtype: Optional[str] = None,
           **options: Any) -> bool:
    """Create container ``c``; see the module docstring. Options: ``configfile`` (the
    initial configuration instead of lxc.default_config) and ``dir`` (the rootfs
    directory for the dir store)."""
    from lxcz.storage import templates

    quiet = bool(flags & LXC_CREATE_QUIET) or bool(options.get("quiet"))
    if bdevtype in (None, "", "none", "_unset"):
        bdevtype = "dir"
    if bdevtype not in KNOWN_STORES + ("best",):
        raise LxczError(f"{bdevtype} is not a valid backing storage type")
    if bdevtype in ("nbd", "rbd"):
        raise NotImplementedYet(f"backing store '{bdevtype}' not implemented in lxcz yet")
    store_opts = _store_options(options)
    rootdir_opt = options.get("dir")
    if rootdir_opt and bdevtype != "dir":
        raise LxczError("--dir is only valid with the dir backing store")
    if rootdir_opt and not os.path.isabs(rootdir_opt):
        raise LxczError("--dir should use absolute path")

    tpath = templates.find(template) if template else None
    _clear_stale_partial(c)
    if c.defined:
        raise LxczError("Container already exists")

    configfile = options.get("configfile")
    source = configfile or default_config_path()
    text = ""
    in_memory = getattr(c, "_config", None)
    if not configfile and in_memory is not None and in_memory.items():
        # python3-lxc style: c.set_config_item(...) then c.create(...) uses that config
        source = None
        text = in_memory.text()
    if source:
        try:
            with open(source) as f:
                text = f.read()
        except FileNotFoundError:
            if configfile:
                raise LxczError(f"configuration file {source} not found") from None
        except OSError as err:
            raise LxczError(f"cannot read configuration file {source}: {err.strerror}") \
                from None
    lines = initial_config_lines(text)
    given_rootfs = _raw_rootfs(lines)

    if source is None and in_memory is not None:
        maps = _config_maps(in_memory)
    elif source and ("id_map" in text or "idmap" in text or "include" in text):
        maps = _config_maps(_load_quietly(source))
    else:
        maps = []
    _check_maps(maps, bool(tpath), bool(tpath) and not given_rootfs)
    if tpath:
        templates.check_args(tpath, args)

    lxcpath = c.config_path
    cpath = c.path
    made: List[str] = []  # what to remove on failure, deepest last
    made_store = ""  # lxc.rootfs.path of a store made here (destroyed on failure)
    mounted_at: Optional[str] = None  # where it is mounted while the template runs
    marker_fd: Optional[int] = None
    marker = os.path.join(cpath, "partial")
    try:
        if not os.path.isdir(lxcpath):
            try:
                os.makedirs(lxcpath, 0o755)
            except OSError as err:
                raise LxczError(f"cannot create lxcpath {lxcpath}: {err.strerror}") from None
        try:
            os.mkdir(cpath, 0o770)
            made.append(cpath)
            os.chmod(cpath, 0o770)
        except FileExistsError:
            if os.path.islink(cpath) or not os.path.isdir(cpath):
                raise LxczError(f"{cpath} exists and is not a directory") from None
        except OSError as err:
            raise LxczError(f"cannot create {cpath}: {err.strerror}") from None
        if maps:
            from lxcz.security import userns_exec

            userns_exec.chown_mapped_root(cpath, maps)
        marker_fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                            0o600)
        fcntl.lockf(marker_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

        rootfs = None
        if given_rootfs:
            rootfs = dirstore.rootfs_dir(given_rootfs)
            if rootfs is None or not os.path.exists(rootfs):
                raise LxczError(f"the rootfs {given_rootfs} does not exist")
        elif tpath and bdevtype in ("overlay", "overlayfs"):
            # as LXC 5: the template fills the lower directory, the upper starts empty
            rootfs = os.path.join(cpath, "rootfs")
            upper = os.path.join(cpath, "overlay", "delta")
            for d in (rootfs, os.path.dirname(upper), upper):
                os.mkdir(d, 0o755)
                made.append(d)
            lines.append(f"lxc.rootfs.path = overlay:{rootfs}:{upper}")
            if maps:
                from lxcz.security import userns_exec

                for d in (rootfs, upper):
                    userns_exec.chown_mapped_root(d, maps)
        elif tpath and bdevtype in ("best", "btrfs", "loop", "lvm", "zfs"):
            if maps and os.geteuid() != 0 and bdevtype not in ("best", "btrfs"):
                raise LxczError(f"an unprivileged user cannot create a {bdevtype} store")
            from lxcz.storage import bdev

            kind = _best_store(lxcpath, store_opts) if bdevtype == "best" else bdevtype
            if kind == "dir":
                rootfs = os.path.join(cpath, "rootfs")
                lines.append("lxc.rootfs.path = " + dirstore.create(rootfs))
                made.append(rootfs)
            else:
                store = bdev.get_store(kind)
                store_value = store.create(cpath, c.name, store_opts)
                made_store = store_value
                lines.append("lxc.rootfs.path = " + store_value)
                rootfs = os.path.join(cpath, "rootfs")
                os.makedirs(rootfs, 0o755, exist_ok=True)
                if rootfs not in made:
                    made.append(rootfs)
                mounted = store.mount(store_value, rootfs)
                mounted_at = rootfs if mounted == rootfs else None
                rootfs = mounted or rootfs
            if maps:
                from lxcz.security import userns_exec

                userns_exec.chown_mapped_root(rootfs, maps)
        elif tpath:
            rootfs = rootdir_opt or os.path.join(cpath, "rootfs")
            existed = os.path.exists(rootfs)
            lines.append("lxc.rootfs.path = " + dirstore.create(rootfs))
            if not existed:
                made.append(rootfs)
                if maps:
                    from lxcz.security import userns_exec

                    userns_exec.chown_mapped_root(rootfs, maps)

        config = os.path.join(cpath, "config")
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        made.append(config)
        with os.fdopen(fd, "w") as f:
            f.write("".join(line + "\n" for line in lines))

        if tpath:
            templates.run(tpath, cpath, c.name, rootfs or "", args, quiet, maps)
        if mounted_at:
            bdev.get_store(bdev.store_type(made_store)).umount(mounted_at)
            mounted_at = None

        if tpath:
            with open(config) as f:
                body = f.read()
            header = (f"# Template used to create this container: "
                      f"{templates.header_name(template or '', tpath)}\n"
                      f"# Parameters passed to the template:"
                      + "".join(" " + a for a in args) + "\n"
                      "# For additional config options, please look at "
                      "lxc.container.conf(5)\n\n"
                      "# Uncomment the following line to support nesting containers:\n"
                      "#lxc.include = /usr/share/lxc/config/nesting.conf\n"
                      "# (Be aware this has security implications)\n\n")
            tmp = config + ".new"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            with os.fdopen(fd, "w") as f:
                f.write(header + body)
            os.rename(tmp, config)
        _load_check(config)
    except BaseException:
        if mounted_at or made_store:
            from lxcz.storage import bdev

            store = bdev.get_store(bdev.store_type(made_store))
            if mounted_at:
                try:
                    store.umount(mounted_at)
                except (OSError, LxczError):
                    pass
            try:
                store.destroy(made_store)
            except (OSError, LxczError):
                pass
        _undo([p for p in made if p != cpath], maps)
        if marker_fd is not None:
            _remove_marker(marker, marker_fd)
        if cpath in made:
            _undo([cpath], maps)
        raise
    _remove_marker(marker, marker_fd)
    c._config = None  # the facade reloads the finished file on next use
    return True


def _store_options(options: Dict[str, Any]) -> Any:
    """lxc-create's --fssize/--fstype/--vgname/--lvname/--thinpool/--zfsroot."""
    from lxcz.storage.bdev import StoreOptions, parse_size

    size = options.get("fssize")
    fstype = options.get("fstype") or ""
    if fstype:
        from lxcz.storage.bdev.loop import check_fstype

        check_fstype(fstype)
    return StoreOptions(fssize=parse_size(size) if size else 0, fstype=fstype,
                        vgname=options.get("vgname") or "",
                        lvname=options.get("lvname") or "",
                        thinpool=options.get("thinpool") or "",
                        zfsroot=options.get("zfsroot") or "")


def _best_store(lxcpath: str, opts: Any) -> str:
    """-B best, as LXC 5 chooses: btrfs when the lxcpath is on btrfs, else a zfs root or an
    LVM volume group when one exists, else dir."""
    from lxcz.storage.bdev import btrfs, lvm

    if btrfs.fs_type(lxcpath) == "btrfs":
        return "btrfs"
    import shutil

    if shutil.which("zfs"):
        from lxcz.storage.bdev import run, zfs

        try:
            run(["zfs", "list", "-H", zfs._root(opts)], "zfs list")
            return "zfs"
        except LxczError:
            pass
    if shutil.which("vgs"):
        vg, _thin = lvm._defaults(opts)
        if lvm._vg_exists(vg):
            return "lvm"
    return "dir"


def _undo(made: Sequence[str], maps: Sequence[Any] = ()) -> None:
    for path in reversed(list(made)):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                _remove_dir(path, maps)
            else:
                os.unlink(path)
        except (OSError, LxczError):
            pass


def _inside(path: str, parent: str) -> bool:
    path = os.path.realpath(path)
    parent = os.path.realpath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _is_running(c: Container) -> bool:
    from lxcz.runtime import client

    return client.is_running(c)


def destroy(c: Container, force: bool = False) -> bool:
    """Remove container ``c``: its directory, and its rootfs.

    A running container is refused unless ``force``, which stops it first; so is one with
    snapshots (``Container.destroy(with_snapshots=True)`` removes those first, and refuses
    a base that snapshot clones depend on). The container directory must be a real
    directory directly inside the lxcpath. A ``dir`` rootfs is removed only when it is
    inside the container directory (never following symlinks nor crossing mounts); one
    elsewhere is left in place and logged. Other stores (overlay, loop, btrfs, lvm, zfs)
    are removed by their ``lxcz.storage.bdev`` module.
    """

    cpath = c.path
    if not c.defined:
        raise LxczError("Container is not defined")
    if os.path.islink(cpath) or os.path.realpath(os.path.dirname(cpath)) != \
            os.path.realpath(c.config_path) or not _inside(cpath, c.config_path):
        raise LxczError(f"refusing to destroy {cpath}: it is not a directory inside the "
                        f"lxcpath {c.config_path}")
    snaps = os.path.join(cpath, "snaps")
    if os.path.isdir(snaps) and not os.path.islink(snaps) and os.listdir(snaps):
        raise LxczError(f"{c.name} has snapshots: destroy them first, or use "
                        "lxc-destroy -s to destroy them with it")
    if _is_running(c):
        if not force:
            raise LxczError(f"{c.name} is running")
        c.stop()
    from lxcz.runtime.lock import container_lock

    # like LXC: no start (or other change) of this container while it is being removed
    with container_lock(c.config_path, c.name):
        if _is_running(c):
            raise LxczError(f"{c.name} is running")
        return _destroy_stopped(c, cpath)


def _destroy_stopped(c: Container, cpath: str) -> bool:
    from lxcz import log

    busy = dirstore.mounts_below(cpath)
    if busy:
        raise LxczError(f"{busy[0]} is a mount point; unmount it first")
    maps = _config_maps(c.config) if os.geteuid() != 0 else []
    if maps:
        from lxcz.security import idmap, userns_exec

        # before anything is removed: a map the caller may not use fails here, whole
        idmap.check_allowed(userns_exec.add_caller(maps)[0])
    rootfs_spec = c.get_config_item("lxc.rootfs.path") or ""
    rootfs = dirstore.rootfs_dir(rootfs_spec)
    if rootfs and os.path.exists(rootfs) and not _inside(rootfs, cpath):
        log.log.warning("rootfs %s is outside %s: left in place", rootfs, cpath)
    elif rootfs_spec and rootfs is None:
        from lxcz.storage import bdev

        bdev.for_value(rootfs_spec).destroy(rootfs_spec)
    # config first: a half-removed container is then no longer "defined"
    try:
        os.unlink(os.path.join(cpath, "config"))
    except FileNotFoundError:
        pass
    _remove_dir(cpath, maps)
    c._config = None
    return True


def _not_yet(what: str) -> NotImplementedYet:
    return NotImplementedYet(f"{what} not implemented in lxcz yet")


def clone(c: Container, newname: str, config_path: Optional[str] = None, flags: int = 0,
          bdevtype: Optional[str] = None, bdevdata: Optional[str] = None, newsize: int = 0,
          hookargs: Sequence[str] = ()) -> Container:
    raise _not_yet("clone")


def rename(c: Container, new_name: str) -> bool:
    raise _not_yet("rename")


def snapshot(c: Container, comment_path: Optional[str] = None) -> str:
    raise _not_yet("snapshot")


def snapshot_list(c: Container) -> List[tuple]:
    raise _not_yet("snapshot list")


def snapshot_restore(c: Container, name: str, newname: Optional[str] = None) -> bool:
    raise _not_yet("snapshot restore")


def snapshot_destroy(c: Container, name: str) -> bool:
    raise _not_yet("snapshot destroy")

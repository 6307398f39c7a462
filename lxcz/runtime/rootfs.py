"""The container's filesystem: rootfs bind, mount entries, lxc.mount.auto, pivot_root.

Mount targets are resolved inside the rootfs one component at a time with O_NOFOLLOW:
a target that is, or passes through, a symlink is refused, and directories or files asked
for with create=dir/create=file are made only inside the rootfs, never through a link.
The mount then goes onto /proc/self/fd/N of the resolved descriptor, so nothing can swap
the path between the check and the mount.
"""

from __future__ import annotations

import errno
import os
import stat

from lxcz.errors import LxczError
from lxcz.sys import calls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

MOUNT_FLAGS = {
    "defaults": (0, False), "ro": (calls.MS_RDONLY, False), "rw": (calls.MS_RDONLY, True),
    "nosuid": (calls.MS_NOSUID, False), "suid": (calls.MS_NOSUID, True),
    "nodev": (calls.MS_NODEV, False), "dev": (calls.MS_NODEV, True),
    "noexec": (calls.MS_NOEXEC, False), "exec": (calls.MS_NOEXEC, True),
    "sync": (calls.MS_SYNCHRONOUS, False), "async": (calls.MS_SYNCHRONOUS, True),
    "dirsync": (calls.MS_DIRSYNC, False), "remount": (calls.MS_REMOUNT, False),
    "mand": (calls.MS_MANDLOCK, False), "nomand": (calls.MS_MANDLOCK, True),
    "noatime": (calls.MS_NOATIME, False), "atime": (calls.MS_NOATIME, True),
    "nodiratime": (calls.MS_NODIRATIME, False), "diratime": (calls.MS_NODIRATIME, True),
    "bind": (calls.MS_BIND, False), "rbind": (calls.MS_BIND | calls.MS_REC, False),
    "relatime": (calls.MS_RELATIME, False), "norelatime": (calls.MS_RELATIME, True),
    "strictatime": (calls.MS_STRICTATIME, False), "lazytime": (calls.MS_LAZYTIME, False),
}
PROPAGATION = {
    "private": calls.MS_PRIVATE, "rprivate": calls.MS_PRIVATE | calls.MS_REC,
    "slave": calls.MS_SLAVE, "rslave": calls.MS_SLAVE | calls.MS_REC,
    "shared": calls.MS_SHARED, "rshared": calls.MS_SHARED | calls.MS_REC,
    "unbindable": calls.MS_UNBINDABLE, "runbindable": calls.MS_UNBINDABLE | calls.MS_REC,
}
LXC_OPTIONS = ("optional", "create=dir", "create=file")


def parse_options(text: str) -> Tuple[int, int, List[str], List[str]]:
    """(flags, propagation flags, data options, lxc options) from a mount options field."""
    flags = prop = 0
    data: List[str] = []
    lxc: List[str] = []
    for opt in (text or "defaults").split(","):
        opt = opt.strip()
        if not opt:
            continue
        if opt in LXC_OPTIONS or opt.startswith("create="):
            lxc.append(opt)
        elif opt in MOUNT_FLAGS:
            bit, clear = MOUNT_FLAGS[opt]
            flags = (flags & ~bit) if clear else (flags | bit)
        elif opt in PROPAGATION:
            prop |= PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, prop, data, lxc


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def resolve(rootfd: int, relpath: str, create: Optional[str] = None,
            what: str = "mount target") -> int:
    """Open relpath under the directory rootfd without following any symlink or leaving
    the tree. create="dir" or "file" makes missing parts (directories on the way, the
    last component as asked). Returns an O_PATH descriptor; LxczError on refusal."""
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LxczError(f"{what} '{relpath}' contains '..'")
    cur = os.dup(rootfd)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                nxt = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
            except FileNotFoundError:
                if create is None:
                    raise LxczError(f"{what} '{relpath}' does not exist in the rootfs"
                                    ) from None
                if last and create == "file":
                    fd = os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, 0o644, dir_fd=cur)
                    os.close(fd)
                else:
                    os.mkdir(part, 0o755, dir_fd=cur)
                nxt = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
            st = os.fstat(nxt)
            if stat.S_ISLNK(st.st_mode):
                os.close(nxt)
                raise LxczError(f"{what} '{relpath}' is or passes through a symbolic link "
                                f"('{'/'.join(parts[:i + 1])}'), refusing to follow it")
            if not last and not stat.S_ISDIR(st.st_mode):
                os.close(nxt)
                raise LxczError(f"{what} '{relpath}': '{'/'.join(parts[:i + 1])}' is not "
                                "a directory")
            os.close(cur)
            cur = nxt
        return cur
    except LxczError:
        os.close(cur)
        raise
    except OSError as err:
        os.close(cur)
        raise LxczError(f"{what} '{relpath}': {err.strerror}") from None


def rel_target(target: str, rootfs: str, rootfs_mount: str) -> str:
    """A mount entry's target relative to the rootfs (LXC accepts host paths under it)."""
    for base in (rootfs_mount, rootfs):
        if base and base != "/" and (target == base or target.startswith(base.rstrip("/") + "/")):
            return target[len(base):].lstrip("/")
    return target.lstrip("/")


def mount_entry(line: str, rootfd: int, rootfs: str, rootfs_mount: str,
                where: str = "lxc.mount.entry") -> None:
    """Apply one fstab-format line (source target fstype options [dump pass])."""
    fields = line.split()
    if len(fields) < 4:
        if len(fields) == 3:
            fields.append("defaults")
        else:
            raise LxczError(f"{where}: invalid mount entry '{line}'")
    source, target, fstype, options = fields[:4]
    source = source.replace("\\040", " ")
    target = target.replace("\\040", " ")
    flags, prop, data, lxc = parse_options(options)
    optional = "optional" in lxc
    create = None
    for o in lxc:
        if o.startswith("create="):
            create = o[len("create="):]
    if create not in (None, "dir", "file"):
        raise LxczError(f"{where}: invalid option create={create}")
    rel = rel_target(target, rootfs, rootfs_mount)
    try:
        fd = resolve(rootfd, rel, create, what="mount target")
    except LxczError:
        if optional:
            return
        raise
    try:
        dest = fd_path(fd)
        bind = bool(flags & calls.MS_BIND)
        try:
            if flags & calls.MS_REMOUNT and not bind:
                calls.mount(None, dest, None, flags, ",".join(data) or None)
            else:
                calls.mount(source, dest, None if bind else fstype,
                            flags & ~(calls.MS_RDONLY if bind else 0) & ~calls.MS_REMOUNT,
                            ",".join(data) or None)
                if bind and (flags & (calls.MS_RDONLY | calls.MS_NOSUID | calls.MS_NODEV
                                      | calls.MS_NOEXEC)):
                    # bind mounts ignore these until a remount; the new mount sits on top
                    # of the descriptor's dentry, reach it through the path again
                    top = resolve(rootfd, rel, None)
                    try:
                        calls.mount(None, fd_path(top), None,
                                    calls.MS_REMOUNT | calls.MS_BIND | (flags & ~calls.MS_REC),
                                    None)
                    finally:
                        os.close(top)
            if prop:
                top = resolve(rootfd, rel, None)
                try:
                    calls.mount(None, fd_path(top), None, prop, None)
                finally:
                    os.close(top)
        except OSError as err:
            if optional:
                return
            raise LxczError(f"{where}: failed to mount '{source}' on '{target}': "
                            f"{os.strerror(err.errno or 0)}") from None
    finally:
        os.close(fd)


def fstab_lines(path: str) -> List[str]:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as err:
        raise LxczError(f"lxc.mount.fstab: cannot read '{path}': {err.strerror}") from None
    return [ln for ln in (x.strip() for x in text.splitlines()) if ln and not ln.startswith("#")]


def _mount_at(rootfd: int, rel: str, source: Optional[str], fstype: Optional[str],
              flags: int, data: Optional[str] = None, optional: bool = False) -> None:
    try:
        fd = resolve(rootfd, rel, "dir", what="mount target")
    except LxczError:
        if optional:
            return
        raise
    try:
        calls.mount(source, fd_path(fd), fstype, flags, data)
    except OSError as err:
        if not optional:
            raise LxczError(f"failed to mount {fstype or source} on /{rel}: "
                            f"{os.strerror(err.errno or 0)}") from None
    finally:
        os.close(fd)


def _remount_bind(rootfd: int, rel: str, flags: int, optional: bool = True) -> None:
    """Bind rel onto itself and remount it with flags (how a subtree becomes read-only)."""
    try:
        fd = resolve(rootfd, rel, None)
    except LxczError:
        if optional:
            return
        raise
    try:
        calls.mount(fd_path(fd), fd_path(fd), None, calls.MS_BIND | calls.MS_REC, None)
        top = resolve(rootfd, rel, None)
        try:
            calls.mount(None, fd_path(top), None, calls.MS_REMOUNT | calls.MS_BIND | flags,
                        None)
        finally:
            os.close(top)
    except OSError as err:
        if not optional:
            raise LxczError(f"failed to remount /{rel}: {os.strerror(err.errno or 0)}"
                            ) from None
    finally:
        os.close(fd)


NOSUID_NODEV_NOEXEC = calls.MS_NOSUID | calls.MS_NODEV | calls.MS_NOEXEC


def mount_auto(words: List[str], rootfd: int, has_netns: bool = True,
               cgroups: Optional[bool] = None) -> None:
    """lxc.mount.auto: proc, sys and cgroup in LXC's variants. cgroups: False for proc and
    sys only, True for the cgroups only (LXC mounts those after the mount entries, which
    may have mounted /sys), None for all."""
    ws = set(words)
    if cgroups is True:
        words = [w for w in words if w.startswith("cgroup")]
    elif cgroups is False:
        words = [w for w in words if not w.startswith("cgroup")]
    proc = next((w for w in words if w.startswith("proc")), None)
    if proc:
        _mount_at(rootfd, "proc", "proc", "proc", NOSUID_NODEV_NOEXEC)
        if proc in ("proc", "proc:mixed"):
            _remount_bind(rootfd, "proc/sys", NOSUID_NODEV_NOEXEC | calls.MS_RDONLY)
            if has_netns:
                _remount_bind(rootfd, "proc/sys/net", NOSUID_NODEV_NOEXEC)
            _remount_bind(rootfd, "proc/sysrq-trigger", NOSUID_NODEV_NOEXEC | calls.MS_RDONLY)
    sysw = next((w for w in words if w.startswith("sys")), None)
    if sysw:
        ro = sysw in ("sys", "sys:mixed", "sys:ro")
        _mount_at(rootfd, "sys", "sysfs", "sysfs",
                  NOSUID_NODEV_NOEXEC | (calls.MS_RDONLY if sysw == "sys:ro" else 0))
        if sysw in ("sys", "sys:mixed"):
            _remount_bind(rootfd, "sys", NOSUID_NODEV_NOEXEC | calls.MS_RDONLY)
            if has_netns:
                _remount_bind(rootfd, "sys/devices/virtual/net", NOSUID_NODEV_NOEXEC)
        del ro
    for w in words:
        if not w.startswith(("proc", "sys", "cgroup")):
            raise LxczError(f"lxc.mount.auto: '{w}' is not supported by lxcz yet")
    cg2 = next((w for w in words if w.startswith("cgroup2")), None)
    cg = next((w for w in words if w.startswith("cgroup") and not w.startswith("cgroup2")),
              None)
    if cg2 and not cg:
        _mount_at(rootfd, "sys/fs/cgroup", "cgroup2", "cgroup2",
                  NOSUID_NODEV_NOEXEC | (calls.MS_RDONLY if ":ro" in cg2 else 0))
    elif cg:
        mount_cgroups(rootfd, cg, "cgroup-full" in cg, ws)


def host_cgroup_mounts() -> List[Tuple[str, str, str]]:
    """(fstype, mount point, super options) of the host's cgroup mounts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            a = pre.split()
            b = post.split()
            if len(b) >= 3 and b[0] in ("cgroup", "cgroup2"):
                out.append((b[0], a[4], b[2]))
    return out


def mount_cgroups(rootfd: int, word: str, full: bool, words: set) -> None:
    """Mount the cgroup hierarchies under /sys/fs/cgroup, rooted at the container's own
    cgroup (the caller is already in its cgroup namespace)."""
    mode = word.split(":")[1] if ":" in word else "mixed"
    ro = mode == "ro"
    base = "/sys/fs/cgroup"
    layout = [(t, mp, o) for t, mp, o in host_cgroup_mounts()
              if mp == base or mp.startswith(base + "/")]
    if not layout:
        return
    only_v2 = len(layout) == 1 and layout[0][0] == "cgroup2" and layout[0][1] == base
    if only_v2:
        _mount_at(rootfd, "sys/fs/cgroup", "cgroup2", "cgroup2",
                  NOSUID_NODEV_NOEXEC | (calls.MS_RDONLY if ro else 0))
        return
    _mount_at(rootfd, "sys/fs/cgroup", "tmpfs", "tmpfs", NOSUID_NODEV_NOEXEC,
              "size=10240k,mode=755")
    for fstype, mp, opts in layout:
        rel = mp[1:]
        keep = [o for o in opts.split(",") if o not in ("rw", "ro")]
        data = ",".join(keep) if fstype == "cgroup" else None
        _mount_at(rootfd, rel, fstype, fstype,
                  NOSUID_NODEV_NOEXEC | (calls.MS_RDONLY if ro else 0), data, optional=True)
    # the tmpfs itself stays read-only in every variant, as LXC does
    _remount_bind(rootfd, "sys/fs/cgroup", NOSUID_NODEV_NOEXEC | calls.MS_RDONLY)


def pivot(root: str) -> None:
    """pivot_root into root and drop the old root."""
    os.chdir(root)
    calls.pivot_root(".", ".")
    calls.umount2(".", calls.MNT_DETACH)
    os.chdir("/")


def rootfs_source(value: Any) -> Tuple[str, str]:
    """(backing store type, path) from lxc.rootfs.path ("dir:/x", "/x", "overlay:...")."""
    text = str(value or "")
    if ":" in text and not text.startswith("/"):
        kind, _, rest = text.partition(":")
        return kind, rest
    return "dir", text


def check_errno_exist(err: OSError) -> bool:
    return err.errno == errno.EEXIST

"""Running work inside a user namespace built from an id map, for storage and templates.

LXC does three things on disk as "root of the container" rather than as the caller:
chowning the container directory and rootfs to the container's root (chown_mapped_root),
running templates (under lxc-usernsexec) and removing an unprivileged container's tree.
This module gives the same three, without exec'ing a helper:

- ``run_in_userns(maps, fn, *args, mounts=False) -> int``: fork; the child unshares its
  user namespace (and mount namespace with ``mounts``, whose tree it then makes a slave
  of the host's) and waits while the parent writes ``maps`` (``lxcz.security.idmap``:
  straight into /proc as root, through newuidmap/newgidmap otherwise); the child then
  drops its supplementary groups where the kernel lets it, becomes uid 0 / gid 0 of the
  namespace, calls ``fn(*args)`` and exits with its return value (None is 0). An
  exception in the child (``LxczError``, ``OSError``, anything else) comes back to the
  parent as one ``LxczError`` line, as does a failure to create the namespace or write
  the maps. ``maps`` must map uid 0 and gid 0.
- ``add_caller(maps) -> (maps, nsuid, nsgid)``: ``maps`` plus the caller's own uid and gid
  at the first namespace ids no entry uses, when its maps do not already hold them (what
  LXC adds before running a template; ``nsuid``/``nsgid`` are the values of its
  ``--mapped-uid``/``--mapped-gid`` template arguments).
- ``chown_mapped_root(path, maps)``: make ``path`` (not followed when a symlink) belong to
  the host ids of the container's root. As root a plain lchown to both. Otherwise, unless
  the caller already is the container's root: a file the caller owns whose group the
  container does not map is first given the caller's group, then, in a namespace mapping
  only root (to its host ids) and the caller's own uid and gid, it is chowned to uid 0
  keeping that group: on the host it is the container root's uid and the caller's gid,
  so a 0770 directory stays usable by the caller through its group.
- ``remove_tree_mapped(path, maps)``: ``lxcz.storage.dirstore.remove_tree`` as root, or
  for another caller inside a namespace with the container's maps plus the caller's ids,
  where it may remove files owned by any id the container maps.

Non-root callers must have the ranges in /etc/subuid and /etc/subgid:
``idmap.check_allowed`` runs first, so the error names the user and the file.
"""

from __future__ import annotations

import os
import sys

from lxcz.errors import LxczError
from lxcz.security import idmap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Sequence, Tuple

    from lxcz.security.idmap import IdMap

_ERR_MAX = 4000  # bytes of the child's error text the parent reads back


def _maps(maps: Sequence[Any]) -> List[IdMap]:
    """IdMap entries from IdMaps, lxc.idmap strings or (kind, nsid, hostid, count)."""
    out = []
    raw = []
    for m in maps:
        if isinstance(m, idmap.IdMap):
            out.append(m)
        else:
            raw.append(m)
    if raw:
        out += idmap.parse(raw)
    idmap.check(out)
    return out


def first_free_nsid(maps: Sequence[IdMap], kind: str) -> int:
    """The lowest namespace id of ``kind`` that no entry maps (LXC's find_unmapped_nsid)."""
    free = 0
    moved = True
    while moved:
        moved = False
        for m in maps:
            if m.kind == kind and m.nsid <= free < m.nsid + m.count:
                free = m.nsid + m.count
                moved = True
    return free


def _ns_id(maps: Sequence[IdMap], kind: str, hostid: int) -> Optional[int]:
    """The namespace id ``hostid`` appears as, or None (LXC's mapped_hostid)."""
    for m in maps:
        if m.kind == kind and m.hostid <= hostid < m.hostid + m.count:
            return m.nsid + hostid - m.hostid
    return None


def add_caller(maps: Sequence[Any], uid: Optional[int] = None,
               gid: Optional[int] = None) -> Tuple[List[IdMap], int, int]:
    """``maps`` with the caller's uid and gid added where unmapped; see the docstring."""
    out = _maps(maps)
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    nsids = []
    for kind, own in (("u", uid), ("g", gid)):
        nsid = _ns_id(out, kind, own)
        if nsid is None:
            nsid = first_free_nsid(out, kind)
            if nsid + 1 > idmap.ID_LIMIT:
                raise LxczError(f"no free {'uid' if kind == 'u' else 'gid'} in the "
                                f"namespace to map {own} to")
            out.append(idmap.IdMap(kind, nsid, own, 1))
        nsids.append(nsid)
    idmap.check(out)
    return out, nsids[0], nsids[1]


# -- the fork ----------------------------------------------------------------------------

def _report(fd: int, text: str) -> None:
    data = " ".join(text.split()).encode(errors="replace")[:_ERR_MAX]
    try:
        os.write(fd, data)
    except OSError:
        pass


def _describe(err: BaseException) -> str:
    if isinstance(err, LxczError):
        return str(err)
    if isinstance(err, OSError):
        what = err.filename if err.filename is not None else ""
        why = err.strerror or str(err)
        return f"{what}: {why}" if what else why
    return str(err) or type(err).__name__


def _child(fn: Callable[..., Any], args: Sequence[Any], mounts: bool, ready_w: int,
           go_r: int, err_w: int) -> None:  # pragma: no cover - runs in the forked child
    """In the forked child: never returns."""
    code = 1
    try:
        from lxcz.sys import calls  # already imported by the parent

        try:
            calls.unshare(calls.CLONE_NEWUSER | (calls.CLONE_NEWNS if mounts else 0))
        except OSError as e:
            raise LxczError(f"cannot create a user namespace: {e.strerror or e}") from None
        calls.wait_for_maps(ready_w, go_r)
        try:
            calls.become_userns_root()
        except OSError as e:
            raise LxczError("cannot become root in the user namespace: "
                            f"{e.strerror}") from None
        if mounts:
            try:
                calls.mount(None, "/", None, calls.MS_SLAVE | calls.MS_REC)
            except OSError:
                pass
        rc = fn(*args)
        code = rc if isinstance(rc, int) and not isinstance(rc, bool) else 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except LxczError as e:
        _report(err_w, _describe(e))
        code = e.exit_code or 1
    except BaseException as e:  # noqa: BLE001 - the child must never return to the caller
        _report(err_w, _describe(e))
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(code & 0xFF)


def _wait(pid: int) -> int:
    interrupted = False
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except KeyboardInterrupt:
            interrupted = True  # the child got the same SIGINT; wait for it to end
    if interrupted:
        raise KeyboardInterrupt
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks).decode(errors="replace").strip()


def run_in_userns(maps: Sequence[Any], fn: Callable[..., Any], *args: Any,
                  mounts: bool = False) -> int:
    """Run ``fn(*args)`` as root of a new user namespace; see the module docstring."""
    from lxcz.sys import calls  # noqa: F401 - imported before the fork, not in the child

    maps = _maps(maps)
    idmap.root_ids(maps)
    idmap.check_allowed(maps)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(ready_r)
        os.close(go_w)
        os.close(err_r)
        _child(fn, args, mounts, ready_w, go_r, err_w)
    os.close(ready_w)
    os.close(go_r)
    os.close(err_w)
    try:
        try:
            ready = os.read(ready_r, 1) == b"1"
            if ready:
                try:
                    idmap.write_maps(pid, maps)
                except BaseException:
                    os.write(go_w, b"0")
                    os.close(go_w)
                    go_w = -1
                    _wait(pid)
                    raise
                os.write(go_w, b"1")
        finally:
            os.close(ready_r)
            if go_w >= 0:
                os.close(go_w)
        code = _wait(pid)
        err = _read_all(err_r)
    finally:
        os.close(err_r)
    if err:
        raise LxczError(err, exit_code=code or 1)
    if not ready:
        raise LxczError("cannot create a user namespace (the child died first)")
    return code


# -- the three storage operations --------------------------------------------------------

def _lchown(path: str, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)


def chown_mapped_root(path: str, maps: Sequence[Any]) -> None:
    """Give ``path`` to the container's root; see the module docstring."""
    maps = _maps(maps)
    rootuid, rootgid = idmap.root_ids(maps)
    euid, egid = os.geteuid(), os.getegid()
    if euid == 0:
        try:
            os.lchown(path, rootuid, rootgid)
        except OSError as e:
            raise LxczError(f"cannot chown {path} to {rootuid}:{rootgid}: "
                            f"{e.strerror}") from None
        return
    if euid == rootuid:
        return
    try:
        st = os.lstat(path)
        if st.st_uid == euid and _ns_id(maps, "g", st.st_gid) is None \
                and st.st_gid != egid:
            os.lchown(path, -1, egid)
            st = os.lstat(path)
    except OSError as e:
        raise LxczError(f"cannot chown {path}: {e.strerror}") from None
    gid_ns = 1 if egid == 0 else egid
    small = [idmap.IdMap("u", 0, rootuid, 1), idmap.IdMap("u", euid, euid, 1),
             idmap.IdMap("g", 0, rootgid, 1)]
    if egid != rootgid:
        small.append(idmap.IdMap("g", gid_ns, egid, 1))
    if st.st_gid == rootgid:
        target = 0
    elif st.st_gid == egid:
        target = gid_ns
    else:
        target = -1
    try:
        run_in_userns(small, _lchown, path, 0, target)
    except LxczError as e:
        raise LxczError(f"cannot chown {path} to the container's root ({rootuid}): "
                        f"{e}") from None


def _remove(path: str) -> None:
    from lxcz.storage import dirstore

    dirstore.remove_tree(path)


def remove_tree_mapped(path: str, maps: Sequence[Any]) -> None:
    """Remove the tree ``path`` as the container's root; see the module docstring."""
    from lxcz.storage import dirstore

    maps = _maps(maps) if maps else []
    if os.geteuid() == 0 or not maps:
        dirstore.remove_tree(path)
        return
    full, _, _ = add_caller(maps)
    run_in_userns(full, _remove, path)

"""User-namespace id maps: lxc.idmap lists, /etc/subuid ranges, writing uid_map/gid_map.

Public API (the runtime calls these; everything raises ``lxcz.errors.LxczError`` with a
one-line cause):

- ``parse(items) -> list[IdMap]``: every ``lxc.idmap`` value (``"u 0 100000 65536"``), an
  lxc-usernsexec ``-m`` word (``"b:0:100000:65536"``) or a tuple ``(kind, nsid, hostid,
  count)``; kind ``b`` gives one uid and one gid entry. Checks each entry (ids are 32-bit,
  count > 0, neither range may run past 4294967294 — the kernel refuses the wrap) and the
  whole list: no two uid (or gid) entries may overlap inside the namespace or on the host,
  at most 340 entries of a kind (the kernel's limit).
- ``check_allowed(maps, uid=None, gid=None, user=None)``: for a caller that is not root,
  every host range must be the caller's own id or lie inside one of the user's
  ``/etc/subuid`` (``/etc/subgid``) ranges, which is what newuidmap/newgidmap will
  accept. Call it in the parent before anything is started: "user NAME has no range in
  /etc/subuid" is the usual first error of an unprivileged setup.
- ``write_maps(pid, maps) -> None``: write the maps of process ``pid`` (which must have
  unshared its user namespace and be waiting). As root: straight into
  ``/proc/PID/uid_map`` and ``gid_map``. Not root: when the map is only the caller's own
  uid and gid (one id each), directly too, after ``deny`` in ``/proc/PID/setgroups`` (the
  kernel demands it); otherwise through ``newuidmap``/``newgidmap``, which must be on PATH
  and setuid root (or carry cap_setuid/cap_setgid). Their output is in the error.
- ``subid_ranges(user, path) -> list[(start, count)]``: a user's ranges in a subid file
  (lines ``NAME:START:COUNT`` or ``UID:START:COUNT``).
- ``default_maps(user=None) -> list[IdMap]``: lxc-usernsexec's default: the first
  /etc/subuid range at uid 0 and the first /etc/subgid range at gid 0.
- ``root_ids(maps) -> (uid, gid)``: host ids of root in the namespace (error if unmapped).
- ``host_id(maps, kind, nsid) -> int | None``: where a namespace id lands on the host.

Differences from LXC 5: LXC goes through newuidmap even as root when shadow's helpers are
installed (so root needs its own /etc/subuid entry); lxcz writes directly as root, which
the kernel allows for any map. LXC finds overlapping maps only when the kernel refuses the
write; lxcz refuses them when parsing, naming both entries.
"""

from __future__ import annotations

import os
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from lxcz.errors import LxczError

ID_LIMIT = 2 ** 32 - 1          # (u32)-1 is never a valid id; first + count must not wrap
MAX_EXTENTS = 340               # UID_GID_MAP_MAX_EXTENTS since Linux 4.15
SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"


class IdMap(NamedTuple):
    kind: str      # "u" or "g"
    nsid: int
    hostid: int
    count: int

    def __str__(self) -> str:
        return f"{self.kind} {self.nsid} {self.hostid} {self.count}"


Item = Union[str, Sequence]


def _num(text, whole: str, limit: int = ID_LIMIT - 1) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        n = text
    elif isinstance(text, str) and text.isdigit():
        n = int(text)
    else:
        raise LxczError(f'invalid id map "{whole}": "{text}" is not a number')
    if n > limit:
        raise LxczError(f'invalid id map "{whole}": {n} is too large '
                        f"(ids end at {ID_LIMIT - 1})")
    return n


def _split(item: Item) -> Tuple[str, List]:
    if isinstance(item, str):
        text = item.strip()
        parts = text.split(":") if ":" in text else text.split()
        return text, parts
    parts = list(item)
    return " ".join(str(p) for p in parts), parts


def parse(items: Iterable[Item]) -> List[IdMap]:
    """Parse and check a list of id maps; see the module docstring."""
    out: List[IdMap] = []
    for item in items:
        whole, parts = _split(item)
        if len(parts) != 4:
            raise LxczError(f'invalid id map "{whole}": expected "u|g|b NSID HOSTID COUNT"')
        kind = str(parts[0])
        if kind not in ("u", "g", "b"):
            raise LxczError(f'invalid id map "{whole}": type must be u, g or b')
        nsid, hostid = _num(parts[1], whole), _num(parts[2], whole)
        count = _num(parts[3], whole, ID_LIMIT)
        if count == 0:
            raise LxczError(f'invalid id map "{whole}": count must not be 0')
        for base, where in ((nsid, "namespace"), (hostid, "host")):
            if base + count > ID_LIMIT:
                raise LxczError(f'id map "{whole}" is too large: {where} ids {base}..'
                                f"{base + count - 1} run past {ID_LIMIT - 1}")
        for k in ("u", "g") if kind == "b" else (kind,):
            out.append(IdMap(k, nsid, hostid, count))
    check(out)
    return out


def _overlap(a0: int, an: int, b0: int, bn: int) -> bool:
    return a0 < b0 + bn and b0 < a0 + an


def check(maps: Sequence[IdMap]) -> None:
    """No overlaps within a kind, inside the namespace or on the host; extent limit."""
    for kind, word in (("u", "uid"), ("g", "gid")):
        mine = [m for m in maps if m.kind == kind]
        if len(mine) > MAX_EXTENTS:
            raise LxczError(f"too many {word} maps: {len(mine)} (the kernel takes at most "
                            f"{MAX_EXTENTS})")
        for i, a in enumerate(mine):
            for b in mine[i + 1:]:
                if _overlap(a.nsid, a.count, b.nsid, b.count):
                    raise LxczError(f'overlapping {word} maps "{a}" and "{b}": '
                                    "namespace ids overlap")
                if _overlap(a.hostid, a.count, b.hostid, b.count):
                    raise LxczError(f'overlapping {word} maps "{a}" and "{b}": '
                                    "host ids overlap")


def host_id(maps: Sequence[IdMap], kind: str, nsid: int) -> Optional[int]:
    for m in maps:
        if m.kind == kind and m.nsid <= nsid < m.nsid + m.count:
            return m.hostid + nsid - m.nsid
    return None


def root_ids(maps: Sequence[IdMap]) -> Tuple[int, int]:
    uid, gid = host_id(maps, "u", 0), host_id(maps, "g", 0)
    if uid is None:
        raise LxczError("no uid map for root (id 0) in the container")
    if gid is None:
        raise LxczError("no gid map for root (id 0) in the container")
    return uid, gid


# -- /etc/subuid, /etc/subgid ------------------------------------------------------------

def _user_name(uid: int) -> Optional[str]:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def subid_ranges(user: str, path: str, uid: Optional[int] = None) -> List[Tuple[int, int]]:
    """(start, count) ranges of ``user`` (or its numeric ``uid``) in a subid file."""
    names = {user}
    if uid is not None:
        names.add(str(uid))
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) != 3 or parts[0] not in names:
                    continue
                if parts[1].isdigit() and parts[2].isdigit() and int(parts[2]) > 0:
                    out.append((int(parts[1]), int(parts[2])))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise LxczError(f"cannot read {path}: {e.strerror}") from None
    return out


def default_maps(user: Optional[str] = None, subuid: str = SUBUID,
                 subgid: str = SUBGID) -> List[IdMap]:
    """The first subuid and first subgid range of ``user`` mapped at id 0."""
    uid = os.getuid()
    if user is None:
        user = _user_name(uid)
        if user is None:
            raise LxczError(f"no passwd entry for uid {uid}")
    maps = []
    for kind, path in (("u", subuid), ("g", subgid)):
        ranges = subid_ranges(user, path, uid)
        if not ranges:
            raise LxczError(f"user {user} has no range in {path}")
        maps.append(IdMap(kind, 0, ranges[0][0], ranges[0][1]))
    return maps


def check_allowed(maps: Sequence[IdMap], uid: Optional[int] = None,
                  gid: Optional[int] = None, user: Optional[str] = None,
                  subuid: str = SUBUID, subgid: str = SUBGID) -> None:
    """Refuse, before anything starts, maps an unprivileged caller cannot write."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    if uid == 0:
        return
    if user is None:
        user = _user_name(uid) or str(uid)
    for kind, path, own in (("u", subuid, uid), ("g", subgid, gid)):
        ranges: Optional[List[Tuple[int, int]]] = None
        for m in maps:
            if m.kind != kind or (m.count == 1 and m.hostid == own):
                continue
            if ranges is None:
                ranges = subid_ranges(user, path, uid)
            if not ranges:
                raise LxczError(f"user {user} has no range in {path} "
                                f'(needed for id map "{m}")')
            if not any(s <= m.hostid and m.hostid + m.count <= s + n for s, n in ranges):
                have = ", ".join(f"{s}-{s + n - 1}" for s, n in ranges)
                raise LxczError(f'id map "{m}" is outside the ranges {path} grants '
                                f"user {user} ({have})")


# -- writing ------------------------------------------------------------------------------

def _helper(name: str, cap: int) -> str:
    """Path of newuidmap/newgidmap if it can do its job, else LxczError."""
    import shutil
    import stat

    path = shutil.which(name, path=os.environ.get("PATH") or "/usr/bin:/bin")
    if path is None:
        for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
            if os.access(os.path.join(d, name), os.X_OK):
                path = os.path.join(d, name)
                break
    if path is None:
        raise LxczError(f"{name} not found: install the uidmap package (shadow's "
                        "newuidmap/newgidmap) to map ids as an unprivileged user")
    st = os.stat(path)
    if st.st_mode & stat.S_ISUID and st.st_uid == 0:
        return path
    if _file_has_cap(path, cap):
        return path
    raise LxczError(f"{path} is neither setuid root nor has cap_"
                    f"{'setuid' if cap == 7 else 'setgid'}: it cannot write id maps")


def _file_has_cap(path: str, cap: int) -> bool:
    """security.capability xattr: cap in both the permitted set and effective flag."""
    import struct

    try:
        raw = os.getxattr(path, "security.capability")
    except (OSError, AttributeError):
        return False
    if len(raw) < 12:
        return False
    magic, perm_lo, _inh_lo = struct.unpack_from("<III", raw)
    effective = magic & 1
    return bool(effective and (perm_lo >> cap) & 1)


def _write(path: str, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise LxczError(f"cannot open {path}: {e.strerror}") from None
    try:
        os.write(fd, text.encode())
    except OSError as e:
        raise LxczError(f'writing "{text.strip()}" to {path}: {e.strerror}') from None
    finally:
        os.close(fd)


def _only_self(maps: Sequence[IdMap], uid: int, gid: int) -> bool:
    for m in maps:
        own = uid if m.kind == "u" else gid
        if m.count != 1 or m.hostid != own:
            return False
    return True


def write_maps(pid: int, maps: Sequence[IdMap]) -> None:
    """Write uid_map and gid_map of ``pid``; see the module docstring."""
    maps = list(maps)
    if not os.path.isdir(f"/proc/{pid}"):
        raise LxczError(f"cannot write id maps: process {pid} does not exist")
    euid, egid = os.geteuid(), os.getegid()
    direct = euid == 0 or _only_self(maps, euid, egid)
    helpers = {}
    if not direct:
        helpers = {"u": _helper("newuidmap", 7), "g": _helper("newgidmap", 6)}
    for kind, word in (("u", "uid"), ("g", "gid")):
        mine = [m for m in maps if m.kind == kind]
        if not mine:
            continue
        if direct:
            if kind == "g" and euid != 0 and os.path.exists(f"/proc/{pid}/setgroups"):
                _write(f"/proc/{pid}/setgroups", "deny\n")
            _write(f"/proc/{pid}/{word}_map",
                   "".join(f"{m.nsid} {m.hostid} {m.count}\n" for m in mine))
            continue
        _run_helper(helpers[kind], pid, mine)


def _run_helper(path: str, pid: int, maps: Sequence[IdMap]) -> None:
    import subprocess

    argv = [path, str(pid)]
    for m in maps:
        argv += [str(m.nsid), str(m.hostid), str(m.count)]
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, close_fds=True, check=False)
    except OSError as e:
        raise LxczError(f"cannot run {path}: {e.strerror}") from None
    if res.returncode != 0:
        out = " ".join(res.stdout.decode(errors="replace").split())
        raise LxczError(f"{os.path.basename(path)} {' '.join(argv[1:])} failed"
                        + (f": {out}" if out else f" (exit {res.returncode})"))

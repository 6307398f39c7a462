"""The cgroup manager: one interface over cgroup v1, v2 and hybrid hosts.

``CgroupManager`` finds the mounted hierarchies and the base cgroup below which
containers go (PID 1's cgroup for root, the caller's own otherwise, as LXC 5 does),
creates the per-container cgroups with LXC 5's names (``lxc.payload.NAME``,
``lxc.monitor.NAME``, ``-1``, ``-2``... on collision) and finds them again by name.
``ContainerCgroup`` is one container's cgroup in every hierarchy: attach, limits,
freezer, pids, statistics and removal. See the package docstring for the contract.
"""

from __future__ import annotations

import _signal
import os
import time

from lxcz.cgroups import layout as L
from lxcz.cgroups.fs import RealFS
from lxcz.errors import LxczError
from lxcz.log import log

PREFIXES = {"payload": "lxc.payload.", "monitor": "lxc.monitor."}
PIVOT = "lxc.pivot"
MAX_RETRIES = 1000
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

    Limits = Union[None, Mapping[str, Any], Iterable[Tuple[str, Any]]]


def _strerror(err: OSError) -> str:
    return os.strerror(err.errno) if err.errno else str(err)


def check_key(key: str) -> None:
    """A cgroup key is one file name in the cgroup directory; nothing that walks."""
    if not key or key[0] in ".:-" or ".." in key or not _KEY_CHARS.issuperset(key):
        raise LxczError(f'invalid cgroup key "{key}"')


def _parse_cpulist(text: str) -> List[int]:
    cpus: List[int] = []
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.extend(range(int(lo), int(hi) + 1))
        else:
            cpus.append(int(part))
    return cpus


def _format_cpulist(cpus: Iterable[int]) -> str:
    out: List[str] = []
    run: List[int] = []
    for c in sorted(set(cpus)):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def _pairs(spec: Limits, prefix: str) -> List[Tuple[str, str]]:
    """Normalise limits given as a mapping (values may be lists) or (key, value) pairs;
    a leading ``lxc.cgroup.``/``lxc.cgroup2.`` on a key is dropped."""
    if not spec:
        return []
    items = spec.items() if hasattr(spec, "items") else spec  # a mapping, or pairs
    result: List[Tuple[str, str]] = []
    for key, value in items:
        if key.startswith(prefix):
            key = key[len(prefix):]
        values = value if isinstance(value, (list, tuple)) else [value]
        result.extend((key, str(v)) for v in values)
    return result


class CgroupManager:
    """The hierarchies of this host (or of the fake given for tests).

    fs: file access (``RealFS`` or ``fake.FakeCgroupFS``); mountinfo / proc_cgroup: the
    text of /proc/self/mountinfo and of the /proc/PID/cgroup that picks the base cgroup
    (read from fs when None); relative: ``lxc.cgroup.relative`` - place containers below
    the caller's own cgroup even as root; delegate: enable cgroup2 controllers from the
    base down (default: on a pure cgroup2 host only).
    """

    def __init__(self, fs: Any = None, mountinfo: Optional[str] = None,
                 proc_cgroup: Optional[str] = None, relative: bool = False,
                 euid: Optional[int] = None, delegate: Optional[bool] = None) -> None:
        self.fs = fs or RealFS()
        if mountinfo is None:
            mountinfo = self.fs.read_proc("/proc/self/mountinfo")
        euid = os.geteuid() if euid is None else euid
        self.relative = relative or euid != 0
        if proc_cgroup is None:
            source = "/proc/self/cgroup" if self.relative else "/proc/1/cgroup"
            try:
                proc_cgroup = self.fs.read_proc(source)
            except OSError:
                proc_cgroup = self.fs.read_proc("/proc/self/cgroup")
        where = L.parse_proc_cgroup(proc_cgroup)
        self.hierarchies: List[L.Hierarchy] = []
        for h in L.parse_mountinfo(mountinfo):
            path = where.get(L.hierarchy_ident(h))
            if path is None or "/.." in path or path.startswith(".."):
                log.debug("cgroup hierarchy %s: not in our cgroup view, skipped", h.mountpoint)
                continue
            if not self.relative:
                path = L.prune_init_scope(path)
            rel = L.relative_to_mount(path, h.mount_root)
            if rel is None or h.readonly:
                log.debug("cgroup hierarchy %s: unusable, skipped", h.mountpoint)
                continue
            h.base = rel
            h.base_dir = os.path.join(h.mountpoint, rel) if rel else h.mountpoint
            if h.version == 2:
                try:
                    h.controllers = self.fs.read(
                        os.path.join(h.base_dir, "cgroup.controllers")).split()
                except OSError:
                    h.controllers = []
            self.hierarchies.append(h)
        self.layout = L.classify(self.hierarchies)
        self.unified: Optional[L.Hierarchy] = next(
            (h for h in self.hierarchies if h.version == 2), None)
        self.delegate = self.layout == L.UNIFIED if delegate is None else delegate

    def __repr__(self) -> str:
        return (f"CgroupManager(layout={self.layout!r}, "
                f"hierarchies={[h.key for h in self.hierarchies]!r})")

    # -- lookups ------------------------------------------------------------------
    def hierarchy_for(self, controller: str) -> Optional[L.Hierarchy]:
        """The hierarchy that holds a controller: its v1 mount, else cgroup2's."""
        for h in self.hierarchies:
            if h.version == 1 and h.has(controller):
                return h
        if self.unified is not None and controller in self.unified.controllers:
            return self.unified
        return None

    @property
    def primary(self) -> Optional[L.Hierarchy]:
        """Where membership is read: cgroup2 if mounted, else the freezer's hierarchy."""
        if self.unified is not None:
            return self.unified
        return self.hierarchy_for("freezer") or (self.hierarchies[0] if self.hierarchies
                                                  else None)

    def _stem(self, name: str, kind: str, pattern: Optional[str]) -> str:
        if kind not in PREFIXES:
            raise LxczError(f"unknown cgroup kind '{kind}' (payload or monitor)")
        if not name or "/" in name or "\n" in name or name in (".", ".."):
            raise LxczError(f"invalid container name '{name}' for a cgroup")
        leaf = PREFIXES[kind] + name
        if pattern:
            parent = pattern.replace("%n", name).strip("/")
            return f"{parent}/{leaf}" if parent else leaf
        return leaf

    @staticmethod
    def _check_relpath(path: str) -> List[str]:
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise LxczError(f"invalid cgroup path '{path}'")
        return parts

    # -- creation ------------------------------------------------------------------
    def create(self, name: str, kind: str = "payload", pattern: Optional[str] = None,
               path: Optional[str] = None) -> ContainerCgroup:
        """Create the container's (or monitor's) cgroup in every hierarchy.

        pattern: a parent directory below the base (``lxc.cgroup.dir``; ``%n`` is the
        name), the cgroup being ``PATTERN/lxc.payload.NAME``. path: an exact path
        (``lxc.cgroup.dir.payload``/``.monitor``) used as is, without ``-N`` retries.
        A name in use in any hierarchy moves on to NAME-1, NAME-2, ... like LXC.
        """
        if not self.hierarchies:
            raise LxczError("no usable cgroup hierarchy is mounted")
        if path:
            candidates: Iterable[str] = [path.strip("/")]
        else:
            stem = self._stem(name, kind, pattern)
            candidates = (stem if i == 0 else f"{stem}-{i}" for i in range(MAX_RETRIES))
        for cgname in candidates:
            parts = self._check_relpath(cgname)
            made: List[str] = []
            try:
                for h in self.hierarchies:
                    made.extend(self._mktree(h, parts))
            except FileExistsError:
                self._prune(made)
                if path:
                    raise LxczError(f"cgroup '{cgname}' already exists") from None
                log.debug("cgroup %s in use, trying the next name", cgname)
                continue
            except OSError as err:
                self._prune(made)
                where = err.filename or cgname
                raise LxczError(f"cannot create cgroup {where}: {_strerror(err)}") from None
            cg = ContainerCgroup(self, name, kind, cgname)
            log.info("the %s process uses \"%s\" as cgroup", "container"
                     if kind == "payload" else "monitor", cgname)
            return cg
        raise LxczError(f"cannot create a cgroup for '{name}': {MAX_RETRIES} names in use")

    def _mktree(self, h: L.Hierarchy, parts: List[str]) -> List[str]:
        """mkdir each level below the base; the last must be new. Returns what was made
        (deepest last); on error removes nothing itself."""
        made: List[str] = []
        cur = h.base_dir
        try:
            for i, part in enumerate(parts):
                parent, cur = cur, os.path.join(cur, part)
                try:
                    self.fs.mkdir(cur)
                except FileExistsError:
                    if i == len(parts) - 1:
                        raise
                    continue
                made.append(cur)
                if h.version == 1 and h.has("cpuset"):
                    self._cpuset_init(parent, cur)
            if h.version == 2 and self.delegate:
                self._delegate(h, parts)
        except OSError:
            self._prune(made)
            raise
        return made

    def _cpuset_init(self, parent: str, child: str) -> None:
        """A new v1 cpuset cgroup starts with empty cpus/mems (no task can join it):
        copy the parent's, without isolated or offline CPUs, and let children inherit."""
        fs = self.fs
        if not fs.read(os.path.join(child, "cpuset.cpus")).strip():
            cpus = fs.read(os.path.join(parent, "cpuset.cpus")).strip()
            drop: List[int] = []
            for extra in ("/sys/devices/system/cpu/isolated", "/sys/devices/system/cpu/offline"):
                try:
                    drop.extend(_parse_cpulist(fs.read_proc(extra)))
                except (OSError, ValueError):
                    pass
            if drop and cpus:
                keep = [c for c in _parse_cpulist(cpus) if c not in drop]
                if keep:
                    cpus = _format_cpulist(keep)
            fs.write(os.path.join(child, "cpuset.cpus"), cpus)
        if not fs.read(os.path.join(child, "cpuset.mems")).strip():
            fs.write(os.path.join(child, "cpuset.mems"),
                     fs.read(os.path.join(parent, "cpuset.mems")).strip())
        try:
            fs.write(os.path.join(child, "cgroup.clone_children"), "1")
        except OSError:
            pass

    def _delegate(self, h: L.Hierarchy, parts: List[str]) -> None:
        """On a pure cgroup2 host, enable the available controllers from the base down
        to the container's parent so its limit files exist (best effort, like LXC)."""
        cur = h.base_dir
        for part in parts:
            try:
                avail = self.fs.read(os.path.join(cur, "cgroup.controllers")).split()
                have = self.fs.read(os.path.join(cur, "cgroup.subtree_control")).split()
            except OSError:
                return
            for ctrl in avail:
                if ctrl not in have:
                    try:
                        self.fs.write(os.path.join(cur, "cgroup.subtree_control"), "+" + ctrl)
                    except OSError as err:
                        log.debug("cannot enable %s in %s: %s", ctrl, cur, _strerror(err))
            cur = os.path.join(cur, part)

    def _prune(self, made: List[str]) -> None:
        for d in reversed(made):
            try:
                self.fs.rmdir(d)
            except OSError as err:
                log.warning("cannot remove cgroup %s: %s", d, _strerror(err))

    # -- finding --------------------------------------------------------------------
    def find(self, name: str, kind: str = "payload", pattern: Optional[str] = None,
             pid: Optional[int] = None) -> Optional[ContainerCgroup]:
        """The existing cgroup of container ``name``, or None.

        With ``pid`` (the container's init) the cgroup is read from /proc/PID/cgroup,
        which also finds a ``-N`` suffixed one; without, the unsuffixed LXC name is used.
        """
        primary = self.primary
        if primary is None:
            return None
        stem = self._stem(name, kind, pattern)
        if pid is not None:
            try:
                text = self.fs.read_proc(f"/proc/{int(pid)}/cgroup")
            except OSError:
                return None
            path = L.parse_proc_cgroup(text).get(L.hierarchy_ident(primary))
            rel = L.relative_to_mount(path, primary.mount_root) if path else None
            if rel is None:
                return None
            if primary.base:
                if not rel.startswith(primary.base + "/"):
                    return None
                rel = rel[len(primary.base) + 1:]
            import re

            parts = rel.split("/")
            leaf = stem.split("/")[-1]
            for i in range(len(parts), 0, -1):
                last = parts[i - 1]
                if last == leaf or re.fullmatch(re.escape(leaf) + r"-\d+", last):
                    return ContainerCgroup(self, name, kind, "/".join(parts[:i]))
            return None
        if self.fs.isdir(os.path.join(primary.base_dir, stem)):
            return ContainerCgroup(self, name, kind, stem)
        return None

    def pivot(self, pid: int, path: Optional[str] = None) -> None:
        """Move ``pid`` (a monitor about to remove its own cgroup) into ``lxc.pivot``
        below the base in every hierarchy, as LXC does (``path``:
        lxc.cgroup.dir.monitor.pivot instead)."""
        rel = "/".join(self._check_relpath(path.strip("/"))) if path else PIVOT
        for h in self.hierarchies:
            target = os.path.join(h.base_dir, rel)
            try:
                if not self.fs.isdir(target):
                    try:
                        self._mktree(h, rel.split("/"))
                    except FileExistsError:
                        pass
                self.fs.write(os.path.join(target, "cgroup.procs"), str(pid))
            except OSError as err:
                raise LxczError(f"cannot move {pid} to {target}: {_strerror(err)}") from None

    def cgroup_of(self, pid: int) -> Dict[str, str]:
        """/proc/PID/cgroup as {hierarchy key: absolute directory} for our hierarchies."""
        where = L.parse_proc_cgroup(self.fs.read_proc(f"/proc/{int(pid)}/cgroup"))
        result = {}
        for h in self.hierarchies:
            path = where.get(L.hierarchy_ident(h))
            rel = L.relative_to_mount(path, h.mount_root) if path else None
            if rel is not None:
                result[h.key] = os.path.join(h.mountpoint, rel) if rel else h.mountpoint
        return result


class ContainerCgroup:
    """One container's (or monitor's) cgroup: ``cgname`` below the base everywhere."""

    def __init__(self, manager: CgroupManager, name: str, kind: str, cgname: str) -> None:
        self.manager = manager
        self.fs = manager.fs
        self.name = name
        self.kind = kind
        self.cgname = cgname
        self.paths: Dict[str, str] = {h.key: os.path.join(h.base_dir, cgname)
                                      for h in manager.hierarchies}

    def __repr__(self) -> str:
        return f"ContainerCgroup({self.cgname!r}, layout={self.manager.layout!r})"

    def path(self, h: L.Hierarchy) -> str:
        return self.paths[h.key]

    def exists(self) -> bool:
        primary = self.manager.primary
        return primary is not None and self.fs.isdir(self.path(primary))

    # -- membership -----------------------------------------------------------------
    def attach(self, pid: int) -> None:
        """Move pid (a whole thread group) into this cgroup in every hierarchy."""
        for h in self.manager.hierarchies:
            target = os.path.join(self.path(h), "cgroup.procs")
            try:
                self.fs.write(target, str(int(pid)))
            except OSError as err:
                raise LxczError(f"cannot attach {pid} to cgroup {self.path(h)}: "
                                f"{_strerror(err)}") from None

    def child(self, sub: str) -> ContainerCgroup:
        """A new cgroup ``sub`` below this one in every hierarchy (lxc.cgroup.dir.container
        .inner: init and attached processes go there, the limits stay on this one)."""
        parts = self.manager._check_relpath(sub.strip("/"))
        full = self.manager._check_relpath(self.cgname) + parts
        made: List[str] = []
        try:
            for h in self.manager.hierarchies:
                made.extend(self.manager._mktree(h, full))
        except OSError as err:
            self.manager._prune(made)
            raise LxczError(f"cannot create cgroup {err.filename or sub}: "
                            f"{_strerror(err)}") from None
        return ContainerCgroup(self.manager, self.name, self.kind,
                               self.cgname + "/" + "/".join(parts))

    def chown(self, uid: int, gid: int) -> None:
        """Hand the cgroup to the container's root (a user namespace): the directory and
        the files it needs to manage its own subtree, as LXC does."""
        for h in self.manager.hierarchies:
            top = self.path(h)
            names = ["", "cgroup.procs"]
            if h.version == 2:
                names += ["cgroup.subtree_control", "cgroup.threads"]
            else:
                names += ["tasks"]
            for n in names:
                p = os.path.join(top, n) if n else top
                try:
                    os.chown(p, uid, gid)
                except FileNotFoundError:
                    pass
                except OSError as err:
                    raise LxczError(f"cannot hand cgroup {p} to the container: "
                                    f"{_strerror(err)}") from None

    def leave(self, pid: Optional[int] = None) -> None:
        """Move pid (default: this process) out, into ``lxc.pivot``."""
        self.manager.pivot(os.getpid() if pid is None else pid)

    def _tree(self, top: str) -> List[str]:
        """top and every cgroup below it, parents before children."""
        result = [top]
        for sub in sorted(self.fs.subdirs(top)):
            result.extend(self._tree(os.path.join(top, sub)))
        return result

    def _pids_in(self, top: str, recursive: bool = True) -> List[int]:
        pids: List[int] = []
        for d in (self._tree(top) if recursive else [top]):
            try:
                text = self.fs.read(os.path.join(d, "cgroup.procs"))
            except OSError:
                continue
            pids.extend(int(x) for x in text.split() if x.isdigit())
        return pids

    def pids(self, recursive: bool = True) -> List[int]:
        """Processes in the cgroup (and below it), read from the primary hierarchy."""
        primary = self.manager.primary
        if primary is None:
            return []
        return sorted(set(self._pids_in(self.path(primary), recursive)))

    def all_pids(self) -> List[int]:
        """Processes in the cgroup in any hierarchy (some may have been moved out of one)."""
        found = set()
        for h in self.manager.hierarchies:
            found.update(self._pids_in(self.path(h)))
        return sorted(found)

    def kill_all(self, sig: int = _signal.SIGKILL, timeout: float = 5.0) -> int:
        """Signal every process in the cgroup; returns how many were signalled.

        SIGKILL repeats until the cgroup is empty (cgroup.kill on cgroup2, else
        freeze - kill - thaw so nothing forks away), other signals are sent once.
        """
        if sig != _signal.SIGKILL:
            return self._signal(self.all_pids(), sig)
        deadline = time.monotonic() + timeout
        count = 0
        unified = self.manager.unified
        kill_file = os.path.join(self.path(unified), "cgroup.kill") if unified else None
        v1_freezer = self._v1_freezer()
        while True:
            pids = self.all_pids()
            if not pids:
                return count
            if time.monotonic() > deadline:
                raise LxczError(f"processes {pids[:8]} in cgroup {self.cgname} survived "
                                f"SIGKILL for {timeout:g}s")
            count = max(count, len(pids))
            if kill_file and self.fs.exists(kill_file):
                try:
                    self.fs.write(kill_file, "1")
                except OSError:
                    self._signal(pids, sig)
            elif v1_freezer is not None:
                self._write_freezer(v1_freezer, "FROZEN")
                self._signal(self.all_pids(), sig)
                self._write_freezer(v1_freezer, "THAWED")
            else:
                self._signal(pids, sig)
            time.sleep(0.002)

    def _signal(self, pids: List[int], sig: int) -> int:
        sent = 0
        for pid in pids:
            try:
                self.fs.kill(pid, sig)
                sent += 1
            except ProcessLookupError:
                pass
        return sent

    # -- files ------------------------------------------------------------------------
    def file_for(self, key: str) -> Optional[str]:
        """The file behind a cgroup key (``memory.max``, ``freezer.state``), or None.

        A v1 hierarchy with the key's controller wins; then cgroup2 (core files such as
        ``cgroup.freeze`` live there); then any hierarchy that has the file.
        """
        check_key(key)
        controller = key.split(".", 1)[0]
        mgr = self.manager
        order: List[L.Hierarchy] = []
        v1 = next((h for h in mgr.hierarchies if h.version == 1 and h.has(controller)), None)
        if v1 is not None:
            order.append(v1)
        if mgr.unified is not None:
            order.append(mgr.unified)
        order.extend(h for h in mgr.hierarchies if h not in order)
        for h in order:
            candidate = os.path.join(self.path(h), key)
            if self.fs.exists(candidate):
                return candidate
        return None

    def get(self, key: str) -> str:
        """The value of a cgroup file, without its final newline."""
        path = self.file_for(key)
        if path is None:
            raise LxczError(f'unknown cgroup key "{key}"')
        try:
            return self.fs.read(path).rstrip("\n")
        except OSError as err:
            raise LxczError(f'cannot read cgroup key "{key}": {_strerror(err)}') from None

    def set(self, key: str, value: str) -> None:
        path = self.file_for(key)
        if path is None:
            raise LxczError(f'unknown cgroup key "{key}"')
        if "\n" in value.rstrip("\n"):
            raise LxczError(f'invalid value for cgroup key "{key}": more than one line')
        try:
            self.fs.write(path, value)
        except OSError as err:
            raise LxczError(f'cannot set cgroup key "{key}" to "{value}": '
                            f"{_strerror(err)}") from None

    def apply(self, v1: Limits = None, v2: Limits = None) -> List[str]:
        """Apply ``lxc.cgroup.*`` (v1) and ``lxc.cgroup2.*`` (v2) settings in order,
        ``devices.*`` last as LXC does. Returns the warnings it logged. On a pure cgroup2
        host ``lxc.cgroup2.devices.allow/deny`` become a BPF device program.

        v1 keys on a pure cgroup2 host, and v2 keys whose file the hybrid host's
        cgroup2 mount lacks, are skipped with a warning as LXC 5 skips them; anything
        else that fails raises LxczError naming the configuration key.
        """
        warnings: List[str] = []
        device_rules: List[Tuple[str, str]] = []
        layout = self.manager.layout
        for prefix, spec, version in (("lxc.cgroup.", v1, 1), ("lxc.cgroup2.", v2, 2)):
            pairs = _pairs(spec, prefix)
            pairs.sort(key=lambda kv: kv[0].startswith("devices."))
            for key, value in pairs:
                full = prefix + key
                try:
                    check_key(key)
                except LxczError:
                    raise LxczError(f'invalid cgroup key "{full}"') from None
                if version == 2 and key in ("devices.allow", "devices.deny"):
                    if layout != L.UNIFIED or self.manager.unified is None:
                        msg = (f"ignoring {full}: on this {layout} host devices are the v1 "
                               "devices controller's (lxc.cgroup.devices.*)")
                        log.warning(msg)
                        warnings.append(msg)
                        continue
                    from lxcz.cgroups import devices

                    try:
                        devices.parse(key, value)
                    except ValueError as err:
                        raise LxczError(f"cannot apply {full} = {value}: {err}") from None
                    device_rules.append((key, value))
                    continue
                target = self._target(key, version)
                if target is None:
                    if (version == 1 and layout == L.UNIFIED) or (
                            version == 2 and layout != L.UNIFIED):
                        msg = (f"ignoring {full}: no such file in the "
                               f"{'cgroup2' if version == 2 else 'cgroup v1'} hierarchy "
                               f"of this {layout} host")
                        log.warning(msg)
                        warnings.append(msg)
                        continue
                    raise LxczError(f'unknown cgroup key "{full}"')
                try:
                    self.fs.write(target, value)
                except OSError as err:
                    raise LxczError(f"cannot apply {full} = {value}: "
                                    f"{_strerror(err)}") from None
                log.debug("set %s to \"%s\"", full, value)
        if device_rules:
            self._apply_devices(device_rules)
        return warnings

    def _apply_devices(self, pairs: List[Tuple[str, str]]) -> None:
        """cgroup2 device rules become one BPF program attached to the container."""
        from lxcz.cgroups import devices

        default, rules = devices.compile_rules(pairs)
        program = devices.build(default, rules)
        target = self.path(self.manager.unified)  # type: ignore[arg-type]
        try:
            self.fs.attach_device_program(target, program)
        except OSError as err:
            raise LxczError(f"cannot apply lxc.cgroup2.devices.*: {_strerror(err)}") from None
        except LxczError as err:
            raise LxczError(f"cannot apply lxc.cgroup2.devices.*: {err}") from None
        log.debug("device program with %d rules (default %s) attached to %s", len(rules),
                  "allow" if default else "deny", target)

    def _target(self, key: str, version: int) -> Optional[str]:
        controller = key.split(".", 1)[0]
        if version == 2:
            h = self.manager.unified
        else:
            h = next((x for x in self.manager.hierarchies
                      if x.version == 1 and x.has(controller)), None)
            if h is None:
                h = next((x for x in self.manager.hierarchies if x.version == 1
                          and self.fs.exists(os.path.join(self.path(x), key))), None)
        if h is None:
            return None
        path = os.path.join(self.path(h), key)
        return path if self.fs.exists(path) else None

    # -- freezer -------------------------------------------------------------------
    def _v1_freezer(self) -> Optional[str]:
        h = next((x for x in self.manager.hierarchies
                  if x.version == 1 and x.has("freezer")), None)
        return os.path.join(self.path(h), "freezer.state") if h else None

    def _v2_freeze_file(self) -> Optional[str]:
        h = self.manager.unified
        if h is None:
            return None
        path = os.path.join(self.path(h), "cgroup.freeze")
        return path if self.fs.exists(path) else None

    def _write_freezer(self, path: str, value: str) -> None:
        try:
            self.fs.write(path, value)
        except OSError as err:
            raise LxczError(f"cannot write {value} to {path}: {_strerror(err)}") from None

    def freezer_file(self) -> Optional[Tuple[str, str]]:
        """("v1", its freezer.state) or ("v2", its cgroup.freeze); None: no freezer."""
        v1 = self._v1_freezer()
        if v1 is not None:
            return ("v1", v1)
        freeze = self._v2_freeze_file()
        return ("v2", freeze) if freeze is not None else None

    def state(self) -> str:
        """FROZEN, FREEZING or THAWED."""
        from lxcz.cgroups.freezer import read_state

        return read_state(self.cgname, self.freezer_file(), self.fs.read)

    def _wait_state(self, want: str, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        pause = 0.0005
        while True:
            if self.state() == want:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def freeze(self, timeout: Optional[float] = -1) -> None:
        """Freeze every process and wait until the kernel reports FROZEN (timeout in
        seconds; negative or None waits for ever). On timeout it thaws again and
        raises, leaving nothing half-frozen."""
        v1 = self._v1_freezer()
        if v1 is not None:
            self._write_freezer(v1, "FROZEN")
        else:
            freeze = self._v2_freeze_file()
            if freeze is None:
                raise LxczError("no freezer: neither the v1 freezer controller nor "
                                "cgroup.freeze is available")
            self._write_freezer(freeze, "1")
        if not self._wait_state("FROZEN", timeout):
            self.thaw()
            raise LxczError(f"timed out after {timeout:g}s waiting for {self.cgname} to freeze")

    def thaw(self, timeout: Optional[float] = -1) -> None:
        v1 = self._v1_freezer()
        if v1 is not None:
            self._write_freezer(v1, "THAWED")
        else:
            freeze = self._v2_freeze_file()
            if freeze is None:
                raise LxczError("no freezer: neither the v1 freezer controller nor "
                                "cgroup.freeze is available")
            self._write_freezer(freeze, "0")
        if not self._wait_state("THAWED", timeout):
            raise LxczError(f"timed out after {timeout:g}s waiting for {self.cgname} to thaw")

    # -- statistics -------------------------------------------------------------------
    def _read_int(self, key: str) -> Optional[int]:
        path = self.file_for(key)
        if path is None:
            return None
        try:
            text = self.fs.read(path).strip()
        except OSError:
            return None
        if text == "max":
            return None
        try:
            return int(text.split()[0])
        except (ValueError, IndexError):
            return None

    def _read_flat(self, key: str) -> Dict[str, int]:
        """A 'name value' per line file (cpu.stat, memory.stat, cpuacct.stat)."""
        path = self.file_for(key)
        result: Dict[str, int] = {}
        if path is None:
            return result
        try:
            text = self.fs.read(path)
        except OSError:
            return result
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                result[parts[0]] = int(parts[1])
        return result

    def stats(self) -> Dict[str, Optional[int]]:
        """Resource use for lxc-info and lxc-top; a value the host lacks is None.

        cpu_ns: CPU time; cpu_user_hz / cpu_sys_hz: user and system time in USER_HZ
        ticks; mem_used / mem_limit; memsw_used / memsw_limit (v1 memory+swap, v2
        swap); kmem_used / kmem_limit; blkio_bytes / blkio_read / blkio_write and
        blkio_ios (v1 only); mem_user / mem_kernel as lxc-info shows them.
        """
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        s: Dict[str, Optional[int]] = {}
        v1_cpu = self.manager.hierarchy_for("cpuacct")
        if v1_cpu is not None and v1_cpu.version == 1:
            s["cpu_ns"] = self._read_int("cpuacct.usage")
            st = self._read_flat("cpuacct.stat")
            s["cpu_user_hz"] = st.get("user")
            s["cpu_sys_hz"] = st.get("system")
        else:
            st = self._read_flat("cpu.stat")
            usage = st.get("usage_usec")
            s["cpu_ns"] = usage * 1000 if usage is not None else None
            s["cpu_user_hz"] = (st["user_usec"] * hz // 1000000) if "user_usec" in st else None
            s["cpu_sys_hz"] = (st["system_usec"] * hz // 1000000) if "system_usec" in st \
                else None
        mem = self.manager.hierarchy_for("memory")
        if mem is not None and mem.version == 1:
            s["mem_used"] = self._read_int("memory.usage_in_bytes")
            s["mem_limit"] = self._read_int("memory.limit_in_bytes")
            s["memsw_used"] = self._read_int("memory.memsw.usage_in_bytes")
            s["memsw_limit"] = self._read_int("memory.memsw.limit_in_bytes")
            s["kmem_used"] = self._read_int("memory.kmem.usage_in_bytes")
            s["kmem_limit"] = self._read_int("memory.kmem.limit_in_bytes")
            s["mem_user"] = s["mem_used"]
            s["mem_kernel"] = s["kmem_used"]
        else:
            s["mem_used"] = self._read_int("memory.current")
            s["mem_limit"] = self._read_int("memory.max")
            s["memsw_used"] = self._read_int("memory.swap.current")
            s["memsw_limit"] = self._read_int("memory.swap.max")
            st = self._read_flat("memory.stat") if mem is not None else {}
            s["kmem_used"] = st.get("kernel")
            s["kmem_limit"] = None
            if st:
                s["mem_user"] = st.get("anon", 0) + st.get("file", 0)
                s["mem_kernel"] = sum(st.get(k, 0) for k in
                                      ("kernel_stack", "pagetables", "sock", "slab"))
            else:
                s["mem_user"] = s["mem_kernel"] = None
        s.update(self._blkio())
        return s

    def _blkio(self) -> Dict[str, Optional[int]]:
        out: Dict[str, Optional[int]] = {"blkio_bytes": None, "blkio_read": None,
                                         "blkio_write": None, "blkio_ios": None}
        blk = self.manager.hierarchy_for("blkio")
        if blk is not None and blk.version == 1:
            for key, field in (("blkio.throttle.io_service_bytes", "bytes"),
                               ("blkio.throttle.io_serviced", "ios")):
                path = self.file_for(key)
                if path is None:
                    continue
                try:
                    text = self.fs.read(path)
                except OSError:
                    continue
                read = write = 0
                total: Optional[int] = None
                for line in text.splitlines():
                    cols = line.split()
                    if len(cols) == 2 and cols[0] == "Total":
                        total = int(cols[1])
                    elif len(cols) == 3 and cols[1] == "Read":
                        read += int(cols[2])
                    elif len(cols) == 3 and cols[1] == "Write":
                        write += int(cols[2])
                if field == "bytes":
                    out["blkio_bytes"] = total if total is not None else read + write
                    out["blkio_read"], out["blkio_write"] = read, write
                else:
                    out["blkio_ios"] = total if total is not None else 0
            return out
        path = self.file_for("io.stat")
        if path is None:
            return out
        try:
            text = self.fs.read(path)
        except OSError:
            return out
        read = write = 0
        for line in text.splitlines():
            for col in line.split()[1:]:
                k, _, v = col.partition("=")
                if k == "rbytes" and v.isdigit():
                    read += int(v)
                elif k == "wbytes" and v.isdigit():
                    write += int(v)
        out.update(blkio_bytes=read + write, blkio_read=read, blkio_write=write)
        return out

    # -- removal ------------------------------------------------------------------------
    def destroy(self, timeout: float = 2.0) -> None:
        """Remove the (empty) cgroup and everything below it in every hierarchy.

        The runtime kills the processes first; this only checks: a cgroup with
        processes left raises LxczError and nothing is removed. Exiting processes may
        keep a cgroup busy for a moment, so EBUSY is retried until ``timeout``.
        """
        pids = self.all_pids()
        if pids:
            shown = " ".join(str(p) for p in pids[:8]) + (" ..." if len(pids) > 8 else "")
            raise LxczError(f"cgroup {self.cgname} is busy: {len(pids)} process"
                            f"{'es' if len(pids) != 1 else ''} still in it ({shown})")
        deadline = time.monotonic() + timeout
        failures: List[str] = []
        for h in self.manager.hierarchies:
            top = self.path(h)
            if not self.fs.isdir(top):
                continue
            for d in reversed(self._tree(top)):
                while True:
                    try:
                        self.fs.rmdir(d)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as err:
                        if err.errno == 16 and time.monotonic() < deadline:  # EBUSY
                            time.sleep(0.005)
                            continue
                        failures.append(f"{d}: {_strerror(err)}")
                        break
        if failures:
            raise LxczError(f"cannot remove cgroup {failures[0]}"
                            + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))

"""lxc-ls: list the containers of an lxcpath, plain, one per line or as a table.

Fast by construction: which containers run is read from /proc/net/unix (the monitors'
abstract sockets) without talking to any of them; the running ones that must be asked
(state, init PID) are asked concurrently, one round trip each; addresses and interfaces
come from /proc/PID/net, memory from the cgroup files; configuration values (AUTOSTART,
GROUPS, UNPRIVILEGED) from the monitor's reply for a running container (as it was started,
like LXC's running config items), from the config file on disk for the others. Only the
columns shown are computed.
"""

from __future__ import annotations

import os
import sys

from lxcz.tools.common import NONE, OPTIONAL, REQUIRED, Args, Opt, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

SYNOPSIS = (
    "\n[-P lxcpath] [--active] [--running] [--frozen] [--stopped] [--nesting] [-g groups] "
    "[--filter regex]\n"
    "[-1] [-P lxcpath] [--active] [--running] [--frozen] [--stopped] [--nesting] "
    "[-g groups] [--filter regex]\n"
    "[-f] [-P lxcpath] [--active] [--running] [--frozen] [--stopped] [--nesting] "
    "[-g groups] [--filter regex]")
OPTIONS_TEXT = """\
Options :
  -1, --line         show one entry per line
  -f, --fancy        use a fancy, column-based output
  -F, --fancy-format comma separated list of columns to show in the fancy output
                     valid columns are: NAME, STATE, PID, RAM, SWAP, AUTOSTART,
                     GROUPS, INTERFACE, IPV4 and IPV6, UNPRIVILEGED
  --active           list only active containers
  --running          list only running containers
  --frozen           list only frozen containers
  --stopped          list only stopped containers
  --defined          list only defined containers
  --nesting=NUM      list nested containers up to NUM (default is 5) levels of nesting
  --filter=REGEX     filter container names by regular expression
  -g --groups        comma separated list of groups a container must have to be displayed
"""
OPTS = [
    Opt("1", "line", "line", NONE, action="store_true"),
    Opt("f", "fancy", "fancy", NONE, action="store_true"),
    Opt("F", "fancy-format", "fancy_format", REQUIRED, "COLUMNS"),
    Opt(None, "active", "active", NONE, action="store_true"),
    Opt(None, "running", "running", NONE, action="store_true"),
    Opt(None, "frozen", "frozen", NONE, action="store_true"),
    Opt(None, "stopped", "stopped", NONE, action="store_true"),
    Opt(None, "defined", "defined", NONE, action="store_true"),
    Opt(None, "nesting", "nesting", OPTIONAL, "NUM", const=""),
    Opt(None, "filter", "filter", REQUIRED, "REGEX"),
    Opt("g", "groups", "groups", REQUIRED, "GROUPS"),
]

COLUMNS = ("NAME", "STATE", "PID", "RAM", "SWAP", "AUTOSTART", "GROUPS", "INTERFACE",
           "IPV4", "IPV6", "UNPRIVILEGED")
TABLE = ("NAME", "STATE", "AUTOSTART", "GROUPS", "IPV4", "IPV6", "UNPRIVILEGED")


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "list containers", OPTS, name_opt=False,
                        rcfile_opt=False, max_positional=1)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    head = f"Usage: {prog} {SYNOPSIS}\n\n{prog} list containers\n\n"
    parser.help_text = lambda: head + OPTIONS_TEXT + tail  # type: ignore[method-assign]
    return parser


def term_width() -> int:
    import fcntl
    import termios

    for fd in (1, 2, 0):
        try:
            data = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
        except OSError:
            continue
        return int.from_bytes(data[2:4], sys.byteorder)  # struct winsize's ws_col
    return 0


class Entry:
    __slots__ = ("name", "running", "state", "pid", "cgroup", "conf", "groups", "lxc")

    def __init__(self, name: str, running: bool) -> None:
        self.name = name
        self.running = running
        self.state = "RUNNING" if running else "STOPPED"
        self.pid = -1
        self.cgroup: Dict[str, str] = {}
        self.conf: Any = None
        self.groups: Optional[List[str]] = None
        self.lxc = False  # upstream LXC runs it (lxcz.runtime.lxcwire)


def _ask_all(lxcpath: str, entries: List[Entry]) -> None:
    """One get_info round trip per running container, all in flight at once.

    Every request is sent before any reply is read, so the monitors answer in parallel;
    no threads (starting them costs more than the round trips).
    """
    from lxcz.runtime import client

    class _C:
        __slots__ = ("name", "config_path")

    pending = []
    for e in entries:
        if not e.running:
            continue
        c = _C()
        c.name, c.config_path = e.name, lxcpath
        try:
            chan = client.connect(c)
            chan.send({"cmd": "get_info"})
        except client.NotRunning:  # stopped meanwhile, or upstream LXC runs it
            info = client.upstream_info(c)
            e.state, e.pid = info["state"], int(info["pid"])
            e.running, e.lxc = e.state != "STOPPED", bool(info.get("lxc"))
            continue
        except Exception:  # noqa: BLE001 - it will not answer
            e.running, e.state = False, "STOPPED"
            continue
        pending.append((e, chan))
    for e, chan in pending:
        try:
            reply, _fds = chan.recv()
        except Exception:  # noqa: BLE001 - listed with what is known
            reply = {"state": "RUNNING", "pid": -1}
        finally:
            chan.close()
        if reply is None:
            reply = {"state": "STOPPED", "pid": -1}
        e.state = str(reply.get("state") or "STOPPED")
        e.pid = int(reply.get("pid", -1) or -1)
        e.cgroup = reply.get("cgroup") or {}
        e.running = e.state != "STOPPED"
        shown = reply.get("shown")
        if e.running and isinstance(shown, dict) and shown:
            # as it was started, like LXC's running config items
            e.conf = client.RunningConfig(shown)


# A config whose text names none of these cannot set what lxc-ls shows, so it needs no
# parsing (nor the config package imported): the defaults apply.
_SHOWN_KEYS = ("lxc.group", "lxc.start.auto", "lxc.idmap", "lxc.id_map", "lxc.include")


class _Defaults:
    @staticmethod
    def get_item(key: str) -> str:
        return ""


_NOT_LOADED = _Defaults()  # what a configuration that does not load answers (once warned)


def _parsed(path: str, keys: Tuple[str, ...]) -> Any:
    """The configuration at path, parsed only when its text names one of keys (else
    none of them is set, and _Defaults answers); one that does not load: a warning."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        raw = b""
    if not any(k.encode() in raw for k in keys):
        return _Defaults()
    from lxcz.config import ContainerConfig
    from lxcz.errors import LxczError

    try:
        return ContainerConfig.load(path)
    except LxczError as err:
        from lxcz import log

        log.log.warning("%s", err)
        return _NOT_LOADED


def _load_conf(lxcpath: str, e: Entry) -> Any:
    if e.conf is None:
        e.conf = _parsed(os.path.join(lxcpath, e.name, "config"), _SHOWN_KEYS)
    return e.conf


def _groups(lxcpath: str, e: Entry) -> List[str]:
    if e.groups is None:
        value = _load_conf(lxcpath, e).get_item("lxc.group") or ""
        e.groups = [g for g in value.split("\n") if g]
    return e.groups


def _has_all(groups: List[str], must: List[str]) -> bool:
    """-g: LXC compares with the container's groups split again on commas (lxc.group =
    b,c is in groups b and c), and wants no more names than the container has."""
    has = [g.strip() for g in ",".join(groups).split(",") if g.strip()]
    return len(must) <= len(has) and all(g in has for g in must)


def _cgroup_value(e: Entry, key: str) -> Optional[str]:
    controller = key.split(".", 1)[0]
    for where in (controller, "unified"):
        path = e.cgroup.get(where)
        if path:
            try:
                with open(os.path.join(path, key)) as f:
                    return f.read().rstrip("\n")
            except OSError:
                continue
    from lxcz.cgroups import get_manager

    try:
        cg = get_manager().find(e.name, pid=e.pid)
        return cg.get(key) if cg is not None else None
    except Exception:  # noqa: BLE001 - RAM/SWAP are best effort, like LXC's
        return None


def _ram(e: Entry) -> Optional[float]:
    val = _cgroup_value(e, "memory.usage_in_bytes")
    if val is None:
        val = _cgroup_value(e, "memory.current")
    try:
        return int(val) / 1024 / 1024 if val is not None else None
    except ValueError:
        return None


def _swap(e: Entry) -> Optional[float]:
    stat = _cgroup_value(e, "memory.stat")
    if stat is None:
        return 0.0
    for line in stat.splitlines():
        key, _, value = line.partition(" ")
        if key == "swap":
            try:
                return int(value) // 1024 // 1024
            except ValueError:
                return 0.0
    val = _cgroup_value(e, "memory.swap.current")
    try:
        return int(val) // 1024 // 1024 if val is not None else 0.0
    except ValueError:
        return 0.0


def _cells(lxcpath: str, e: Entry, cols: List[str]) -> Dict[str, str]:
    from lxcz.net import api as netapi

    cells: Dict[str, str] = {}
    live = e.running and e.pid > 0
    for col in cols:
        if col == "NAME":
            cells[col] = e.name
        elif col == "STATE":
            cells[col] = e.state
        elif col == "PID":
            cells[col] = str(e.pid) if e.pid > 0 else "-"
        elif col == "AUTOSTART":
            raw = (_load_conf(lxcpath, e).get_item("lxc.start.auto") or "0").strip()
            cells[col] = "1" if raw == "1" else "0"
        elif col == "GROUPS":
            cells[col] = ", ".join(_groups(lxcpath, e)) or "-"
        elif col == "UNPRIVILEGED":
            cells[col] = "true" if _load_conf(lxcpath, e).get_item("lxc.idmap") else "false"
        elif col == "INTERFACE":
            cells[col] = ", ".join(sorted(set(netapi.interfaces_of_pid(e.pid)))) \
                if live else "-"
        elif col in ("IPV4", "IPV6"):
            fam = "inet" if col == "IPV4" else "inet6"
            ips = sorted(netapi.ips_of_pid(e.pid, None, fam, 0)) if live else []
            cells[col] = ", ".join(ips) or "-"
        elif col == "RAM":
            ram = _ram(e) if live else None
            cells[col] = f"{ram:.2f}" if ram is not None else ""
        elif col == "SWAP":
            swap = _swap(e) if live else None
            cells[col] = f"{float(swap):.2f}" if swap is not None else ""
    return cells


def _table(rows: List[Dict[str, str]], cols: List[str]) -> str:
    widths = {c: len(c) for c in cols}
    for c in ("RAM", "SWAP"):
        if c in widths:
            widths[c] = {"RAM": 3, "SWAP": 4}[c]
    for r in rows:
        for c in cols:
            if c in ("RAM", "SWAP"):
                widths[c] = max(widths[c], len(r[c]) if r[c] else 4)
            else:
                widths[c] = max(widths[c], len(r[c]))
    out = []
    head = ""
    for c in cols:
        w = widths[c] + 2 if c in ("RAM", "SWAP") else widths[c]
        head += f"{c:<{w}} "
    out.append(head)
    for r in rows:
        line = ""
        for c in cols:
            if c in ("RAM", "SWAP"):
                line += f"{r[c]:>{widths[c]}}MB " if r[c] else f"{'-':<{widths[c]}}   "
            else:
                line += f"{r[c]:<{widths[c]}} "
        out.append(line)
    return "\n".join(out) + "\n"


MAX_NESTING = 5  # --nesting without a number, as LXC's MAX_NESTLVL


def nesting_depth(value: Any) -> int:
    """--nesting[=NUM] as LXC reads it: NUM when C's strtoul(NUM, 0) takes all of it
    (decimal, 0x hexadecimal, 0 octal), else 5; without the option, 0."""
    if value is None:
        return 0
    text = str(value).strip() if isinstance(value, str) else ""
    if not text or text.startswith("-"):
        return MAX_NESTING
    digits = text.lstrip("+")
    try:
        if digits[:2].lower() == "0x":
            n = int(digits, 16)
        elif len(digits) > 1 and digits[0] == "0":
            n = int(digits, 8)
        else:
            n = int(digits, 10)
    except ValueError:
        return MAX_NESTING
    return n if n <= 0xFFFFFFFF else MAX_NESTING


class Level:
    """One lxcpath to list: where it is (``path``, host side), the name of the container
    it is nested in (``parent``), how deep (``depth``), and the prefix its stopped
    containers' rootfs paths get (``base``: LXC lists a stopped container's nested
    containers in ROOTFS/LXCPATH on the host)."""

    __slots__ = ("path", "parent", "depth", "base")

    def __init__(self, path: str, parent: Optional[str], depth: int, base: str) -> None:
        self.path, self.parent, self.depth, self.base = path, parent, depth, base


def _chosen(args: Args, lxcpath: str, fancy: bool) -> List[Entry]:
    """The containers of lxcpath that the filters keep, sorted, with their state when
    something shown or filtered on needs it."""
    from lxcz.errors import LxczError
    from lxcz.runtime import client, paths

    if not os.path.isdir(lxcpath):
        return []
    active = set(client.active_names(lxcpath))
    names: Dict[str, bool] = {}
    if not (args.active or args.frozen):
        try:
            entries = os.listdir(lxcpath)
        except OSError as err:
            raise LxczError(f"cannot read {lxcpath}: {err.strerror}") from None
        for n in entries:
            if paths.is_defined(lxcpath, n):
                names[n] = True
    for n in active:
        names.setdefault(n, False)
    pattern = args.filter if args.filter is not None else (
        args.positional[0] if args.positional else None)
    regex = None
    if pattern is not None:
        import re  # only here: re (and the enum it imports) costs more than a listing

        try:
            regex = re.compile(pattern)
        except re.error:
            return []  # LXC skips every name when the expression does not compile
    chosen = [Entry(n, n in active) for n in sorted(names)
              if (regex is None or regex.search(n)) and (not args.defined or names[n])]
    if args.stopped:
        chosen = [e for e in chosen if not e.running]
    if args.running or args.active:
        chosen = [e for e in chosen if e.running]
    # -g: a running one's groups; --nesting: no attaching to a frozen one
    need_state = fancy or args.frozen or bool(args.groups) or bool(args.nest_depth)
    if need_state:
        _ask_all(lxcpath, chosen)
        if args.frozen:
            chosen = [e for e in chosen if e.state == "FROZEN"]
        if args.running or args.active:
            chosen = [e for e in chosen if e.running]
    if args.groups:
        must = [g.strip() for g in args.groups.split(",") if g.strip()]
        chosen = [e for e in chosen if _has_all(_groups(lxcpath, e), must)]
    return chosen


def collect(args: Args, level: Level, cols: List[str], fancy: bool) -> List[tuple]:
    """(depth, name as shown, cells) of every container of level and, with --nesting,
    of the containers nested in each, right after it (depth first, as LXC)."""
    if level.depth > args.nest_depth:
        return []
    out: List[tuple] = []
    for e in _chosen(args, level.path, fancy):
        shown = e.name
        if level.parent is not None and args.nest_depth and (args.line or not fancy):
            shown = f"{level.parent}/{e.name}"
        cells = _cells(level.path, e, cols) if fancy else {}
        out.append((level.depth, shown, cells))
        if not args.nest_depth or level.depth + 1 > args.nest_depth:
            continue
        if e.state in ("FROZEN", "FREEZING"):
            continue  # a process attached to it would freeze too: nothing to list there
        if e.lxc:
            continue  # lxcz attaches only to the containers it runs
        if e.running:
            out += _nested_running(args, level, e, shown, cols, fancy)
        else:
            rootfs = _rootfs_dir(level.path, e)
            if rootfs:
                base = level.base + rootfs
                out += collect(args, Level(base + args.top_lxcpath, shown, level.depth + 1,
                                           base), cols, fancy)
    return out


_ROOTFS_KEYS = ("lxc.rootfs", "lxc.include")


def _rootfs_dir(lxcpath: str, e: Entry) -> str:
    """The directory of a stopped container's rootfs (a dir backing store), or ""."""
    conf = e.conf  # parsed already for the columns shown, unless it names none of them
    if conf is None or (isinstance(conf, _Defaults) and conf is not _NOT_LOADED):
        conf = _parsed(os.path.join(lxcpath, e.name, "config"), _ROOTFS_KEYS)
    value = conf.get_item("lxc.rootfs.path") or ""
    if value.startswith("dir:"):
        value = value[4:]
    return value if value.startswith("/") else ""


_preloaded = False


def _preload(config: str) -> None:
    """Import, once, what a listing inside a container runs while lxcz can still be
    found: the configuration code by parsing a configuration (it loads its parts on
    demand), and the protocol's JSON scanner."""
    global _preloaded
    if _preloaded:
        return
    from lxcz.config import ContainerConfig
    from lxcz.errors import LxczError
    from lxcz.runtime import client, paths, proto  # noqa: F401

    proto.decode(proto.encode([[0, "", {}]]).decode())  # its JSON scanner, made on first use
    try:
        ContainerConfig.load(config).get_item("lxc.rootfs.path")
    except LxczError:
        pass
    _preloaded = True


def _nested_running(args: Args, level: Level, e: Entry, shown: str, cols: List[str],
                    fancy: bool) -> List[tuple]:
    """The listing of args.top_lxcpath inside running container e, made by a process
    attached to it (LXC does the same) and read back through a pipe."""
    from lxcz.container import Container
    from lxcz.errors import LxczError
    from lxcz.runtime import attach

    _preload(os.path.join(level.path, e.name, "config"))  # re: _chosen compiled the filter
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    inner = Level(args.top_lxcpath, shown, level.depth + 1, "")
    try:
        pid = Container(e.name, level.path).attach(
            _list_inside, (args, inner, cols, fancy),
            env_policy=attach.LXC_ATTACH_CLEAR_ENV, stdin=null, stdout=wfd, stderr=null)
    except LxczError as err:
        from lxcz import log

        log.log.warning("%s: nested containers not listed: %s", e.name, err)
        return []
    finally:
        os.close(wfd)
        os.close(null)
    from lxcz.sys import calls

    try:
        data = calls.read_to_eof(rfd)  # closes rfd
    finally:
        attach.wait_status(pid)
    from lxcz.runtime import proto

    try:  # JSON, not marshal: what comes back was made inside the container
        rows = proto.decode(data.decode("utf-8", "replace")) if data else []
    except ValueError:
        return []
    if not isinstance(rows, list):
        return []
    return [(r[0], str(r[1]), {str(k): str(v) for k, v in r[2].items()}) for r in rows
            if isinstance(r, list) and len(r) == 3 and isinstance(r[0], int)
            and isinstance(r[2], dict)]


def _list_inside(payload: tuple) -> int:  # pragma: no cover - runs attached to a container
    from lxcz.runtime import proto

    args, level, cols, fancy = payload
    try:
        rows = collect(args, level, cols, fancy)
    except Exception:  # noqa: BLE001 - nothing listed rather than a broken listing
        rows = []
    data = proto.encode([list(r) for r in rows])
    while data:
        data = data[os.write(1, data):]
    return 0


def body(args: Args) -> int:
    from lxcz.errors import LxczError

    if args.lxcpath:
        lxcpath = os.path.abspath(args.lxcpath)
    else:
        from lxcz.config import system

        lxcpath = system.default_lxcpath()
    cols: List[str] = []
    if args.fancy_format:
        for col in [c.strip() for c in args.fancy_format.split(",") if c.strip()]:
            if col.upper() not in COLUMNS:
                raise LxczError(f"Invalid key: {col}")
            cols.append(col.upper())
    elif args.fancy:
        cols = list(TABLE)
    fancy = bool(args.fancy) and bool(cols)
    args.values["nest_depth"] = nesting_depth(args.nesting)
    args.values["top_lxcpath"] = lxcpath
    rows = collect(args, Level(lxcpath, None, 0, ""), cols, fancy)
    if not rows:
        return 0
    if fancy:
        table = []
        for depth, name, cells in rows:
            cells = dict(cells)
            if "NAME" in cells:
                cells["NAME"] = (" " * (depth - 1) + "\\" if depth else "") + name
            table.append(cells)
        sys.stdout.write(_table(table, cols))
        return 0
    width = max(4, max(len(name) + depth for depth, name, _ in rows))
    if args.line:
        sys.stdout.write("".join(name + "\n" for _, name, _ in rows))
        return 0
    termwidth = term_width()
    out = []
    used = 0
    for _, name, _ in rows:
        out.append(f"{name:<{width}}")
        used += width
        if used + width >= termwidth:
            out.append("\n")
            used = 0
        else:
            out.append(" ")
            used += 1
    if used:
        out.append("\n")
    sys.stdout.write("".join(out))
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-ls"), argv, body)

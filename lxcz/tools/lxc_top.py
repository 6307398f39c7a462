"""lxc-top: CPU, block I/O and memory use of the running containers, refreshed.

Interactive mode draws LXC 5's table on a terminal (keys: q quits, r reverses, n c b
m s k sort, pressing the current sort key again reverses). -b prints LXC 5's CSV
lines instead and, unlike LXC 5, needs no terminal, so it works from cron or a pipe.
"""

from __future__ import annotations

import os
import sys
import time

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

TERMCLEAR = "\033[H\033[J"
TERMNORM = "\033[0m"
TERMBOLD = "\033[1m"
TERMRVRS = "\033[7m"
SORT_KEYS = "ncbmsk"
CSV_HEADER = ("time_ms,container,cpu_nanos,cpu_sys_userhz,cpu_user_userhz,blkio_bytes,"
              "blkio_iops,mem_used_bytes,memsw_used_bytes,kernel_mem_used_bytes")

OPTS = [
    Opt("d", "delay", "delay", REQUIRED, "DELAY", "delay in seconds between refreshes"),
    Opt("b", "batch", "batch", NONE, help="output designed to capture to a file",
        action="store_true"),
    Opt("s", "sort", "sort", REQUIRED, "SORT", "sort by [n,c,b,m]", default="n"),
    Opt("r", "reverse", "reverse", NONE, help="sort in reverse (descending) order",
        action="store_true"),
]
HELP_OPTIONS = """\
Options :
  -d, --delay     delay in seconds between refreshes (default: 3.0)
  -b, --batch     output designed to capture to a file
  -s, --sort      sort by [n,c,b,m] (default: n) where
                  n = Name
                  c = CPU use
                  b = Block I/O use
                  m = Memory use
                  s = Memory + Swap use
                  k = Kernel memory use
  -r, --reverse   sort in reverse (descending) order
"""

FIELDS = ("cpu_ns", "cpu_sys_hz", "cpu_user_hz", "blkio_bytes", "blkio_read", "blkio_write",
          "blkio_ios", "mem_used", "memsw_used", "kmem_used")
SORT_FIELD = {"c": "cpu_ns", "b": "blkio_bytes", "m": "mem_used", "s": "memsw_used",
              "k": "kmem_used"}


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, "", "", OPTS, name_opt=False, rcfile_opt=False)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    head = (f"Usage: {prog} \n\n{prog} monitors the state of the active containers\n\n"
            + HELP_OPTIONS)
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def validate(args: Args) -> None:
    if args.delay is not None:
        try:
            delay = float(args.delay)
        except ValueError:
            raise UsageError(f"invalid delay '{args.delay}'") from None
        if not delay > 0 or delay != delay or delay == float("inf"):
            raise UsageError(f"invalid delay '{args.delay}': must be more than 0 seconds")
    if args.sort not in tuple(SORT_KEYS):
        raise UsageError(f"invalid sort key '{args.sort}': one of n, c, b, m, s, k")


def size_humanize(val: int) -> str:
    """LXC's lxc-top rendering of a byte count."""
    if val > 1 << 30:
        return "%u.%2.2u GiB" % (val >> 30, (val & ((1 << 30) - 1)) // 10737419)
    if val > 1 << 20:
        x = val + 5243
        return "%u.%2.2u MiB" % (x >> 20, ((x & ((1 << 20) - 1)) * 100) >> 20)
    if val > 1 << 10:
        x = val + 5
        return "%u.%2.2u KiB" % (x >> 10, ((x & ((1 << 10) - 1)) * 100) >> 10)
    return "%3u.00   " % val


def collect(lxcpath: str) -> List[Tuple[str, Dict[str, int]]]:
    """(name, stats with None as 0) for every running container of lxcpath."""
    from lxcz.cgroups import ops
    from lxcz.container import Container
    from lxcz.errors import LxczError

    rows = []
    for name in ops.active_names(lxcpath):
        try:
            raw = ops.stats(Container(name, lxcpath))
        except LxczError:
            continue  # stopped meanwhile
        rows.append((name, {k: int(raw.get(k) or 0) for k in FIELDS}))
    return rows


def sort_rows(rows: List[Tuple[str, Dict[str, int]]], by: str, reverse: bool) -> None:
    """Names ascending, quantities largest first, as LXC 5 shows them; -r flips."""
    if by == "n":
        rows.sort(key=lambda r: r[0], reverse=reverse)
    else:
        rows.sort(key=lambda r: r[1][SORT_FIELD[by]], reverse=not reverse)


def total_of(rows: List[Tuple[str, Dict[str, int]]]) -> Dict[str, int]:
    return {k: sum(r[1][k] for r in rows) for k in FIELDS}


def render_table(rows: List[Tuple[str, Dict[str, int]]], total: Dict[str, int], hz: int,
                 max_rows: int) -> str:
    out = [TERMCLEAR, TERMRVRS, TERMBOLD]
    extra_titles = ""
    extra_used = ""
    if total["memsw_used"] > 0:
        extra_titles += " %10s" % "MemSw"
        extra_used += " %10s" % "Used"
    if total["kmem_used"] > 0:
        extra_titles += " %10s" % "KMem"
        extra_used += " %10s" % "Used"
    out.append("%-18s %12s %12s %12s %36s %10s" % ("Container", "CPU", "CPU", "CPU", "BlkIO",
                                                  "Mem") + extra_titles + "\n")
    out.append("%-18s %12s %12s %12s %36s %10s" % ("Name", "Used", "Sys", "User",
                                                  "Total(Read/Write)", "Used")
               + extra_used + "\n")
    out.append(TERMNORM)
    shown = rows[:max(max_rows, 0)]
    for name, s in shown:
        out.append(_row(name, s, total, hz) + "\n")
    out.append(_row(f"TOTAL {len(shown)} of {len(rows)}", total, total, hz))
    return "".join(out)


def _row(name: str, s: Dict[str, int], total: Dict[str, int], hz: int) -> str:
    iosb = "%s(%s/%s)" % (size_humanize(s["blkio_bytes"]), size_humanize(s["blkio_read"]),
                          size_humanize(s["blkio_write"]))
    line = "%-18.18s %12.2f %12.2f %12.2f %36s %10s" % (
        name, s["cpu_ns"] / 1e9, s["cpu_sys_hz"] / hz, s["cpu_user_hz"] / hz, iosb,
        size_humanize(s["mem_used"]))
    if total["memsw_used"] > 0:
        line += " %10s" % size_humanize(s["memsw_used"])
    if total["kmem_used"] > 0:
        line += " %10s" % size_humanize(s["kmem_used"])
    return line


def render_batch(rows: List[Tuple[str, Dict[str, int]]], now_ms: int) -> str:
    return "".join(
        f"{now_ms},{name},{s['cpu_ns']},{s['cpu_sys_hz']},{s['cpu_user_hz']},"
        f"{s['blkio_bytes']},{s['blkio_ios']},{s['mem_used']},{s['memsw_used']},"
        f"{s['kmem_used']}\n" for name, s in rows)


def body(args: Args) -> int:
    from lxcz.container import default_lxcpath

    lxcpath = os.path.abspath(args.lxcpath or default_lxcpath())
    batch = bool(args.batch)
    delay = float(args.delay) if args.delay is not None else (300.0 if batch else 3.0)
    sort_by, reverse = args.sort, bool(args.reverse)
    if batch:
        return _batch(lxcpath, delay, sort_by, reverse)
    if not os.isatty(0):
        from lxcz.errors import LxczError

        raise LxczError("stdin is not a tty (use -b for batch output)")
    return _interactive(lxcpath, delay, sort_by, reverse)


def _batch(lxcpath: str, delay: float, sort_by: str, reverse: bool) -> int:
    out = sys.stdout
    out.write(CSV_HEADER + "\n")
    out.flush()
    from lxcz.sys import trim

    trim.long_lived()
    try:
        while True:
            rows = collect(lxcpath)
            sort_rows(rows, sort_by, reverse)
            out.write(render_batch(rows, int(time.time() * 1000)))
            out.flush()
            time.sleep(delay)
    except KeyboardInterrupt:
        return 0


def _interactive(lxcpath: str, delay: float, sort_by: str, reverse: bool) -> int:
    import fcntl
    import select
    import struct
    import termios

    hz = os.sysconf("SC_CLK_TCK") or 100
    old = termios.tcgetattr(0)
    new = termios.tcgetattr(0)
    new[3] &= ~(termios.ECHO | termios.ICANON)
    new[6][termios.VMIN] = 1
    new[6][termios.VTIME] = 0
    termios.tcsetattr(0, termios.TCSAFLUSH, new)
    from lxcz.sys import trim

    trim.long_lived()
    try:
        while True:
            try:
                size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
                max_rows = (struct.unpack("HHHH", size)[0] or 25) - 3
            except OSError:
                max_rows = 22
            rows = collect(lxcpath)
            total = total_of(rows)
            sort_rows(rows, sort_by, reverse)
            sys.stdout.write(render_table(rows, total, hz, max_rows))
            sys.stdout.flush()
            ready, _, _ = select.select([0], [], [], delay)
            if not ready:
                continue
            key = os.read(0, 1).decode(errors="replace")
            if key in ("q", ""):
                break
            if key == "r":
                reverse = not reverse
            elif key in SORT_KEYS:
                reverse = (not reverse) if key == sort_by else False
                sort_by = key
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(0, termios.TCSAFLUSH, old)
        sys.stderr.write("\n")
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    import signal

    def _quit(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGQUIT, _quit)
    try:
        return run(make_parser(prog or "lxc-top"), argv, body, validate)
    finally:
        signal.signal(signal.SIGQUIT, previous)

"""lxc-info: state, init PID, addresses, resource use and configuration of a container,
in LXC 5's layout (``KEY:`` padded to 15 columns; ``-H`` raw numbers and bare values)."""

from __future__ import annotations

import sys

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

SYNOPSIS = "--name=NAME"
DESCRIPTION = "display some information about a container with the identifier NAME"
OPTS = [
    Opt("c", "config", "keys", REQUIRED, "KEY",
        "show configuration variable KEY from running container", action="append",
        default=[]),
    Opt("i", "ips", "ips", NONE, help="shows the IP addresses", action="count"),
    Opt("p", "pid", "pid", NONE, help="shows the process id of the init container",
        action="count"),
    Opt("S", "stats", "stats", NONE, help="shows usage stats", action="count"),
    Opt("H", "no-humanize", "raw", NONE, help="shows stats as raw numbers, not humanized",
        action="store_true"),
    Opt("s", "state", "state", NONE, help="shows the state of the container",
        action="count"),
]


def make_parser(prog: str) -> ToolParser:
    return ToolParser(prog, SYNOPSIS, DESCRIPTION, OPTS)


def humanize_size(val: int) -> str:
    """A byte count the way lxc-info shows it (two decimals, KiB/MiB/GiB)."""
    if val > 1 << 30:
        return f"{val >> 30}.{(val & ((1 << 30) - 1)) // 10737419:02d} GiB"
    if val > 1 << 20:
        x = val + 5243
        return f"{x >> 20}.{((x & ((1 << 20) - 1)) * 100) >> 20:02d} MiB"
    if val > 1 << 10:
        x = val + 5
        return f"{x >> 10}.{((x & ((1 << 10) - 1)) * 100) >> 10:02d} KiB"
    return f"{val} bytes"


class _Out:
    def __init__(self, humanize: bool, filters: int) -> None:
        self.humanize = humanize
        self.filters = filters
        self.lines: List[str] = []

    def item(self, key: str, value: Any) -> None:
        if not self.humanize and self.filters == 1:
            self.lines.append(f"{value}")
        else:
            self.lines.append(f"{key:<15} {value}")

    def size(self, key: str, value: int) -> None:
        self.lines.append(f"{key:<15} {humanize_size(value) if self.humanize else value}")


def _stats(out: _Out, name: str, pid: int) -> None:
    from lxcz.cgroups import get_manager

    try:
        cg = get_manager().find(name, pid=pid)
        s: Dict[str, Optional[int]] = cg.stats() if cg is not None else {}
    except Exception:  # noqa: BLE001 - stats are best effort, like LXC's
        s = {}
    cpu = s.get("cpu_ns")
    if cpu is not None:
        out.lines.append(f"{'CPU use:':<15} {cpu / 1e9:.2f} seconds" if out.humanize
                         else f"{'CPU use:':<15} {cpu}")
    if s.get("blkio_bytes") is not None:
        out.size("BlkIO use:", s["blkio_bytes"] or 0)
    if s.get("mem_user") is not None and s.get("mem_kernel") is not None:
        out.size("Memory use:", s["mem_user"] or 0)
        out.size("KMem use:", s["mem_kernel"] or 0)


def _net_stats(out: _Out, c: Any, config_file: Optional[str]) -> None:
    if config_file:
        try:
            with open(config_file, "rb") as f:
                if b"lxc.net" not in f.read():  # no network, no round trips
                    return
        except OSError:
            pass
    from lxcz.errors import LxczError
    from lxcz.net import api as netapi
    from lxcz.runtime import client

    for i in range(0, 1 << 16):
        try:
            kind = client.get_config_item(c, f"lxc.net.{i}.type")
        except LxczError:
            return
        if not kind:
            return
        try:
            ifname = client.get_config_item(
                c, f"lxc.net.{i}.veth.pair" if kind == "veth" else f"lxc.net.{i}.link")
        except LxczError:
            return
        if not ifname:
            return
        out.lines.append(f"{'Link:':<15} {ifname}")
        stats = netapi.host_link_stats(ifname)
        if stats is None:
            continue
        rx, tx = stats  # the host's rx is what the container sent
        out.size(" TX bytes:", rx)
        out.size(" RX bytes:", tx)
        out.size(" Total bytes:", rx + tx)


def _config_value(c: Any, key: str) -> str:
    value = c.get_config_item(key)
    try:
        from lxcz.config import keys as K

        row = K.lookup(key)
        if value and row is not None and row.kind in (K.LIST, K.WORDS) and \
                not value.endswith("\n"):
            value += "\n"  # LXC returns list values one per line, newline-terminated
    except ImportError:
        pass
    return value


def body(args: Args) -> int:
    from lxcz.container import Container
    from lxcz.errors import LxczError
    from lxcz.runtime import client

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    info = client.get_info(c)
    state = info.get("state", "STOPPED")
    running = state != "STOPPED"
    if not running and not c.defined and not args.rcfile:
        raise LxczError("Container is not defined")
    filters = (args.ips or 0) + (args.state or 0) + (args.pid or 0) + 5 * (args.stats or 0)
    want_state, want_pid, want_ips, want_stats = (bool(args.state), bool(args.pid),
                                                  bool(args.ips), bool(args.stats))
    out = _Out(not args.raw, filters)
    if not (want_state or want_pid or want_ips or want_stats or args.keys):
        want_state = want_pid = want_ips = want_stats = True
        out.item("Name:", c.name)
    if want_state:
        out.item("State:", state)
    pid = int(info.get("pid", -1) or -1)
    if running:
        if want_pid and pid >= 0:
            out.item("PID:", pid)
        if want_ips and pid > 0:
            from lxcz.net import api as netapi

            for addr in sorted(netapi.ips_of_pid(pid)):
                out.item("IP:", addr)
    if want_stats and running and pid > 0:
        _stats(out, c.name, pid)
        _net_stats(out, c, info.get("config_file") or c.config_file_name)
    if out.lines:
        sys.stdout.write("\n".join(out.lines) + "\n")
        sys.stdout.flush()
    rc = 0
    for key in args.keys:
        try:
            value = _config_value(c, key)
        except LxczError:
            sys.stderr.write(f"{key} invalid\n")
            continue
        if args.raw and len(args.keys) == 1:
            sys.stdout.write(f"{value}\n")
        elif value:
            sys.stdout.write(f"{key} = {value}\n")
        else:
            sys.stdout.write(f"{key} =\n")
    return rc


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-info"), argv, body)

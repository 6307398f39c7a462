"""lxc-info: state, init PID, addresses, resource use and configuration of a container,
in LXC 5's layout (``KEY:`` padded to 15 columns; ``-H`` raw numbers and bare values)."""

from __future__ import annotations

import os
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


class _HostFS:
    """The host's cgroup files, read with one open(2) each (no stat first)."""

    @staticmethod
    def read_if_exists(path: str) -> Optional[str]:
        """The file's text; None when it does not exist; OSError for other failures."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            chunks = []
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(fd)
        return b"".join(chunks).decode("utf-8", "replace")


class _FSAdapter:
    """read_if_exists over an object with exists() and read(), like RealFS or
    lxcz.cgroups.fake.FakeCgroupFS."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def read_if_exists(self, path: str) -> Optional[str]:
        return self.fs.read(path) if self.fs.exists(path) else None


def _cg_read(fs: Any, paths: Dict[str, str], key: str) -> Optional[str]:
    """The text of cgroup file ``key`` of a running container, found as
    ``ContainerCgroup.file_for`` finds it: the v1 hierarchy of the key's controller,
    then cgroup2, then any hierarchy that has the file; None if none has it (or if the
    one that has it cannot be read)."""
    ctrl = key.split(".", 1)[0]
    order = [d for k, d in paths.items() if k != "unified" and ctrl in k.split(",")][:1]
    if "unified" in paths:
        order.append(paths["unified"])
    order.extend(d for d in paths.values() if d not in order)
    for d in order:
        try:
            text = fs.read_if_exists(os.path.join(d, key))
        except OSError:
            return None
        if text is not None:
            return text
    return None


def _cg_int(fs: Any, paths: Dict[str, str], key: str) -> Optional[int]:
    text = (_cg_read(fs, paths, key) or "").strip()
    try:
        return int(text.split()[0]) if text != "max" else None
    except (ValueError, IndexError):
        return None


def _cg_flat(fs: Any, paths: Dict[str, str], key: str) -> Dict[str, int]:
    result: Dict[str, int] = {}
    for line in (_cg_read(fs, paths, key) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            result[parts[0]] = int(parts[1])
    return result


def cgroup_stats(paths: Dict[str, str], fs: Any = None) -> Dict[str, Optional[int]]:
    """cpu_ns, blkio_bytes, mem_user and mem_kernel as ``ContainerCgroup.stats`` reports
    them, from the cgroup directories the monitor named in its get_info reply.

    Reading a handful of files directly spares lxc-info the cgroup manager, which
    parses mountinfo and imports what lxc-info otherwise never needs (signal, enum, re).
    ``fs`` is for tests (lxcz.cgroups.fake.FakeCgroupFS); the host's files by default.
    """
    fs = _FSAdapter(fs) if fs is not None else _HostFS
    v1 = {c for k in paths if k != "unified" for c in k.split(",")}
    s: Dict[str, Optional[int]] = {}
    if "cpuacct" in v1:
        s["cpu_ns"] = _cg_int(fs, paths, "cpuacct.usage")
    else:
        usage = _cg_flat(fs, paths, "cpu.stat").get("usage_usec")
        s["cpu_ns"] = usage * 1000 if usage is not None else None
    if "memory" in v1:
        s["mem_user"] = _cg_int(fs, paths, "memory.usage_in_bytes")
        s["mem_kernel"] = _cg_int(fs, paths, "memory.kmem.usage_in_bytes")
    else:
        # the file exists in a cgroup2 directory exactly when memory is enabled there
        st = _cg_flat(fs, paths, "memory.stat") if "unified" in paths else {}
        if st:
            s["mem_user"] = st.get("anon", 0) + st.get("file", 0)
            s["mem_kernel"] = sum(st.get(k, 0) for k in
                                  ("kernel_stack", "pagetables", "sock", "slab"))
        else:
            s["mem_user"] = s["mem_kernel"] = None
    s["blkio_bytes"] = None
    if "blkio" in v1:
        text = _cg_read(fs, paths, "blkio.throttle.io_service_bytes")
        if text is not None:
            read = write = 0
            total: Optional[int] = None
            for line in text.splitlines():
                cols = line.split()
                if len(cols) == 2 and cols[0] == "Total":
                    total = int(cols[1])
                elif len(cols) == 3 and cols[1] in ("Read", "Write"):
                    if cols[1] == "Read":
                        read += int(cols[2])
                    else:
                        write += int(cols[2])
            s["blkio_bytes"] = total if total is not None else read + write
    else:
        text = _cg_read(fs, paths, "io.stat")
        if text is not None:
            total = 0
            for line in text.splitlines():
                for col in line.split()[1:]:
                    k, _, v = col.partition("=")
                    if k in ("rbytes", "wbytes") and v.isdigit():
                        total += int(v)
            s["blkio_bytes"] = total
    return s


def _stats(out: _Out, name: str, pid: int, paths: Optional[Dict[str, str]]) -> None:
    try:
        if paths:
            s = cgroup_stats(paths)
        else:  # a monitor that named no cgroup: look for it by the init's membership
            from lxcz.cgroups import get_manager

            cg = get_manager().find(name, pid=pid)
            s = cg.stats() if cg is not None else {}
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
    if not running:
        c.config  # noqa: B018 - LXC 5 refuses a container whose config does not load
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
        cg = info.get("cgroup")
        _stats(out, c.name, pid, cg if isinstance(cg, dict) else None)
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

"""``lxcz net up|down|status``: the lxcbr0 bridge for users who have none, like Debian's lxc-net.

Reads the same settings file (``/etc/default/lxc-net``: USE_LXC_BRIDGE, LXC_BRIDGE,
LXC_BRIDGE_MAC, LXC_ADDR, LXC_NETMASK, LXC_NETWORK, LXC_DHCP_RANGE, LXC_DHCP_MAX,
LXC_DHCP_CONFILE, LXC_DHCP_PING, LXC_DOMAIN, LXC_USE_NFT) with the same defaults. ``up``
makes the bridge with its address (netlink, lxcz.net.netdev), turns on IPv4 forwarding, adds the NAT and
accept rules (nftables through ``nft``, or iptables where nft is missing or LXC_USE_NFT is
false), and starts dnsmasq for DHCP when it is installed. ``down`` removes what ``up``
made; a bridge that still has ports is left in place, as lxc-net does. Both are
idempotent. Nothing is created unless asked.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shlex
import shutil
import signal
import subprocess
import sys
from typing import Dict, List, Optional

from lxcz.errors import LxczError

SETTINGS = "/etc/default/lxc-net"
DEFAULTS = {
    "USE_LXC_BRIDGE": "true", "LXC_BRIDGE": "lxcbr0", "LXC_BRIDGE_MAC": "00:16:3e:00:00:00",
    "LXC_ADDR": "10.0.3.1", "LXC_NETMASK": "255.255.255.0", "LXC_NETWORK": "10.0.3.0/24",
    "LXC_DHCP_RANGE": "10.0.3.2,10.0.3.254", "LXC_DHCP_MAX": "253", "LXC_DHCP_CONFILE": "",
    "LXC_DHCP_PING": "true", "LXC_DOMAIN": "", "LXC_USE_NFT": "true",
}
RUN_DIR = "/run/lxc"


def read_settings(path: str = SETTINGS) -> Dict[str, str]:
    """The shell-style KEY="value" file, over lxc-net's defaults. Missing file = defaults."""
    values = dict(DEFAULTS)
    try:
        with open(path) as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                key, _, raw = line.partition("=")
                key = key.strip()
                if key.startswith("export "):
                    key = key[7:].strip()
                try:
                    words = shlex.split(raw, comments=True)
                except ValueError as err:
                    raise LxczError(f"{path}:{lineno}: {err}") from None
                values[key] = words[0] if words else ""
    except FileNotFoundError:
        pass
    return values


class Plan:
    """Names derived from the settings: the bridge, its marker file, its nft tables."""

    def __init__(self, s: Dict[str, str]) -> None:
        self.s = s
        self.bridge = s["LXC_BRIDGE"]
        default = self.bridge == "lxcbr0"
        # the default bridge uses lxc-net's own table and marker names, so lxcz and
        # upstream's lxc-net can take each other's bridge down
        self.table = "lxc" if default else "lxc_" + self.bridge.replace("-", "_")
        self.marker = os.path.join(RUN_DIR, "network_up" if default
                                   else f"network_up.{self.bridge}")
        self.pidfile = os.path.join(RUN_DIR, "dnsmasq.pid" if default
                                    else f"dnsmasq.{self.bridge}.pid")
        try:
            net = ipaddress.ip_network(s["LXC_NETWORK"], strict=False)
            mask = ipaddress.ip_network(f"0.0.0.0/{s['LXC_NETMASK']}").prefixlen
            self.addr = ipaddress.ip_address(s["LXC_ADDR"])
        except ValueError as err:
            raise LxczError(f"{SETTINGS}: {err}") from None
        self.network = net
        self.prefixlen = mask

    def use_nft(self) -> bool:
        return self.s.get("LXC_USE_NFT", "true") == "true" and shutil.which("nft") is not None

    def nft_up(self) -> str:
        b, n, t = self.bridge, self.network, self.table
        return (f"add table inet {t}; flush table inet {t};"
                f"add chain inet {t} input {{ type filter hook input priority 0; }};"
                f"add rule inet {t} input iifname {b} udp dport {{ 53, 67 }} accept;"
                f"add rule inet {t} input iifname {b} tcp dport {{ 53, 67 }} accept;"
                f"add chain inet {t} forward {{ type filter hook forward priority 0; }};"
                f"add rule inet {t} forward iifname {b} accept;"
                f"add rule inet {t} forward oifname {b} accept;"
                f"add table ip {t}; flush table ip {t};"
                f"add chain ip {t} postrouting {{ type nat hook postrouting priority 100; }};"
                f"add rule ip {t} postrouting ip saddr {n} ip daddr != {n} counter masquerade")

    def nft_down(self) -> str:
        t = self.table
        return f"add table inet {t}; delete table inet {t}; add table ip {t}; delete table ip {t}"

    def iptables_rules(self) -> List[List[str]]:
        b, n = self.bridge, str(self.network)
        return [
            ["INPUT", "-i", b, "-p", "udp", "--dport", "67", "-j", "ACCEPT"],
            ["INPUT", "-i", b, "-p", "tcp", "--dport", "67", "-j", "ACCEPT"],
            ["INPUT", "-i", b, "-p", "udp", "--dport", "53", "-j", "ACCEPT"],
            ["INPUT", "-i", b, "-p", "tcp", "--dport", "53", "-j", "ACCEPT"],
            ["FORWARD", "-i", b, "-j", "ACCEPT"],
            ["FORWARD", "-o", b, "-j", "ACCEPT"],
            ["-t", "nat", "POSTROUTING", "-s", n, "!", "-d", n, "-j", "MASQUERADE"],
        ]


def _iptables(action: str, rule: List[str]) -> subprocess.CompletedProcess:
    table: List[str] = []
    if rule[0] == "-t":
        table, rule = rule[:2], rule[2:]
    return subprocess.run(["iptables", "-w", *table, action, *rule], capture_output=True,
                          text=True)


def up(settings_path: str = SETTINGS) -> str:
    """Bring the bridge, rules and DHCP up; returns a line saying what happened."""
    s = read_settings(settings_path)
    if s.get("USE_LXC_BRIDGE") != "true":
        return f"USE_LXC_BRIDGE is not true in {settings_path}: nothing to do"
    plan = Plan(s)
    if os.path.exists(plan.marker) and os.path.isdir(f"/sys/class/net/{plan.bridge}"):
        return f"{plan.bridge} is already up"
    try:
        _bridge_up(plan)
        _write("/proc/sys/net/ipv4/ip_forward", "1")
        _rules(plan, add=True)
        started = _dnsmasq_start(plan)
        os.makedirs(RUN_DIR, exist_ok=True)
        with open(plan.marker, "w"):
            pass
    except BaseException:
        _down(plan, force=True)
        raise
    dhcp = "with dnsmasq DHCP" if started else "without DHCP (dnsmasq is not installed)"
    return f"{plan.bridge} up: {plan.addr}/{plan.prefixlen}, NAT for {plan.network}, {dhcp}"


def down(settings_path: str = SETTINGS, force: bool = False) -> str:
    s = read_settings(settings_path)
    plan = Plan(s)
    if not os.path.exists(plan.marker) and not force and \
            not os.path.isdir(f"/sys/class/net/{plan.bridge}"):
        return f"{plan.bridge} is already down"
    kept = _down(plan, force)
    return f"{plan.bridge} down" + (" (bridge kept: it still has ports)" if kept else "")


def status(settings_path: str = SETTINGS) -> str:
    plan = Plan(read_settings(settings_path))
    present = os.path.isdir(f"/sys/class/net/{plan.bridge}")
    marked = os.path.exists(plan.marker)
    return f"{plan.bridge}: {'up' if present and marked else 'down'}"


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(value)
    except OSError as err:
        raise LxczError(f"cannot write {path}: {err.strerror}") from None


def _bridge_up(plan: Plan) -> None:
    """The bridge, its MAC and address, up: through lxcz.net.netdev's rtnetlink client
    (pyroute2's message classes; not all of pyroute2)."""
    import socket

    from lxcz.net import netdev as nd

    with nd.Rtnl() as nl:
        try:
            idx = nl.index(plan.bridge)
            if idx is None:
                info = {"attrs": [("IFLA_INFO_KIND", "bridge")]}
                nl.call(nd.Req(nl.link(attrs=[("IFLA_IFNAME", plan.bridge),
                                              ("IFLA_LINKINFO", info)]),
                               nd.RTM_NEWLINK, nd.NLM_F_CREATE | nd.NLM_F_EXCL))
                idx = nl.index(plan.bridge)
                if idx is None:
                    raise LxczError(f"cannot set up bridge {plan.bridge}: it vanished")
            reqs = []
            if plan.s.get("LXC_BRIDGE_MAC"):
                reqs.append(nd.Req(nl.link(idx, attrs=[("IFLA_ADDRESS",
                                                        plan.s["LXC_BRIDGE_MAC"])]),
                                   nd.RTM_NEWLINK))
            query = nl.m.ifaddrmsg()
            query["family"] = socket.AF_INET
            have = {a.get_attr("IFA_ADDRESS") for a in nl.dump(query, nd.RTM_GETADDR)
                    if a["index"] == idx}
            if str(plan.addr) not in have:
                iface = ipaddress.ip_interface(f"{plan.addr}/{plan.prefixlen}")
                reqs.append(nd.Req(nl.addr(idx, iface, None), nd.RTM_NEWADDR,
                                   nd.NLM_F_CREATE | nd.NLM_F_EXCL))
            reqs.append(nd.Req(nl.link(idx, up=True), nd.RTM_NEWLINK))
            for err in nl.batch(reqs):
                if err is not None:
                    raise err
        except nl.m.NetlinkError as err:
            raise LxczError(f"cannot set up bridge {plan.bridge}: "
                            f"{os.strerror(err.code)}") from None


def _rules(plan: Plan, add: bool) -> None:
    if plan.use_nft():
        res = subprocess.run(["nft", plan.nft_up() if add else plan.nft_down()],
                             capture_output=True, text=True)
        if res.returncode != 0 and add:
            raise LxczError(f"nft: {res.stderr.strip()}")
        return
    if not shutil.which("iptables"):
        if add:
            raise LxczError("neither nft nor iptables is installed: cannot add the NAT rule")
        return
    for rule in plan.iptables_rules():
        if add:
            res = _iptables("-A" if rule[0] == "-t" else "-I", rule)
            if res.returncode != 0:
                raise LxczError(f"iptables: {res.stderr.strip()}")
        else:
            _iptables("-D", rule)


def _dnsmasq_start(plan: Plan) -> bool:
    dnsmasq = shutil.which("dnsmasq")
    if not dnsmasq:
        return False
    s = plan.s
    user = "nobody"
    import pwd

    for candidate in ("lxc-dnsmasq", "dnsmasq", "nobody"):
        try:
            pwd.getpwnam(candidate)
            user = candidate
            break
        except KeyError:
            continue
    misc = "/var/lib/misc"
    os.makedirs(misc, exist_ok=True)
    os.makedirs(RUN_DIR, exist_ok=True)
    argv = [dnsmasq, f"--conf-file={s.get('LXC_DHCP_CONFILE') or '/dev/null'}", "-u", user,
            "--strict-order", "--bind-interfaces", f"--pid-file={plan.pidfile}",
            "--listen-address", str(plan.addr), "--dhcp-range", s["LXC_DHCP_RANGE"],
            f"--dhcp-lease-max={s['LXC_DHCP_MAX']}", "--dhcp-no-override",
            "--except-interface=lo", f"--interface={plan.bridge}",
            f"--dhcp-leasefile={misc}/dnsmasq.{plan.bridge}.leases", "--dhcp-authoritative"]
    if s.get("LXC_DOMAIN"):
        argv += ["-s", s["LXC_DOMAIN"], "-S", f"/{s['LXC_DOMAIN']}/"]
    if s.get("LXC_DHCP_PING") == "false":
        argv.append("--no-ping")
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise LxczError(f"dnsmasq failed: {res.stderr.strip() or res.returncode}")
    return True


def _dnsmasq_stop(plan: Plan) -> None:
    try:
        with open(plan.pidfile) as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/comm") as fh:
            if fh.read().strip() != "dnsmasq":  # a stale pid file: not ours to kill
                pid = 0
    except OSError:
        pid = 0
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        os.unlink(plan.pidfile)
    except FileNotFoundError:
        pass


def _down(plan: Plan, force: bool) -> bool:
    """Remove rules, DHCP and the bridge; returns True when the bridge was kept."""
    _dnsmasq_stop(plan)
    _rules(plan, add=False)
    kept = False
    brif = f"/sys/class/net/{plan.bridge}/brif"
    if os.path.isdir(f"/sys/class/net/{plan.bridge}"):
        if os.path.isdir(brif) and os.listdir(brif):
            kept = True
        else:
            from lxcz.net import netdev as nd

            with nd.Rtnl() as nl:
                err = nl.batch([nd.Req(nl.link(attrs=[("IFLA_IFNAME", plan.bridge)]),
                                       nd.RTM_DELLINK)])[0]
                if err is not None and err.code != errno.ENODEV:
                    raise LxczError(f"cannot delete bridge {plan.bridge}: "
                                    f"{os.strerror(err.code)}")
    try:
        os.unlink(plan.marker)
    except FileNotFoundError:
        pass
    return kept


def main(argv: List[str]) -> int:
    """``lxcz net up|down|status [--settings FILE] [--force]``."""
    usage = "Usage: lxcz net up|down|status [--settings FILE] [--force]\n"
    settings: Optional[str] = None
    force = False
    words = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            sys.stdout.write(usage)
            return 0
        if a == "--force":
            force = True
        elif a.startswith("--settings="):
            settings = a.split("=", 1)[1]
        elif a == "--settings" and i + 1 < len(argv):
            i += 1
            settings = argv[i]
        else:
            words.append(a)
        i += 1
    if len(words) != 1 or words[0] not in ("up", "down", "status"):
        sys.stderr.write("lxcz net: say up, down or status\n" + usage)
        return 2
    path = settings or SETTINGS
    try:
        if words[0] == "up":
            msg = up(path)
        elif words[0] == "down":
            msg = down(path, force)
        else:
            msg = status(path)
    except LxczError as err:
        sys.stderr.write(f"lxcz net: {err}\n")
        return 1
    sys.stdout.write(msg + "\n")
    return 0

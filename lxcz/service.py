"""``lxcz install --service``: systemd units that start containers at boot, like Debian's.

``lxcz.service`` does what Debian's ``lxc.service`` + ``lxc-containers`` do: at start,
``lxc-autostart -g onboot,`` (the onboot group, then containers with no group); at stop,
``lxc-autostart -a -A -s -t 5``. The same ``/etc/default/lxc`` variables are honoured
(LXC_AUTO, BOOTGROUPS, SHUTDOWNDELAY, OPTIONS, STOPOPTS). ``lxcz-net.service`` brings up
lxcbr0 through ``lxcz net up`` when USE_LXC_BRIDGE is true in /etc/default/lxc-net.
``lxcz-usernet.socket`` activates the root service that gives unprivileged users veth
interfaces (``lxcz usernet serve``, see lxcz/net/usernic.py).
Installing is idempotent; a unit file not written by lxcz is never replaced.
"""

from __future__ import annotations

import os
import shutil
import subprocess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List

UNIT_DIR = "/etc/systemd/system"
MARK = "# written by lxcz install --service"

CONTAINERS_UNIT = """{mark}
[Unit]
Description=LXC containers started at boot (lxcz)
After=network.target remote-fs.target lxcz-net.service
Wants=lxcz-net.service
Documentation=man:lxc-autostart

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=LXC_AUTO=true BOOTGROUPS=onboot, SHUTDOWNDELAY=5 STOPOPTS=-a\\x20-A\\x20-s
EnvironmentFile=-/etc/default/lxc
ExecStart=/bin/sh -c '[ "$LXC_AUTO" = true ] || exit 0; exec {bindir}/lxc-autostart $OPTIONS ${{BOOTGROUPS:+-g $BOOTGROUPS}}'
ExecStop=/bin/sh -c 'exec {bindir}/lxc-autostart $STOPOPTS ${{SHUTDOWNDELAY:+-t $SHUTDOWNDELAY}}'
Delegate=yes

[Install]
WantedBy=multi-user.target
"""

NET_UNIT = """{mark}
[Unit]
Description=lxcbr0 bridge for containers (lxcz)
After=network-online.target
Before=lxcz.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={lxcz} net up
ExecStop={lxcz} net down

[Install]
WantedBy=multi-user.target
"""


def units(bindir: str, lxcz: str) -> dict:
    from lxcz.net import usernic

    out = {"lxcz.service": CONTAINERS_UNIT.format(mark=MARK, bindir=bindir),
           "lxcz-net.service": NET_UNIT.format(mark=MARK, lxcz=lxcz)}
    out.update(usernic.units(lxcz))
    return out


ENABLE = ("lxcz.service", "lxcz-net.service", "lxcz-usernet.socket")
NAMES = ENABLE + ("lxcz-usernet.service",)


def install(bindir: str, lxcz: str, unit_dir: str = UNIT_DIR) -> List[str]:
    """Write the units (only over our own); returns what was written. Raises OSError."""
    if not os.path.isdir(unit_dir):
        raise OSError(f"{unit_dir} does not exist: is this a systemd host?")
    written = []
    for name, text in units(bindir, lxcz).items():
        path = os.path.join(unit_dir, name)
        if os.path.exists(path):
            with open(path) as fh:
                old = fh.read()
            if MARK not in old:
                raise OSError(f"{path} exists and was not written by lxcz")
            if old == text:
                continue
        tmp = path + ".lxcz-new"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
        written.append(path)
    if written and shutil.which("systemctl") and os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "daemon-reload"], capture_output=True)
        subprocess.run(["systemctl", "enable", *ENABLE], capture_output=True)
    return written


def uninstall(unit_dir: str = UNIT_DIR) -> List[str]:
    removed = []
    for name in NAMES:
        path = os.path.join(unit_dir, name)
        try:
            with open(path) as fh:
                if MARK not in fh.read():
                    continue
        except FileNotFoundError:
            continue
        if shutil.which("systemctl") and os.path.isdir("/run/systemd/system"):
            subprocess.run(["systemctl", "disable", name], capture_output=True)
        os.unlink(path)
        removed.append(path)
    return removed

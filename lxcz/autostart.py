"""Which containers lxc-autostart acts on, in which order, and doing it.

The rules are LXC 5's (``man lxc-autostart``): containers are sorted by
``lxc.start.order`` (lower first, then by name); only those with ``lxc.start.auto = 1``
unless ignore_auto; then, unless all, the selected groups are walked in the order given,
each taking the containers that have that ``lxc.group`` and were not taken by an earlier
group. The empty group name is the NULL group: containers with no ``lxc.group`` at all.
With no groups given, only the NULL group is walked. Starting takes the stopped ones (and
waits ``lxc.start.delay`` seconds after each); shutdown, kill and reboot take the running
ones.
"""

from __future__ import annotations

import time

from lxcz.errors import LxczError
from lxcz.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple


def parse_groups(values: Sequence[str]) -> List[str]:
    """-g values, comma separated and repeatable, in order, duplicates dropped."""
    out: List[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part in out:
                log.warning("duplicate group \"%s\" in list: ignored", part)
                continue
            out.append(part)
    return out


def _int(cfg, key: str) -> int:
    try:
        return int(cfg.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def select(lxcpath: Optional[str], groups: Sequence[str] = (), all_groups: bool = False,
           ignore_auto: bool = False) -> List[Tuple[object, int]]:
    """The (Container, delay) pairs to act on, in LXC's order."""
    from lxcz.container import Container, list_containers

    entries = []
    for name in list_containers(active=False, defined=True, config_path=lxcpath):
        c = Container(name, lxcpath)
        try:
            cfg = c.config
        except LxczError as err:
            log.error("%s: skipped: %s", name, err)
            continue
        entries.append((_int(cfg, "lxc.start.order"), name, c, cfg))
    entries.sort(key=lambda e: (e[0], e[1]))
    chosen: List[Tuple[object, int]] = []
    taken = set()
    passes = [None] if all_groups else (list(groups) or [""])
    for group in passes:
        for _, name, c, cfg in entries:
            if name in taken:
                continue
            if not ignore_auto and _int(cfg, "lxc.start.auto") != 1:
                taken.add(name)
                continue
            if group is not None:
                mine = [g for g in cfg.get_list("lxc.group") if g]
                if (group == "" and mine) or (group != "" and group not in mine):
                    continue
            taken.add(name)
            chosen.append((c, _int(cfg, "lxc.start.delay")))
    return chosen


def run(lxcpath: Optional[str], action: str, groups: Sequence[str] = (),
        all_groups: bool = False, ignore_auto: bool = False, list_only: bool = False,
        timeout: int = 60, out=None) -> int:
    """Do action (start, shutdown, kill, reboot) or list; returns LXC's exit status."""
    import sys

    out = out or sys.stdout
    failed = 0
    acted = 0
    for c, delay in select(lxcpath, groups, all_groups, ignore_auto):
        running = c.running
        if (action == "start") == running:
            continue
        acted += 1
        if list_only:
            out.write(f"{c.name} {delay}\n" if action in ("start", "reboot") else f"{c.name}\n")
            out.flush()
            continue
        try:
            if action == "start":
                c.start()
            elif action == "shutdown":
                try:
                    c.shutdown(timeout)
                except LxczError:
                    c.stop()
            elif action == "kill":
                c.stop()
            elif action == "reboot":
                c.reboot()
        except LxczError as err:
            failed += 1
            log.error("%s: %s failed: %s", c.name, action, err)
            continue
        if action in ("start", "reboot") and delay > 0:
            time.sleep(delay)
    if failed and failed == acted:
        return 1
    return 2 if failed else 0

"""The two text files behind unprivileged networking, in upstream LXC's formats.

- ``/etc/lxc/lxc-usernet`` (lxc-usernet(5)): ``user type bridge count`` or
  ``@group type bridge count``, one rule a line; which bridges a user may attach how many
  interfaces of a type to. Lines that do not parse are ignored (as upstream does) and
  reported by ``parse_usernet`` so ``lxcz usernet status`` can show them.
- ``/run/lxc/nics``: one line per interface handed out, ``owner type bridge nicname``,
  where owner is the rule's first field (a user name or ``@group``) the interface is
  counted against. The format is upstream's, so lxc-user-nic and lxcz can share the file.

Only parsing, counting and choosing live here: no file locking, no kernel calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Tuple

IFNAMSIZ = 16


@dataclass(frozen=True)
class Rule:
    """One line of lxc-usernet: ``name`` is a user name or ``@group``."""

    name: str
    type: str
    bridge: str
    count: int
    line: int = 0

    @property
    def is_group(self) -> bool:
        return self.name.startswith("@")


@dataclass(frozen=True)
class Entry:
    """One line of the nics file."""

    owner: str
    type: str
    bridge: str
    nic: str

    def line(self) -> str:
        return f"{self.owner} {self.type} {self.bridge} {self.nic}\n"


def parse_usernet(text: str) -> Tuple[List[Rule], List[str]]:
    """Rules in file order, and one message per line that was ignored."""
    rules: List[Rule] = []
    problems: List[str] = []
    for num, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 4:
            problems.append(f"line {num}: expected 'user type bridge count', ignored")
            continue
        name, kind, bridge, count = fields[:4]
        if name == "@":
            problems.append(f"line {num}: empty group name, ignored")
            continue
        try:
            n = int(count)
        except ValueError:
            problems.append(f"line {num}: count '{count}' is not a number, ignored")
            continue
        rules.append(Rule(name, kind, bridge, max(n, 0), num))
    return rules, problems


def allotments(rules: Iterable[Rule], user: str, groups: Iterable[str], nic_type: str,
               bridge: str) -> List[Rule]:
    """The rules that give ``user`` (member of ``groups``) interfaces of ``nic_type`` on
    ``bridge``, in file order: interfaces are counted against the first one not full."""
    groupset = set(groups)
    out = []
    for rule in rules:
        if rule.type != nic_type or rule.bridge != bridge:
            continue
        if rule.name == user or (rule.is_group and rule.name[1:] in groupset):
            out.append(rule)
    return out


def parse_nics(text: str) -> List[Tuple[str, Optional[Entry]]]:
    """Each line of the nics file with its Entry (None for comments and lines we do not
    understand: those are kept as they are, so another writer's data is never lost)."""
    out: List[Tuple[str, Optional[Entry]]] = []
    for raw in text.splitlines():
        fields = raw.split()
        entry = None
        if (len(fields) == 4 and not raw.lstrip().startswith("#")
                and len(fields[3]) < IFNAMSIZ):
            entry = Entry(*fields)
        out.append((raw, entry))
    return out


def format_nics(lines: Iterable[Tuple[str, Optional[Entry]]]) -> str:
    return "".join(entry.line() if entry else raw + "\n" for raw, entry in lines)


def prune(lines: List[Tuple[str, Optional[Entry]]],
          exists: Callable[[str], bool]) -> List[Tuple[str, Optional[Entry]]]:
    """Drop entries whose interface no longer exists on the host (its container's network
    namespace went away, or its user deleted the container end)."""
    return [(raw, e) for raw, e in lines if e is None or exists(e.nic)]


def used(entries: Iterable[Optional[Entry]], owner: str, nic_type: str, bridge: str) -> List[str]:
    """Interfaces counted against one rule (same owner, type and bridge)."""
    return [e.nic for e in entries
            if e is not None and e.owner == owner and e.type == nic_type and e.bridge == bridge]


def pick_rule(entries: List[Optional[Entry]], allotted: List[Rule]) -> Optional[Rule]:
    """The first matching rule with room left, or None when every one is full."""
    for rule in allotted:
        if len(used(entries, rule.name, rule.type, rule.bridge)) < rule.count:
            return rule
    return None

"""Seccomp policy files (lxc.seccomp.profile, legacy lxc.seccomp) as LXC reads them.

Public API:

- ``load_policy(path: str) -> Policy`` and ``parse_policy(text, path="<string>")``:
  raise ``lxcz.errors.ConfigError(msg, path, line)`` for anything LXC would refuse and for
  things it would silently misread.
- ``Policy``: ``version`` (1 or 2), ``mode`` ("allowlist"/"denylist"), ``default_action``
  (a SECCOMP_RET_* value for calls no rule matches), ``rules`` (list of ``Rule``),
  ``path``. ``Rule``: ``section`` (arch name or "all"), ``name`` (syscall name, None in
  version 1), ``nr`` (raw number, version 1 only), ``action``, ``args`` (tuple of
  ``ArgCmp``), ``line``. ``ArgCmp``: ``index`` 0-5, ``op`` (one of ``OPS``), ``value``,
  ``mask``.

The format (``man 5 lxc.container.conf`` and LXC 5's reader):

- line 1 is the version, ``1`` or ``2``;
- line 2 is the policy type: ``allowlist`` or ``denylist`` (the old words ``whitelist``
  and ``blacklist`` mean the same), optionally followed by the default action for calls
  without a rule; version 1 is always an allowlist; ``debug`` is refused as in LXC;
- version 1: one syscall number (of the running architecture) per line. Calls not
  listed fail with ENOSYS (see docs/seccomp.md for why not SIGSYS);
- version 2: ``NAME [ACTION] [[IDX,VALUE,OP] | [IDX,VALUE,OP,MASK] ...]`` per line, and
  ``[arch]`` section lines (``[all]``, ``[x86]``/``[i386]``, ``[x86_64]``/``[amd64]``,
  ``[x32]``, ``[arm]``, ``[arm64]``/``[aarch64]``, ``[ppc64le]``, ``[ppc64]``, ``[ppc]``,
  ``[s390x]``, ``[s390]``, ``[riscv64]``; mips and loongarch sections are accepted and
  ignored, lxcz does not run there). Rules before any section apply to every arch.
  ACTION is ``allow``, ``kill``, ``trap``, ``errno N`` (0-4095); without one a rule means
  ``allow`` in an allowlist and ``kill`` in a denylist, as in LXC. ``notify`` is refused
  (lxcz has no seccomp notify proxy). OP is SCMP_CMP_EQ/NE/LT/LE/GE/GT/MASKED_EQ or
  ``== != < <= >= > &=``; MASKED_EQ matches when ``(arg & MASK) == VALUE``.
  ``reject_force_umount`` makes ``umount2(..., MNT_FORCE)`` fail with EACCES.
- ``#`` starts a comment (whole line, or after a blank); blank lines are ignored.

A syscall name no architecture knows is an error; a name that exists elsewhere but not on
the architecture being compiled is skipped with a warning by the compiler.

Loading a policy is on the start path of every container that has one, so this module
imports neither ``re`` nor ``typing`` (with enum they cost ten times what parsing
Debian's profile takes); the few patterns of the format are matched with str methods.
"""

from __future__ import annotations

from collections import namedtuple

from lxcz.errors import ConfigError
from lxcz.sys.seccomp import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_TRAP,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

ENOSYS = 38
EACCES = 13
MNT_FORCE = 1
MAX_ERRNO = 4095

OPS = ("ne", "lt", "le", "eq", "ge", "gt", "masked_eq")
_OP_WORDS = {
    "SCMP_CMP_NE": "ne", "!=": "ne",
    "SCMP_CMP_LT": "lt", "<": "lt",
    "SCMP_CMP_LE": "le", "<=": "le",
    "SCMP_CMP_EQ": "eq", "==": "eq",
    "SCMP_CMP_GE": "ge", ">=": "ge",
    "SCMP_CMP_GT": "gt", ">": "gt",
    "SCMP_CMP_MASKED_EQ": "masked_eq", "&=": "masked_eq",
}

# section word (lower case) -> lxcz arch name; None: a valid LXC section lxcz ignores
SECTIONS = {
    "all": "all",
    "x86": "i386", "i386": "i386", "i686": "i386",
    "x32": "x32",
    "x86_64": "x86_64", "amd64": "x86_64",
    "arm": "arm", "armhf": "arm", "armel": "arm",
    "arm64": "aarch64", "aarch64": "aarch64",
    "ppc64le": "ppc64le", "ppc64el": "ppc64le",
    "ppc64": "ppc64",
    "ppc": "ppc",
    "s390x": "s390x",
    "s390": "s390",
    "riscv64": "riscv64",
    "mips": None, "mips64": None, "mips64n32": None, "mipsel": None, "mipsel64": None,
    "mipsel64n32": None, "loongarch64": None,
}

ALLOWLIST_WORDS = ("allowlist", "whitelist")
DENYLIST_WORDS = ("denylist", "blacklist")


_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdefABCDEF")


class ArgCmp(namedtuple("ArgCmp", "index op value mask", defaults=(0,))):
    """One argument comparison: index (int), op (str), value (int), mask (int, 0)."""

    __slots__ = ()


class Rule(namedtuple("Rule", "section name nr action args line")):
    """section (str), name (str or None), nr (int or None), action (int), args (tuple
    of ArgCmp), line (int)."""

    __slots__ = ()


class Policy(namedtuple("Policy", "version mode default_action rules path")):
    """version (int), mode (str), default_action (int), rules (list of Rule), path."""

    __slots__ = ()


def _decimal(text: str) -> bool:
    """What ``re.fullmatch(r"\\d+", text)`` says: one or more (Unicode) decimal digits."""
    return text.isdecimal()


def action_name(action: int) -> str:
    kind = action & 0xFFFF0000
    if kind == SECCOMP_RET_ERRNO:
        return f"errno {action & 0xFFFF}"
    return {SECCOMP_RET_ALLOW: "allow", SECCOMP_RET_KILL_PROCESS: "kill",
            SECCOMP_RET_TRAP: "trap"}.get(kind, hex(action))


def _action(words: List[str], path: str, line: int) -> int:
    """An action from its words (['errno', '1'], ['kill'], ...)."""
    word = words[0].lower()
    rest = words[1:]
    if word == "errno":
        if len(rest) != 1 or not _decimal(rest[0]):
            raise ConfigError('"errno" needs a number, as in "errno 1"', path, line)
        err = int(rest[0])
        if err > MAX_ERRNO:
            raise ConfigError(f"errno {err} is out of range (0-{MAX_ERRNO})", path, line)
        return SECCOMP_RET_ERRNO | err
    if word == "notify":
        raise ConfigError('seccomp action "notify" is not supported by lxcz '
                          '(it has no seccomp notify proxy); use "errno N" instead',
                          path, line)
    simple = {"kill": SECCOMP_RET_KILL_PROCESS, "allow": SECCOMP_RET_ALLOW,
              "trap": SECCOMP_RET_TRAP}
    if word not in simple:
        raise ConfigError(f'unknown seccomp action "{" ".join(words)}"', path, line)
    if rest:
        raise ConfigError(f'unexpected "{" ".join(rest)}" after action "{word}"',
                          path, line)
    return simple[word]


def _strip_comment(text: str) -> str:
    """The text before a comment (a '#' at the start or after white space), stripped."""
    i = text.find("#")
    while i > 0 and not text[i - 1].isspace():
        i = text.find("#", i + 1)
    return text[:i].strip() if i >= 0 else text.strip()


def _int(text: str) -> int:
    """An unsigned integer as strtoull(..., 0) reads it: 12, 0x1f, 017."""
    t = text.strip()
    if len(t) > 1 and t[0] == "0" and _OCTAL.issuperset(t[1:]):
        return int(t, 8)
    if (len(t) > 2 and t[0] == "0" and t[1] in "xX" and _HEX.issuperset(t[2:])) or \
            _decimal(t):
        return int(t, 0)
    raise ValueError(t)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _bracketed(text: str, pos: int) -> Optional[Tuple[str, int]]:
    """At pos, optional white space, ``[FIELDS]`` (no brackets inside), optional white
    space: (FIELDS, the position after it all), or None."""
    pos = _skip_space(text, pos)
    if pos >= len(text) or text[pos] != "[":
        return None
    end = text.find("]", pos + 1)
    if end < 0 or "[" in text[pos + 1:end]:
        return None
    return text[pos + 1:end], _skip_space(text, end + 1)


def _args(text: str, path: str, line: int) -> Tuple[ArgCmp, ...]:
    out = []
    pos = 0
    while pos < len(text):
        found = _bracketed(text, pos)
        if found is None:
            raise ConfigError(f'cannot read argument filter "{text[pos:].strip()}" '
                              '(expected [index,value,op] or [index,value,op,mask])',
                              path, line)
        inner, pos = found
        fields = [f.strip() for f in inner.split(",")]
        if len(fields) not in (3, 4):
            raise ConfigError(f'argument filter "[{inner}]" needs 3 or 4 fields: '
                              "[index,value,op] or [index,value,op,mask]", path, line)
        try:
            index = _int(fields[0])
        except ValueError:
            raise ConfigError(f'bad argument index "{fields[0]}"', path, line) from None
        if index > 5:
            raise ConfigError(f"argument index {index} is out of range (0-5)", path, line)
        vals = []
        for what, f in (("value", fields[1]), ("mask", fields[3] if len(fields) == 4 else "0")):
            try:
                v = _int(f)
            except ValueError:
                raise ConfigError(f'bad argument {what} "{f}"', path, line) from None
            if v >= 1 << 64:
                raise ConfigError(f'argument {what} "{f}" does not fit in 64 bits',
                                  path, line)
            vals.append(v)
        op = _OP_WORDS.get(fields[2])
        if op is None:
            raise ConfigError(f'unknown comparison "{fields[2]}" (expected one of '
                              "SCMP_CMP_EQ, SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, "
                              "SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)", path, line)
        out.append(ArgCmp(index, op, vals[0], vals[1]))
    if len(out) > 6:
        raise ConfigError("a rule takes at most 6 argument filters", path, line)
    return tuple(out)


def _header(lines: List[str], path: str) -> Tuple[int, str, Optional[int]]:
    if not lines:
        raise ConfigError("empty seccomp policy (line 1 must be the version, 1 or 2)", path)
    first = lines[0].strip()
    if first not in ("1", "2"):
        raise ConfigError(f'invalid seccomp policy version "{first}" (expected 1 or 2)',
                          path, 1)
    version = int(first)
    if len(lines) < 2:
        raise ConfigError("missing policy type on line 2 (allowlist or denylist)", path, 2)
    words = _strip_comment(lines[1]).split()
    if "debug" in (w.lower() for w in words):
        raise ConfigError('seccomp policy "debug" is not implemented', path, 2)
    if not words:
        raise ConfigError("missing policy type on line 2 (allowlist or denylist)", path, 2)
    kind = words[0].lower()
    if kind in ALLOWLIST_WORDS:
        mode = "allowlist"
    elif kind in DENYLIST_WORDS:
        mode = "denylist"
    else:
        raise ConfigError(f'bad seccomp policy type "{words[0]}" '
                          "(expected allowlist, denylist, whitelist or blacklist)", path, 2)
    if version == 1 and mode != "allowlist":
        raise ConfigError("version 1 seccomp policies can only be allowlists", path, 2)
    default = _action(words[1:], path, 2) if len(words) > 1 else None
    return version, mode, default


def parse_policy(text: str, path: str = "<string>") -> Policy:
    from lxcz.sys import arch as archmod

    lines = text.splitlines()
    version, mode, default = _header(lines, path)
    rules: List[Rule] = []
    if version == 1:
        for no, raw in enumerate(lines[2:], start=3):
            body = _strip_comment(raw)
            if not body:
                continue
            if not _decimal(body):
                raise ConfigError(f'expected a syscall number, got "{body}"', path, no)
            if int(body) > 0xFFFFFFFF:
                raise ConfigError(f"syscall number {body} is out of range", path, no)
            rules.append(Rule("native", None, int(body), SECCOMP_RET_ALLOW, (), no))
        if default is None:
            default = SECCOMP_RET_ERRNO | ENOSYS
        return Policy(1, mode, default, rules, path)

    if default is None:
        default = SECCOMP_RET_ALLOW if mode == "denylist" else SECCOMP_RET_KILL_PROCESS
    rule_default = SECCOMP_RET_KILL_PROCESS if mode == "denylist" else SECCOMP_RET_ALLOW
    known = archmod.all_syscall_names()
    section: Optional[str] = "all"
    for no, raw in enumerate(lines[2:], start=3):
        body = _strip_comment(raw)
        if not body:
            continue
        if body.startswith("["):
            word = body[1:-1].strip() if body.endswith("]") and len(body) > 1 else ""
            if not word or not _WORD.issuperset(word) or word.lower() not in SECTIONS:
                raise ConfigError(f'unsupported architecture section "{body}"', path, no)
            section = SECTIONS[word.lower()]
            continue
        if section is None:  # a section for an architecture lxcz does not run on
            continue
        end = 0  # the name: up to white space or '[' (body is stripped, not '[...')
        while end < len(body) and not body[end].isspace() and body[end] != "[":
            end += 1
        if not end:
            raise ConfigError(f'bad seccomp rule "{body}"', path, no)
        name, rest = body[:end], body[end:].lstrip()
        bracket = rest.find("[")
        action_text = rest if bracket < 0 else rest[:bracket]
        arg_text = "" if bracket < 0 else rest[bracket:]
        words = action_text.split()
        action = _action(words, path, no) if words else rule_default
        args = _args(arg_text, path, no) if arg_text.strip() else ()
        if name == "reject_force_umount":
            if words or args:
                raise ConfigError("reject_force_umount takes no action or arguments",
                                  path, no)
            rules.append(Rule(section, "umount2", None, SECCOMP_RET_ERRNO | EACCES,
                              (ArgCmp(1, "masked_eq", MNT_FORCE, MNT_FORCE),), no))
            continue
        if not (_WORD.issuperset(name) and not name[0].isdigit()):
            raise ConfigError(f'bad syscall name "{name}"', path, no)
        if name not in known:
            raise ConfigError(f'unknown syscall "{name}"', path, no)
        rules.append(Rule(section, name, None, action, args, no))
    return Policy(2, mode, default, rules, path)


def load_policy(path: str) -> Policy:
    """Read and check a policy file; ConfigError(msg, path, line) when it is wrong."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read seccomp policy: {e.strerror}", path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("seccomp policy is not UTF-8 text", path) from None
    return parse_policy(text, path)

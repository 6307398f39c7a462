"""docs/lxc.container.conf.md, generated from the key table.

``python3 -m lxcz.config.reference > docs/lxc.container.conf.md`` rewrites the page; a unit
test fails when the page and the table disagree.
"""

from __future__ import annotations

from lxcz.config import keys as K

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List

HEAD = """\
# lxc.container.conf — container configuration keys

lxcz reads LXC 5's configuration language (see `man 5 lxc.container.conf`): one
`KEY = VALUE` per line, `#` comments, blank lines, blanks around the key and the value
ignored, and one pair of matching quotes around a value removed. `lxc.include = PATH` reads
a file, or every `*.conf` file of a directory in name order, at that point; a directory
(or a path ending in `/`) that does not exist includes nothing, as in LXC, while a missing
file is an error.

This page is generated from the key table, `lxcz/config/keys.py`
(`python3 -m lxcz.config.reference > docs/lxc.container.conf.md`); it lists every key
LXC 5.0 accepts.

Kinds: **single** — the last line wins, an empty value unsets it; **list** — each line adds
one value, an empty value clears the list; **words** — each line adds its blank-separated
words, an empty value clears; **family** — takes only an empty value, which clears every
key under it. `get_config_item` prints list values one a line (`lxc.mount.auto`
space-separated).

**Applied** says whether `lxc-start` acts on the key yet. A container whose configuration
sets a key marked "no" does not start: lxcz names the key and the file and line rather
than silently ignore it (security keys included). Runtime work flips the marks.

## Where lxcz differs from LXC 5, and why

- A line that is not a comment, a blank or a known key is an error
  (`FILE:LINE: unknown key "..."`); LXC silently ignores lines that do not start with
  `lxc.`. A misspelt key must not be dropped without a word.
- Values are checked when the file is read (addresses, id maps, signals, integers,
  booleans, `lxc.mount.auto` words, sizes, network types, ...), not only when the
  container starts.
- Pre-3.0 keys (`lxc.utsname`, `lxc.network.*`, `lxc.rootfs`, ...) are read with one
  warning per key and translated in memory (LXC 5 refuses them); saving the configuration
  writes today's keys. `lxc-update-config -c FILE` rewrites a file (see
  lxc-update-config.md).
- A relative `lxc.include` path is taken relative to the including file's directory
  (LXC: relative to the current directory); an include of something that is not a regular
  file or a directory (a FIFO, a device) is an error instead of a hang.
- `lxc.include` of a file that includes itself, directly or not, is an error ("include
  loop") instead of unbounded recursion.
- Repeated `lxc.cgroup.*`/`lxc.cgroup2.*` lines (`devices.allow`, ...) are all kept in file
  order, as in LXC; the Python API gives them with `prefixed_items()`.
- `get_config_item` joins the values of a list key with newlines, without LXC's trailing
  newline; single values print as LXC prints them (signal numbers, log level names, console
  sizes in bytes rounded to a power of two, addresses with their prefix). A key that is
  not set gives what LXC's getter gives for it: its default where LXC prints one (`0` for
  `lxc.start.auto`, `NOTSET` for `lxc.log.level`; "not set" in the table below), else
  an empty string (LXC prints `(null)` for the `lxc.cgroup.dir*` keys; lxcz does not).
- `lxc.rootfs.path` is given as written, storage type included (`dir:/path`); LXC's
  getter drops the type.
"""


def _kind(row: K.Key) -> str:
    return row.kind


def _legacy(row: K.Key, prefix: str = "") -> str:
    return ", ".join(f"`{prefix}{o}`" for o in row.legacy)


def markdown() -> str:
    out: List[str] = [HEAD, "## Keys", "",
                      "| Key | Kind | Applied | Example | Pre-3.0 name | Meaning |",
                      "|---|---|---|---|---|---|"]
    for row in K.ROWS:
        name = K.doc_name(row)
        if row.is_prefix:
            name = row.name + "*"
        example = (f"`{row.name}{row.sub_example} = {row.example}`" if row.is_prefix
                   else f"`{row.example}`" if row.example else "")
        unset = f" (not set: `{row.unset}`)" if row.unset else ""
        out.append(f"| `{name}` | {_kind(row)} | {'yes' if row.applied else 'no'} | "
                   f"{example} | {_legacy(row)} | {row.doc}{unset} |")
    out += ["", "## Network keys: `lxc.net.N.*`", "",
            "Each interface is numbered N (0, 1, ...); `lxc.net =` (empty) removes every "
            "interface. The pre-3.0 forms `lxc.network.N.KEY` and the unindexed "
            "`lxc.network.KEY` (each `lxc.network.type` starts the next interface) are read "
            "with a warning; `lxc.network.ipv4`/`ipv6` become `ipv4.address`/`ipv6.address`.",
            "",
            "| Key | Kind | Applied | Example | Pre-3.0 name | Meaning |",
            "|---|---|---|---|---|---|"]
    for row in K.NET_KEYS:
        out.append(f"| `lxc.net.N.{row.name}` | {_kind(row)} | "
                   f"{'yes' if row.applied else 'no'} | `{row.example}` | "
                   f"{_legacy(row, 'lxc.network.')} | {row.doc} |")
    out += ["", "## Pre-3.0 keys dropped without a successor", "",
            ", ".join(f"`{k}`" for k in K.LEGACY_DROPPED)
            + " — read with a warning and ignored (`lxc.rootfs.backend` only serves "
            "`lxc-update-config`, which prefixes the rootfs path with it).", ""]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())

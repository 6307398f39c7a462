"""Names of a running container's rendezvous points, all abstract unix sockets.

Abstract sockets vanish with the process that holds them, so a monitor killed with
SIGKILL leaves no file, lock or socket behind. Names carry a hash of the lxcpath (an
lxcpath may be longer than a socket name allows) followed by the container name.
"""

from __future__ import annotations

import os

PREFIX = "lxcz"


def fnv1a64(data: bytes) -> int:
    """64-bit FNV-1a of data (LXC hashes its long socket names with it too; hashlib would
    cost more start-up time than the whole lookup; this is not a security boundary)."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def lxcpath_key(lxcpath: str) -> str:
    """A short stable key for an lxcpath: its fnv1a64 in 16 hex digits."""
    return f"{fnv1a64(os.path.abspath(lxcpath).encode()):016x}"


def command_socket(lxcpath: str, name: str) -> str:
    """Abstract name (without the leading NUL) of NAME's command socket."""
    return f"{PREFIX}/{lxcpath_key(lxcpath)}/{name}/command"


def lxc_command_socket(lxcpath: str, name: str) -> str:
    """The abstract name (without its leading NUL) upstream LXC's monitor of NAME binds:
    ``LXCPATH/NAME/command``, or ``lxc/HASH/command`` when that would not fit a socket
    address (HASH: FNV-1a 64 of ``LXCPATH/NAME``). lxcz's monitor binds it as well."""
    lxcpath = os.path.abspath(lxcpath)
    plain = f"{lxcpath}/{name}/command"
    if len(plain.encode()) < 106:  # sun_path's 108, less LXC's NULs at both ends
        return plain
    return f"lxc/{fnv1a64(f'{lxcpath}/{name}'.encode()):016x}/command"


def is_defined(lxcpath: str, entry: str) -> bool:
    """Whether lxcpath's entry is a container: a config file in it, and not a dot
    directory (LXC skips those too)."""
    return entry[:1] != "." and os.path.isfile(os.path.join(lxcpath, entry, "config"))


def lock_socket(lxcpath: str, name: str) -> str:
    return f"{PREFIX}/{lxcpath_key(lxcpath)}/{name}/lock"


def event_prefix(lxcpath: str) -> str:
    """Prefix of the datagram sockets lxc-monitor and lxc-wait listen on."""
    return f"{PREFIX}-events/{lxcpath_key(lxcpath)}/"


def abstract(name: str) -> bytes:
    return b"\0" + name.encode()


def abstract_names(prefix: str) -> list:
    """Bound abstract socket names starting with prefix, from /proc/net/unix (searched,
    not split into lines: a busy host lists thousands of sockets, and a monitor that
    makes an object for each one writes to memory it shares with its init)."""
    found = []
    want = b" @" + prefix.encode()
    try:
        with open("/proc/net/unix", "rb") as f:
            data = f.read()
    except OSError:
        return found
    at = data.find(want)
    while at >= 0:
        end = data.find(b"\n", at)
        if end < 0:
            end = len(data)
        found.append(data[at + 2:end].decode("utf-8", "replace"))
        at = data.find(want, end)
    return found

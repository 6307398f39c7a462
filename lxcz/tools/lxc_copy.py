"""lxc-copy: copy, snapshot-clone, rename, or start an ephemeral copy of a container."""

from __future__ import annotations

import os

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

OPTIONS = [
    Opt("N", "newname", "newname", REQUIRED, "NEWNAME", "NEWNAME for the restored container"),
    Opt("p", "newpath", "newpath", REQUIRED, "NEWPATH", "NEWPATH for the container to be stored"),
    Opt("R", "rename", "rename", NONE, help="rename container", action="store_true"),
    Opt("s", "snapshot", "snapshot", NONE, help="create snapshot instead of clone",
        action="store_true"),
    Opt("a", "allowrunning", "allowrunning", NONE, action="store_true",
        help="allow snapshot creation even if source container is running"),
    Opt("F", "foreground", "daemon", NONE, action="store_const", const=False,
        help="start with current tty attached to /dev/console"),
    Opt("d", "daemon", "daemon", NONE, action="store_const", const=True,
        help="daemonize the container (default)"),
    Opt("e", "ephemeral", "ephemeral", NONE, help="start ephemeral container",
        action="store_true"),
    Opt("m", "mount", "mount", REQUIRED, "MNT", action="append", default=[],
        help="directory to mount into container, either \n{bind,overlay}=/src-path or "
             "{bind,overlay}=/src-path:/dst-path"),
    Opt("B", "backingstorage", "bdev", REQUIRED, "TYPE",
        "backingstorage type for the container"),
    Opt("t", "tmpfs", "tmpfs", NONE, action="store_true",
        help="place ephemeral container on a tmpfs\n(WARNING: On reboot all changes made to "
             "the container will be lost.)"),
    Opt("L", "fssize", "fssize", REQUIRED, "SIZE",
        "size of the new block device for block device containers"),
    Opt("D", "keepdata", "keepdata", NONE, action="store_true",
        help="pass together with -e start a persistent snapshot "),
    Opt("K", "keepname", "keepname", NONE, action="store_true",
        help="keep the hostname of the original container"),
    Opt("M", "keepmac", "keepmac", NONE, action="store_true",
        help="keep the MAC address of the original container"),
]

SYNOPSIS = ("\n--name=NAME [-P lxcpath] -N newname [-p newpath] [-B backingstorage] [-s] [-K] "
            "[-M] [-L size [unit]] -- hook options\n--name=NAME [-P lxcpath] [-N newname] "
            "[-p newpath] [-B backingstorage] -e [-d] [-D] [-K] [-M] "
            "[-m {bind,overlay}=/src:/dest] -- hook options\n--name=NAME [-P lxcpath] "
            "-N newname -R")


def parser(prog: str) -> ToolParser:
    return ToolParser(prog, SYNOPSIS, "clone a container", OPTIONS)


def validate(args: Args) -> None:
    if args.rename and (args.ephemeral or args.snapshot):
        raise UsageError("-R cannot be combined with -e or -s")
    if not args.newname and not args.ephemeral:
        raise UsageError("a new name is needed: -N NEWNAME")
    if (args.tmpfs or args.keepdata or args.mount) and not args.ephemeral:
        raise UsageError("-t, -D and -m go with -e")
    if args.tmpfs and args.keepdata:
        raise UsageError("-t and -D cannot be combined: a tmpfs does not keep data")
    for spec in args.mount or []:
        kind, _, paths = spec.partition("=")
        if kind not in ("bind", "overlay") or not paths:
            raise UsageError(f"invalid mount '{spec}': {{bind,overlay}}=/src[:/dest]")


def body(args: Args) -> int:
    from lxcz.container import Container
    from lxcz.errors import LxczError
    from lxcz.storage import bdev
    from lxcz.storage import clone as cl

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    if not c.defined:
        raise LxczError(f"{args.name} does not exist")
    if args.rename:
        if args.newpath and os.path.abspath(args.newpath) != c.config_path:
            raise LxczError("-R renames in place: -p cannot move a container")
        c.rename(args.newname)
        return 0
    size = bdev.parse_size(args.fssize) if args.fssize else 0
    flags = 0
    if args.keepname:
        flags |= cl.LXC_CLONE_KEEPNAME
    if args.keepmac:
        flags |= cl.LXC_CLONE_KEEPMACADDR
    if args.snapshot or args.ephemeral:
        flags |= cl.LXC_CLONE_SNAPSHOT
    if args.allowrunning or args.ephemeral:
        flags |= cl.LXC_CLONE_ALLOW_RUNNING
    newname = args.newname
    if args.ephemeral and not newname:
        import random
        import string

        suffix = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(6))
        newname = f"{args.name}-{suffix}"
    bdevtype = args.bdev
    if args.ephemeral and not bdevtype:
        bdevtype = "overlay"
    new = c.clone(newname, args.newpath or None, flags, bdevtype, None, size,
                  args.command)
    if not args.ephemeral:
        return 0
    try:
        _make_ephemeral(new, args)
        new.start(daemonize=args.daemon is not False)
    except BaseException:
        new.destroy()
        raise
    if args.daemon is not False:
        print(f"Created {new.name} as clone of {c.name}")
    return 0


def _make_ephemeral(new, args: Args) -> None:
    """lxc.ephemeral, bind mounts from -m, and a tmpfs upper layer for -t.

    The tmpfs is mounted by a pre-mount hook, which runs in the container's own mount
    namespace: it disappears with the container and never shows on the host.
    """
    if not args.keepdata:
        new.set_config_item("lxc.ephemeral", "1")
    for spec in args.mount or []:
        kind, _, paths = spec.partition("=")
        src, _, dst = paths.partition(":")
        dst = (dst or src).lstrip("/")
        if kind == "overlay":
            from lxcz.errors import LxczError

            raise LxczError(f"-m overlay={paths}: overlay mounts are not supported yet; "
                            "use bind=")
        new.set_config_item("lxc.mount.entry", f"{src} {dst} none bind,create=dir 0 0")
    if args.tmpfs:
        from lxcz.storage.bdev import overlay

        _, upper = overlay.split(new.get_config_item("lxc.rootfs.path"))
        base = os.path.dirname(upper)
        new.set_config_item("lxc.hook.pre-mount",
                            f"/bin/sh -c 'mount -t tmpfs -o mode=0755 lxcz-ephemeral {base}"
                            f" && mkdir -p {upper} {base}/work'")
    new.save_config()


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(parser(prog or "lxc-copy"), argv, body, validate)

"""lxc-create: make a container from a template (built-in busybox, LXC's lxc-NAME scripts,
or none) with an initial configuration (-f FILE or lxc.default_config)."""

from __future__ import annotations

import sys

from lxcz.tools.common import REQUIRED, Args, Opt, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME --template=TEMPLATE [OPTION...] [-- template-options]"
OPTIONS_TEXT = """\
Options :
  -n, --name=NAME               NAME of the container
  -f, --config=CONFIG           Initial configuration file
  -t, --template=TEMPLATE       Template to use to setup container
  -B, --bdev=BDEV               Backing store type to use
      --dir=DIR                 Place rootfs directory under DIR

  BDEV options for LVM (with -B/--bdev lvm):
      --lvname=LVNAME           Use LVM lv name LVNAME
                                (Default: container name)
      --vgname=VG               Use LVM vg called VG
                                (Default: lxc)
      --thinpool=TP             Use LVM thin pool called TP
                                (Default: lxc)

  BDEV options for Ceph RBD (with -B/--bdev rbd) :
      --rbdname=RBDNAME         Use Ceph RBD name RBDNAME
                                (Default: container name)
      --rbdpool=POOL            Use Ceph RBD pool name POOL
                                (Default: lxc)

  BDEV option for ZFS (with -B/--bdev zfs) :
      --zfsroot=PATH            Create zfs under given zfsroot
                                (Default: tank/lxc)

  BDEV options for LVM or Loop (with -B/--bdev lvm/loop) :
      --fstype=TYPE             Create fstype TYPE
                                (Default: ext4)
      --fssize=SIZE[U]          Create filesystem of
                                size SIZE * unit U (bBkKmMgGtT)
                                (Default: 1G, default unit: M)
  -- template-options
         This will pass template-options to the template as arguments.
         To see the list of options supported by the template,
         you can run lxc-create -t TEMPLATE -h.
"""

OPTS = [
    Opt("f", "config", "configfile", REQUIRED, "CONFIG", "Initial configuration file"),
    Opt("t", "template", "template", REQUIRED, "TEMPLATE", "Template to use"),
    Opt("B", "bdev", "bdevtype", REQUIRED, "BDEV", "Backing store type to use"),
    Opt(None, "dir", "dir", REQUIRED, "DIR", "Place rootfs directory under DIR"),
    Opt(None, "lvname", "lvname", REQUIRED, "LVNAME"),
    Opt(None, "vgname", "vgname", REQUIRED, "VG"),
    Opt(None, "thinpool", "thinpool", REQUIRED, "TP"),
    Opt(None, "fstype", "fstype", REQUIRED, "TYPE"),
    Opt(None, "fssize", "fssize", REQUIRED, "SIZE[U]"),
    Opt(None, "zfsroot", "zfsroot", REQUIRED, "PATH"),
    Opt(None, "rbdname", "rbdname", REQUIRED, "RBDNAME"),
    Opt(None, "rbdpool", "rbdpool", REQUIRED, "POOL"),
    Opt(None, "rbduser", "rbduser", REQUIRED, "RBDUSER"),
]


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "creates a container", OPTS, rcfile_opt=False)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    head = f"Usage: {prog} {SYNOPSIS}\n\n{prog} creates a container\n\n"
    parser.help_text = lambda: head + OPTIONS_TEXT + tail  # type: ignore[method-assign]
    return parser


def _bdev_args_check(args: Args) -> Optional[str]:
    b = args.bdevtype or "_unset"
    if b == "best":
        return None
    if (args.fstype or args.fssize) and b not in ("lvm", "loop", "rbd"):
        return "Filesystem type and size are only valid with block devices"
    if (args.lvname or args.vgname or args.thinpool) and b != "lvm":
        return "--lvname, --vgname and --thinpool are only valid with -B lvm"
    if (args.rbdname or args.rbdpool or args.rbduser) and b != "rbd":
        return "--rbdname and --rbdpool are only valid with -B rbd"
    if args.zfsroot and b != "zfs":
        return "zfsroot is only valid with -B zfs"
    return None


def _template_help(template: str) -> None:
    """After lxc-create's own help, show the template's (like LXC's -t NAME -h)."""
    import subprocess

    from lxcz.errors import LxczError
    from lxcz.storage import templates

    try:
        path = templates.find(template)
    except LxczError as err:
        sys.stderr.write(f"{err}\n")
        return
    if path in templates.BUILTIN:
        from lxcz.storage.templates import busybox

        sys.stdout.write(busybox.HELP.format(default=busybox.default_busybox() or "none"))
        return
    sys.stdout.flush()
    subprocess.run([path, "-h"], check=False)


def body(args: Args) -> int:
    from lxcz.container import Container
    from lxcz.errors import LxczError
    from lxcz.storage.templates import TemplateHelp

    if not args.template:
        raise LxczError('A template must be specified (use "none" if you really want a '
                        'container without a rootfs)')
    problem = _bdev_args_check(args)
    if problem:
        raise LxczError(problem)
    template = None if args.template == "none" else args.template
    c = Container(args.name, args.lxcpath)
    try:
        c.create(template, 1 if args.quiet else 0, args.command, args.bdevtype,
                 configfile=args.configfile, dir=args.dir, fssize=args.fssize,
                 fstype=args.fstype, vgname=args.vgname, lvname=args.lvname,
                 thinpool=args.thinpool, zfsroot=args.zfsroot)
    except TemplateHelp as helped:
        sys.stdout.write(helped.text)
        return 0
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    prog = prog or "lxc-create"
    parser = make_parser(prog)
    try:
        pre = parser.parse(argv)
    except Exception:  # noqa: BLE001 - run() reports parse errors itself
        pre = None
    if pre is not None and pre.help and pre.template and pre.template != "none":
        sys.stdout.write(parser.help_text())
        _template_help(pre.template)
        return 0
    return run(parser, argv, body)

"""lxc-device: add a host device node or network interface to a running container, or
take it away (``lxc-device -n NAME add|del DEV [NAME-IN-CONTAINER]``)."""

from __future__ import annotations

from lxcz.tools.common import Args, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


def parser(prog: str) -> ToolParser:
    return ToolParser(prog, "--name=NAME -- add|del DEV",
                      "attach or detach DEV to or from container.", [], max_positional=3)


def validate(args: Args) -> None:
    words = args.positional + args.command
    if len(words) < 2 or words[0] not in ("add", "del") or len(words) > 3:
        raise UsageError("say add or del, then the device: add|del DEV [NAME]")


def body(args: Args) -> int:
    from lxcz.container import Container

    words = args.positional + args.command
    action, dev = words[0], words[1]
    dst = words[2] if len(words) > 2 else None
    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    if dev.startswith("/"):
        if action == "add":
            c.add_device_node(dev, dst)
        else:
            c.remove_device_node(dev, dst)
    elif action == "add":
        c.attach_interface(dev, dst)
    else:
        c.detach_interface(dev, dst)
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(parser(prog or "lxc-device"), argv, body, validate)

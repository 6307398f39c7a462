"""The built-in busybox template: a small rootfs from the host's busybox, offline.

It lays the rootfs out the way LXC's ``lxc-busybox`` script does — the same directories
and modes, ``/bin/busybox`` with a symlink per applet, ``/sbin/init`` a hard link to it,
``etc/passwd``, ``group``, ``inittab``, ``init.d/rcS``, ``fstab``, ``shadow`` and the
udhcpc script — plus ``etc/hostname``, and appends the same configuration lines. It runs
in-process: no shell, one ``busybox --list`` call for the applet names.

Template arguments (after ``--`` on lxc-create): ``--busybox-path PATH`` and ``-h``/
``--help``. ``--mapped-uid``/``--mapped-gid`` (added by lxc-create when the configuration
has ``lxc.idmap``) say that the template runs as root of the container's user namespace
(``lxcz.storage.api`` runs ``install`` there): the rootfs directory itself is then given to
root of the namespace too and busybox is not made setuid, which is the state upstream's
script leaves behind (its ``chown -R root`` clears the setuid bits it set).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple

HELP = """\
lxcz built-in busybox template

Special arguments:

  [ -h | --help ]: Print this help message and exit.

LXC internal arguments (given by lxc-create):

  [ --name <name> ]: The container name
  [ --path <path> ]: The path to the container
  [ --rootfs <rootfs> ]: The path to the container's rootfs
  [ --mapped-uid <map> ]: A uid map (user namespaces)
  [ --mapped-gid <map> ]: A gid map (user namespaces)

BUSYBOX template specific arguments:

  [ --busybox-path <path> ]: busybox pathname (default: {default})
"""

DIRS = ("selinux", "dev", "home", "root", "etc", "etc/init.d", "bin", "usr/bin", "sbin",
        "usr/sbin", "proc", "sys", "mnt", "tmp", "var/log", "var/run", "dev/pts", "lib",
        "usr/lib", "lib64", "usr/lib64")

RCS = """\
#!/bin/sh
/bin/syslogd
/bin/mount -a
/bin/udhcpc
"""

INITTAB = """\
::sysinit:/etc/init.d/rcS
tty1::respawn:/bin/getty -L tty1 115200 vt100
console::askfirst:/bin/sh
"""

# Called by udhcpc with the lease in its environment; sets address, route, DNS.
DHCP_SCRIPT = """\
#!/bin/sh
case "$1" in
  deconfig)
    ip addr flush dev $interface
    ;;

  renew|bound)
    if [ -n "$router" ]; then
      ip route del default 2> /dev/null
    fi
    if [ -n "$broadcast" ]; then
      broadcast="broadcast $broadcast"
    fi
    ip addr add $ip/$mask $broadcast dev $interface
    if [ -n "$router" ]; then
      ip route add default via $router dev $interface
    fi
    [ -n "$domain" ] && echo search $domain > /etc/resolv.conf
    for i in $dns ; do
      grep "nameserver $i" /etc/resolv.conf > /dev/null 2>&1
      if [ $? -ne 0 ]; then
        echo nameserver $i >> /etc/resolv.conf
      fi
    done
    ;;
esac
exit 0
"""

CONFIG = """\
lxc.signal.halt = SIGUSR1
lxc.signal.reboot = SIGTERM
lxc.uts.name = "{name}"
lxc.autodev = 1
lxc.tty.max = 5
lxc.pty.max = 1
lxc.cap.drop = sys_module mac_admin mac_override sys_time

# When using LXC with apparmor, uncomment the next line to run unconfined:
#lxc.apparmor.profile = unconfined

lxc.mount.auto = cgroup:mixed proc:mixed sys:ro
lxc.mount.entry = shm dev/shm tmpfs defaults,create=dir 0 0
lxc.mount.entry = mqueue dev/mqueue mqueue defaults,optional,create=dir 0 0
"""

LIBDIRS = ("lib", "usr/lib", "lib64", "usr/lib64")
DEFAULT_DHCP_SCRIPT = "/usr/share/udhcpc/default.script"


def default_busybox() -> Optional[str]:
    return shutil.which("busybox", path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/usr/bin:/sbin:/bin")


def _parse_args(args: Sequence[str]) -> Optional[str]:
    """Return the --busybox-path value (None for the default); raise on bad arguments."""
    return parse_args(args)[0]


def parse_args(args: Sequence[str]) -> Tuple[Optional[str], bool]:
    """(--busybox-path or None, whether --mapped-uid/--mapped-gid name a mapped id).

    Raises TemplateHelp for -h/--help and LxczError for a bad argument, so a caller can
    check the arguments before it makes anything.
    """
    from lxcz.storage.templates import TemplateHelp

    busybox = None
    mapped = False
    i = 0
    args = list(args)
    while i < len(args):
        a = args[i]
        i += 1
        if a in ("-h", "--help"):
            raise TemplateHelp(HELP.format(default=default_busybox() or "none found"))
        key, eq, val = a.partition("=")
        if key in ("--busybox-path", "--mapped-uid", "--mapped-gid", "--name", "--path",
                   "--rootfs"):
            if not eq:
                if i >= len(args):
                    raise LxczError(f"busybox template: option '{key}' requires an argument")
                val = args[i]
                i += 1
            if key == "--busybox-path":
                busybox = val
            elif key in ("--mapped-uid", "--mapped-gid"):
                if not val.isdigit() and val != "-1":
                    raise LxczError(f"busybox template: {key} needs a number, not '{val}'")
                mapped = mapped or val != "-1"
        elif a == "--":
            continue
        else:
            raise LxczError(f"busybox template: unknown argument '{a}'")
    return busybox, mapped


def _applets_and_script(busybox: str) -> tuple:
    try:
        out = subprocess.run([busybox, "--list"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=False).stdout
        helptext = subprocess.run([busybox, "udhcpc", "--help"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, check=False).stdout
    except OSError as err:
        raise LxczError(f"busybox template: cannot run {busybox}: {err.strerror}") from None
    applets = [a for a in out.decode(errors="replace").split() if a and a != "busybox"
               and "/" not in a and a not in (".", "..")]
    if not applets:
        raise LxczError(f"busybox template: {busybox} --list gave no applets")
    script = DEFAULT_DHCP_SCRIPT
    for line in helptext.decode(errors="replace").splitlines():
        if "-s" in line and "Run PROG" in line and "(default " in line:
            script = line.split("(default ", 1)[1].split(")", 1)[0].strip()
    if not script.startswith("/") or ".." in script.split("/"):
        script = DEFAULT_DHCP_SCRIPT
    return applets, script


def _write(path: str, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def install(container_path: str, name: str, rootfs: str, args: Sequence[str] = ()) -> None:
    """Fill ``rootfs`` and append the busybox lines to ``container_path``/config."""
    busybox, mapped = parse_args(args)
    busybox = busybox or default_busybox()
    if not busybox:
        raise LxczError("busybox template: no busybox binary found "
                        "(apt-get install busybox-static, or --busybox-path PATH)")
    if not (os.path.isfile(busybox) and os.access(busybox, os.X_OK)):
        raise LxczError(f"busybox template: {busybox} is not an executable file")
    applets, dhcp_script = _applets_and_script(busybox)

    old = os.umask(0o022)
    try:
        for d in DIRS:
            p = os.path.join(rootfs, d)
            os.makedirs(p, exist_ok=True)
            os.chmod(p, 0o755)
        os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
        etc = os.path.join(rootfs, "etc")
        _write(os.path.join(etc, "passwd"), "root:x:0:0:root:/root:/bin/sh\n", 0o644)
        _write(os.path.join(etc, "group"), "root:x:0:root\n", 0o644)
        _write(os.path.join(etc, "hostname"), name + "\n", 0o644)
        _write(os.path.join(etc, "init.d", "rcS"), RCS, 0o744)
        _write(os.path.join(etc, "inittab"), INITTAB, 0o644)
        _write(os.path.join(etc, "fstab"), "", 0o644)
        _write(os.path.join(etc, "shadow"), "", 0o640)
        script = os.path.join(rootfs, dhcp_script.lstrip("/"))
        os.makedirs(os.path.dirname(script), mode=0o755, exist_ok=True)
        _write(script, DHCP_SCRIPT, 0o744)

        bindir = os.path.join(rootfs, "bin")
        target = os.path.join(bindir, "busybox")
        shutil.copyfile(busybox, target)
        # setuid like upstream's (its chmod +s on the passwd link lands on busybox);
        # in a user namespace upstream's later chown -R clears those bits again
        os.chmod(target, 0o755 if mapped else 0o6755)
        for applet in applets:
            try:
                os.symlink("busybox", os.path.join(bindir, applet))
            except FileExistsError:
                pass
        os.link(target, os.path.join(rootfs, "sbin", "init"))
        if mapped:
            os.lchown(rootfs, 0, 0)  # root of the namespace, group included
    except OSError as err:
        raise LxczError(f"busybox template: {err.filename or rootfs}: {err.strerror}") \
            from None
    finally:
        os.umask(old)

    lines = CONFIG.format(name=name)
    for d in LIBDIRS:
        if os.path.isdir("/" + d) and os.path.isdir(os.path.join(rootfs, d)):
            lines += f"lxc.mount.entry = /{d} {d} none ro,bind 0 0\n"
    lines += ("lxc.mount.entry = /sys/kernel/security sys/kernel/security none "
              "ro,bind,optional 0 0\n")
    with open(os.path.join(container_path, "config"), "a") as f:
        f.write(lines)


def applet_names(busybox: str) -> List[str]:
    """The applets ``busybox`` provides (used by tests)."""
    return _applets_and_script(busybox)[0]

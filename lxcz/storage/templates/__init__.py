"""Templates: the built-in busybox template and LXC's external ``lxc-NAME`` scripts.

An external template runs exactly as LXC 5 runs it, so upstream's templates work
unchanged: ``argv[0]`` is the script's base name, then ``--path=LXCPATH/NAME``,
``--name=NAME``, ``--rootfs=ROOTFS`` and every argument given after ``--``; as root it
runs in a private mount namespace (mounts it makes do not leak onto the host). It appends
to ``LXCPATH/NAME/config``; lxc-create then prepends the template header.

With ``lxc.idmap`` in the configuration, ``run`` runs the template (built-in or external,
as root or not) as root of a user namespace holding those maps plus the caller's own uid
and gid where they are not mapped yet, the way LXC runs templates under lxc-usernsexec:
what the template writes belongs to the container's ids on the host. The arguments then
end with ``--mapped-uid N --mapped-gid M``, the caller's ids inside that namespace. An
external template gets the full path as ``argv[0]`` in that case, as with LXC.
"""

from __future__ import annotations

import os
import subprocess

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence

TEMPLATE_DIR = "/usr/share/lxc/templates"
BUILTIN = ("busybox",)


class TemplateHelp(LxczError):
    """A template was asked for its help: the text to show; nothing was created."""

    def __init__(self, text: str) -> None:
        super().__init__(text, exit_code=0)
        self.text = text


def template_dir() -> str:
    return os.environ.get("LXCZ_TEMPLATE_DIR") or TEMPLATE_DIR


def find(template: str) -> str:
    """The path of the template named ``template`` (a name or a path), or "busybox".

    Built-in templates are returned by name. Raises LxczError when there is none.
    """
    if template in BUILTIN:
        return template
    if "/" in template:
        path = os.path.abspath(template)
    else:
        path = os.path.join(template_dir(), "lxc-" + template)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise LxczError(f'template "{template}" not found'
                        + ("" if "/" in template else f" (no executable {path})"))
    return path


def header_name(template: str, path: str) -> str:
    """What the config header records as the template used."""
    if path in BUILTIN:
        return f"{path} (lxcz built-in template)"
    return path


def _private_mounts() -> None:  # pragma: no cover - runs in the forked child
    if os.geteuid() != 0:
        return
    from lxcz.sys import calls

    calls.unshare(calls.CLONE_NEWNS)
    try:
        calls.mount(None, "/", None, calls.MS_SLAVE | calls.MS_REC)
    except OSError:
        pass


def check_args(tpath: str, args: Sequence[str]) -> None:
    """Refuse bad arguments of a built-in template before anything is made."""
    if tpath == "busybox":
        from lxcz.storage.templates import busybox

        busybox.parse_args(args)


def run(tpath: str, container_path: str, name: str, rootfs: str, args: Sequence[str],
        quiet: bool = False, maps: Sequence[Any] = ()) -> None:
    """Run template ``tpath`` (from ``find``), under ``maps`` when there are any."""
    if not maps:
        if tpath in BUILTIN:
            from lxcz.storage.templates import busybox

            busybox.install(container_path, name, rootfs, args)
        else:
            run_external(tpath, container_path, name, rootfs, args, quiet)
        return
    from lxcz.security import userns_exec

    full, nsuid, nsgid = userns_exec.add_caller(maps)
    targs = list(args) + ["--mapped-uid", str(nsuid), "--mapped-gid", str(nsgid)]
    if tpath in BUILTIN:
        from lxcz.storage.templates import busybox

        busybox.parse_args(targs)
        userns_exec.run_in_userns(full, busybox.install, container_path, name, rootfs,
                                  targs)
        return
    argv = [tpath, f"--path={container_path}", f"--name={name}",
            f"--rootfs={rootfs}"] + targs
    code = userns_exec.run_in_userns(full, _exec_template, tpath, argv, quiet, mounts=True)
    if code != 0:
        raise LxczError(f"template {tpath} failed (exit status {code})")


def _exec_template(path: str, argv: List[str], quiet: bool) -> None:  # pragma: no cover
    """In the user namespace child: become the template."""
    if quiet:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    try:
        os.execv(path, argv)
    except OSError as err:
        raise LxczError(f"cannot run template {path}: {err.strerror}") from None


def run_external(path: str, container_path: str, name: str, rootfs: str,
                 args: Sequence[str], quiet: bool = False) -> None:
    """Run an external template script; raise LxczError when it fails."""
    argv: List[str] = [os.path.basename(path), f"--path={container_path}",
                       f"--name={name}", f"--rootfs={rootfs}"] + list(args)
    null: Optional[int] = subprocess.DEVNULL if quiet else None
    try:
        proc = subprocess.run(argv, executable=path, stdin=null, stdout=null, stderr=null,
                              preexec_fn=_private_mounts, check=False)
    except OSError as err:
        raise LxczError(f"cannot run template {path}: {err.strerror}") from None
    if proc.returncode != 0:
        how = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exit status {proc.returncode}")
        raise LxczError(f"template {path} failed ({how})")

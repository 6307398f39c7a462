"""AppArmor: lxc.apparmor.profile (legacy lxc.aa_profile) checked in the parent, applied
at exec in the container's init.

Public API:

- ``enabled(sysfs="/sys") -> bool``: AppArmor is active on this host
  (``/sys/module/apparmor/parameters/enabled`` reads ``Y``, LXC's test).
- ``mount_mediation(sysfs="/sys") -> bool``: the kernel mediates mounts
  (``/sys/kernel/security/apparmor/features/mount/mask`` exists); without it LXC calls
  AppArmor support "incomplete".
- ``loaded_profiles(sysfs="/sys") -> dict[str, str] | None``: name -> mode from
  ``/sys/kernel/security/apparmor/profiles`` (None when securityfs is not readable).
- ``current_label(pid="self", proc="/proc") -> str | None``: the process's label (mode
  suffix removed).
- ``prepare(profile, allow_incomplete=False, sysfs="/sys") -> str | None``: run in the
  parent before anything is started. Returns the label the init must change to at exec,
  or None for "leave it alone". Raises ``LxczError`` with one line naming the cause:
  ``generated`` (not supported yet), a profile that is not loaded, AppArmor missing or
  incomplete without ``lxc.apparmor.allow_incomplete = 1``, or a confined caller asking
  for another label on a kernel that cannot stack.
- ``apply_at_exec(label) -> None``: in the child, just before execve: writes
  ``exec LABEL`` to ``/proc/thread-self/attr/apparmor/exec`` (older kernels:
  ``attr/exec``), so the kernel switches profile at the next execve. ``None`` does
  nothing; ``unconfined`` while already unconfined does nothing. Raises ``LxczError``.

What LXC 5 does, and where lxcz differs (see docs/isolation.md):

- AppArmor enabled, profile unset: LXC uses ``lxc-container-default-cgns`` (or
  ``lxc-container-default`` without cgroup namespaces); so does lxcz.
- ``unchanged``: nothing is changed (both).
- AppArmor enabled but without mount mediation, profile other than ``unconfined``: LXC
  refuses unless ``lxc.apparmor.allow_incomplete = 1``; so does lxcz.
- AppArmor not enabled at all: LXC falls back to its no-op LSM driver and silently
  ignores the profile. lxcz refuses a profile other than ``unconfined`` unless
  ``lxc.apparmor.allow_incomplete = 1`` (then a warning): a confinement the user asked
  for is not dropped without a word.
- A profile that is not loaded: LXC fails later, in the child, when the kernel rejects
  the change. lxcz checks the loaded-profile list first, so nothing is started.
- LXC changes profile immediately (``changeprofile``); lxcz asks for the change at exec
  (``exec``), so the init's own code after the call is not run under the container's
  profile — the result for the container's program is the same.
- ``generated`` (LXC writes and loads a per-container profile with apparmor_parser):
  refused for now with a message saying what to use instead.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional

UNCONFINED = "unconfined"
UNCHANGED = "unchanged"
GENERATED = "generated"
DEFAULT_PROFILE = "lxc-container-default"
DEFAULT_PROFILE_CGNS = "lxc-container-default-cgns"


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def enabled(sysfs: str = "/sys") -> bool:
    text = _read(os.path.join(sysfs, "module/apparmor/parameters/enabled"))
    return bool(text) and text.startswith("Y")


def _secfs(sysfs: str, *parts: str) -> str:
    return os.path.join(sysfs, "kernel/security/apparmor", *parts)


def mount_mediation(sysfs: str = "/sys") -> bool:
    return os.path.exists(_secfs(sysfs, "features/mount/mask"))


def can_stack(sysfs: str = "/sys") -> bool:
    stack = _read(_secfs(sysfs, "features/domain/stack"))
    version = _read(_secfs(sysfs, "features/domain/version"))
    if not stack or not stack.startswith("yes") or not version:
        return False
    try:
        major, minor = (int(x) for x in version.strip().split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (1, 2)


def loaded_profiles(sysfs: str = "/sys") -> Optional[Dict[str, str]]:
    text = _read(_secfs(sysfs, "profiles"))
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        name, _, mode = line.rpartition(" (")
        if not name:
            name, mode = line, ""
        out[name] = mode.rstrip(")")
    return out


def _strip_mode(label: str) -> str:
    label = label.strip().rstrip("\x00").strip()
    if label.endswith(")") and " (" in label:
        label = label[:label.rindex(" (")]
    return label


def current_label(pid="self", proc: str = "/proc") -> Optional[str]:
    for rel in ("attr/apparmor/current", "attr/current"):
        text = _read(f"{proc}/{pid}/{rel}")
        if text is not None:
            label = _strip_mode(text)
            return label or None
    return None


def _cgroup_ns_supported() -> bool:
    return os.path.exists("/proc/self/ns/cgroup")


def prepare(profile: Optional[str], allow_incomplete: bool = False,
            sysfs: str = "/sys") -> Optional[str]:
    """Validate lxc.apparmor.profile in the parent; the label to apply at exec or None."""
    from lxcz.log import log

    if profile is not None:
        profile = profile.strip() or None
    if profile == UNCHANGED:
        return None
    if profile == GENERATED:
        if not enabled(sysfs):
            # "generated" asks for whatever confinement fits this host; without AppArmor
            # there is nothing to generate, and LXC 5 starts the container unconfined too
            # (Debian's default.conf sets it, so every default container depends on this)
            log.info("AppArmor is not enabled on this host: lxc.apparmor.profile = "
                     "generated means no profile")
            return None
        raise LxczError('lxc.apparmor.profile = generated is not supported by lxcz yet on '
                        'hosts with AppArmor: load a profile with apparmor_parser and name '
                        'it, or use "unconfined"')
    if not enabled(sysfs):
        if profile is None or profile == UNCONFINED:
            return None
        if allow_incomplete:
            log.warning('AppArmor is not enabled on this host: profile "%s" is not '
                        "applied (lxc.apparmor.allow_incomplete = 1)", profile)
            return None
        raise LxczError(f'AppArmor profile "{profile}" requested but AppArmor is not '
                        "enabled on this host (set lxc.apparmor.allow_incomplete = 1 "
                        'to start without it, or use "unconfined")')
    label = profile
    if label is None:
        label = DEFAULT_PROFILE_CGNS if _cgroup_ns_supported() else DEFAULT_PROFILE
    cur = current_label()
    if cur and cur != UNCONFINED and not can_stack(sysfs):
        if profile is None or cur == label:
            return None
        raise LxczError(f'already confined by AppArmor profile "{cur}" and the kernel '
                        f'cannot stack profiles: cannot change to "{label}"')
    if label != UNCONFINED and not mount_mediation(sysfs):
        if not allow_incomplete:
            raise LxczError("incomplete AppArmor support in this kernel (no mount "
                            f'mediation): refusing profile "{label}"; set '
                            "lxc.apparmor.allow_incomplete = 1 to start anyway")
        log.warning("incomplete AppArmor support in this kernel (no mount mediation)")
    if label != UNCONFINED:
        check_loaded(label, sysfs)
    return label


def check_loaded(label: str, sysfs: str = "/sys") -> None:
    """LxczError unless every profile of a (possibly stacked) label is loaded."""
    profiles = loaded_profiles(sysfs)
    if profiles is None:
        # securityfs not mounted: the kernel will judge at exec
        return
    for part in label.split("//&"):
        part = part.strip()
        if not part or part.startswith(":") or part == UNCONFINED:
            continue  # policy namespaces are not listed in the root namespace's file
        if part not in profiles:
            raise LxczError(f'AppArmor profile "{part}" is not loaded (load it with '
                            "apparmor_parser -r, see "
                            f"{_secfs(sysfs, 'profiles')})")


def _attr_path(leaf: str) -> str:
    base = "/proc/thread-self" if os.path.exists("/proc/thread-self") else "/proc/self"
    sub = f"{base}/attr/apparmor/{leaf}"
    return sub if os.path.exists(sub) else f"{base}/attr/{leaf}"


def apply_at_exec(label: Optional[str]) -> None:
    """In the child, before execve: switch to ``label`` at the next exec."""
    if label is None or label == UNCHANGED:
        return
    if label == UNCONFINED and current_label() in (None, UNCONFINED):
        return
    path = _attr_path("exec")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, f"exec {label}".encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise LxczError(f'cannot change to AppArmor profile "{label}" at exec '
                        f"({path}): {e.strerror}") from None

"""Render a checkconfig Report as upstream-style text or as JSON.

Text keeps upstream lxc-checkconfig's sections, labels and verdict words (``enabled``,
``missing``, ``required``) so people and scripts that read it keep working; lxcz adds
``built as module``, a hint line under each missing option, and the running-kernel facts.
"""

from __future__ import annotations

from lxcz.checkconfig.live import System
from lxcz.checkconfig.rules import Report, Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

GREEN, RED, YELLOW, NORMAL = "\033[1;32m", "\033[1;31m", "\033[1;33m", "\033[0;39m"
JSON_SCHEMA = 1


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{NORMAL}" if self.color else text


def verdict(res: Result, paint: _Paint) -> str:
    if res.status == "enabled":
        return paint("enabled", GREEN)
    if res.status == "module":
        text = paint("enabled", GREEN) + ", built as module"
        if res.module_loaded is not None:
            text += ", loaded" if res.module_loaded else ", not loaded"
        return text
    return paint("required", RED) if res.required else paint("missing", YELLOW)


def render_text(report: Report, system: Optional[System], prog: str, lxc_version: str,
                color: bool = False, found_at: Optional[str] = None,
                hints: bool = True) -> str:
    paint = _Paint(color)
    cfg = report.config
    out: List[str] = [f"LXC version {lxc_version}"]
    if found_at:
        out.append(f"Kernel configuration found at {found_at}")
    if cfg.how not in ("config file", "gzip-compressed config file"):
        out.append(f"Kernel configuration read from {cfg.how}")
    if cfg.version is None:
        out.append("WARNING: Unable to detect version from configuration, assuming latest")
        out.append("")
    for sec in report.sections:
        out.append("")
        out.append(f"--- {sec.title} ---")
        for res in sec.results:
            out.append(f"{res.label}: {verdict(res, paint)}")
            if not res.ok and hints and res.hint:
                out.append(f"  hint: {res.hint}")
            if not res.ok and res.note:
                out.append(f"  note: {res.note}")
            if res.extra == "uidmap" and res.ok and system is not None:
                out += _uidmap_lines(system)
            if res.extra == "cgroup_mounts" and system is not None:
                out += _cgroup_lines(system, paint)
    if system is not None:
        out.append("")
        out.append("--- Running kernel ---")
        if system.namespace_limits:
            out.append("Namespace limits: " + ", ".join(
                f"{k} {v}" for k, v in sorted(system.namespace_limits.items())))
            if system.namespace_limits.get("user") == 0:
                out.append(paint("Warning", YELLOW) +
                           ": user namespaces are disabled (user.max_user_namespaces = 0)")
        if system.unprivileged_userns_clone == 0:
            out.append(paint("Warning", YELLOW) + ": unprivileged user namespaces are "
                       "disabled (kernel.unprivileged_userns_clone = 0)")
        out.append("Namespaces in /proc/self/ns: " + (" ".join(system.namespaces) or "none"))
    out.append("")
    out.append("Note : Before booting a new kernel, you can check its configuration")
    out.append(f"usage : CONFIG=/path/to/config {prog}  (or {prog} --config PATH)")
    out.append("")
    return "\n".join(out) + "\n"


def _uidmap_lines(system: System) -> List[str]:
    lines = []
    for tool in ("newuidmap", "newgidmap"):
        info = system.uidmap.get(tool)
        if info is None:
            lines.append(f"{tool} is not installed")
        elif not info["setuid"] and not info["file_caps"]:
            lines.append(f"Warning: {tool} is not setuid-root")
    return lines


def _cgroup_lines(system: System, paint: _Paint) -> List[str]:
    lines = ["Cgroup v1 mount points: "]
    lines += [f" - {m}" for m in system.cgroup_v1_mounts]
    lines.append("Cgroup v2 mount points: ")
    lines += [f" - {m}" for m in system.cgroup_v2_mounts]
    if system.v1_systemd_missing:
        lines.append("Cgroup v1 systemd controller: " + paint("missing", RED))
    if system.v1_freezer_missing:
        lines.append("Cgroup v1 freezer controller: " + paint("missing", RED))
    if system.v1_clone_children:
        lines.append("Cgroup v1 clone_children flag: " + paint("enabled", GREEN))
    return lines


def to_json(report: Report, system: Optional[System], lxc_version: str,
            lxcz_version: str, searched: bool = False) -> Dict[str, Any]:
    cfg = report.config
    return {
        "schema": JSON_SCHEMA,
        "lxc_version": lxc_version,
        "lxcz_version": lxcz_version,
        "config": {
            "path": cfg.source,
            "how": cfg.how,
            "searched": searched,
            "kernel_version": cfg.version_text() or None,
            "arch": cfg.arch,
            "running_kernel": report.live,
        },
        "sections": [
            {"id": sec.id, "title": sec.title,
             "checks": [_result_json(r) for r in sec.results]}
            for sec in report.sections
        ],
        "system": system.to_json() if system is not None else None,
        "summary": {
            "ok": report.exit_code() == 0,
            "required_missing": [r.id for r in report.required_missing()],
            "optional_missing": [r.id for r in report.optional_missing()],
            "exit_code": report.exit_code(),
        },
    }


def _result_json(res: Result) -> Dict[str, Any]:
    return {
        "id": res.id,
        "label": res.label,
        "status": res.status,
        "ok": res.ok,
        "required": res.required,
        "options": res.values,
        "decided_by": res.source,
        "module_loaded": res.module_loaded,
        "upstream": res.upstream,
        "hint": None if res.ok else (res.hint or None),
        "note": None if res.ok else (res.note or None),
    }


def render_json(report: Report, system: Optional[System], lxc_version: str,
                lxcz_version: str, searched: bool = False) -> str:
    import json

    return json.dumps(to_json(report, system, lxc_version, lxcz_version, searched),
                      indent=2) + "\n"

"""The lxc-checkconfig rule table (rules.toml, package data) and its evaluation.

``load_rules()`` reads the table; ``evaluate(config, rules, live)`` applies it to a
``KernelConfig`` and returns a ``Report``: one ``Result`` per shown row, grouped by
section, plus the summary that decides the exit code.
"""

from __future__ import annotations

import os
import sys

from lxcz.checkconfig.kconfig import KernelConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Set, Tuple

RULES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules.toml")
LATEST = (1000, 0, 0)  # assumed when the configuration has no version header


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import tomli

    return tomli


def load_rules(path: Optional[str] = None) -> Dict[str, Any]:
    """The parsed rule table (the package's rules.toml unless path is given).

    Parsing TOML costs ~9 ms at start-up, more than everything else lxcz does here, so the
    parsed table is kept next to the file like a .pyc: ``__pycache__/rules.toml.<tag>.
    <size>-<mtime>.marshal``. It is only a cache: when it cannot be read or written the
    TOML file is parsed as usual.
    """
    if path is None and os.path.isfile(RULES_FILE):
        path = RULES_FILE
    if path is None:  # pragma: no cover - a loader without real files (zipimport)
        from importlib import resources

        data = resources.files("lxcz.checkconfig").joinpath("rules.toml").read_bytes()
        return _toml().loads(data.decode("utf-8"))
    import marshal

    st = os.stat(path)
    cache_dir = os.path.join(os.path.dirname(path), "__pycache__")
    prefix = f"{os.path.basename(path)}.{sys.implementation.cache_tag}."
    cache = os.path.join(cache_dir, f"{prefix}{st.st_size}-{st.st_mtime_ns}.marshal")
    try:
        with open(cache, "rb") as f:
            table = marshal.load(f)
        if isinstance(table, dict):
            return table
    except (OSError, EOFError, ValueError, TypeError):
        pass
    with open(path, "rb") as f:
        table = _toml().loads(f.read().decode("utf-8"))
    if not sys.dont_write_bytecode:  # the same switch that stops .pyc files
        _write_cache(cache_dir, prefix, cache, marshal.dumps(table))
    return table


def _write_cache(cache_dir: str, prefix: str, cache: str, blob: bytes) -> None:
    try:
        os.makedirs(cache_dir, exist_ok=True)
        for old in os.listdir(cache_dir):
            if old.startswith(prefix) and old.endswith(".marshal"):
                os.unlink(os.path.join(cache_dir, old))
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, cache)
    except OSError:
        pass


def parse_version(text: str) -> Tuple[int, int, int]:
    parts = [int(p) for p in text.split(".")]
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2])


class Result:
    """The verdict for one row of the table.

    status: "enabled" (built in or decided without options), "module", "missing";
    source: "config" (from the options), "fixed" (by kernel version), "live" (/proc).
    """

    __slots__ = ("id", "label", "section", "status", "required", "options", "values",
                 "upstream", "hint", "note", "modules", "module_loaded", "extra", "source")

    def __init__(self, id: str, label: str, section: str, status: str, required: bool,
                 options: List[str], values: Dict[str, Optional[str]], upstream: bool = True,
                 hint: str = "", note: str = "", modules: Optional[List[str]] = None,
                 module_loaded: Optional[bool] = None, extra: str = "",
                 source: str = "config") -> None:
        self.id = id
        self.label = label
        self.section = section
        self.status = status
        self.required = required
        self.options = options
        self.values = values
        self.upstream = upstream
        self.hint = hint
        self.note = note
        self.modules = modules or []
        self.module_loaded = module_loaded
        self.extra = extra
        self.source = source

    @property
    def ok(self) -> bool:
        return self.status != "missing"


class Section:
    def __init__(self, id: str, title: str) -> None:
        self.id = id
        self.title = title
        self.results: List[Result] = []


class Report:
    def __init__(self, config: KernelConfig, sections: List[Section], live: bool) -> None:
        self.config = config
        self.sections = sections
        self.live = live

    def results(self) -> List[Result]:
        return [r for s in self.sections for r in s.results]

    def required_missing(self) -> List[Result]:
        return [r for r in self.results() if r.required and not r.ok]

    def optional_missing(self) -> List[Result]:
        return [r for r in self.results() if not r.required and not r.ok]

    def exit_code(self) -> int:
        return 1 if self.required_missing() else 0


def evaluate(config: KernelConfig, rules: Dict[str, Any], live: bool = False,
             loaded_modules: Optional[Set[str]] = None,
             proc_ns: Optional[Set[str]] = None) -> Report:
    """Apply the rule table to config.

    live: the configuration is the running kernel's, so ``live_ns`` rows are decided by
    proc_ns (the names in /proc/self/ns) and modules show their loaded state from
    loaded_modules.
    """
    version = config.version or LATEST
    config.prefetch(o for sec in rules.get("section", []) for row in sec.get("check", [])
                    for o in row.get("options", []) + ([row["if_set"]] if "if_set" in row else []))
    sections = []
    for sec in rules.get("section", []):
        out = Section(sec["id"], sec["title"])
        for row in sec.get("check", []):
            if "since" in row and version < parse_version(row["since"]):
                continue
            if "until" in row and version >= parse_version(row["until"]):
                continue
            if "if_set" in row and config.state(row["if_set"]) == "n":
                continue
            out.results.append(_judge(row, sec["id"], config, live, loaded_modules, proc_ns))
        sections.append(out)
    return Report(config, sections, live)


def _judge(row: Dict[str, Any], section: str, config: KernelConfig, live: bool,
           loaded_modules: Optional[Set[str]], proc_ns: Optional[Set[str]]) -> Result:
    options = ["CONFIG_" + o for o in row.get("options", [])]
    values = {o: config.value(o) for o in options}
    source = "config"
    if live and row.get("live_ns") and proc_ns is not None:
        status = "enabled" if row["live_ns"] in proc_ns else "missing"
        source = "live"
    elif "fixed" in row:
        status = row["fixed"]
        source = "fixed"
    else:
        states = [config.state(o) for o in options]
        if "y" in states:
            status = "enabled"
        elif "m" in states:
            status = "module"
        else:
            status = "missing"
    res = Result(
        id=row["id"], label=row["label"], section=section, status=status,
        required=bool(row.get("required", False)), options=options, values=values,
        upstream=bool(row.get("upstream", True)), hint=row.get("hint", ""),
        note=(row.get("arch") or {}).get(config.arch or "", ""),
        modules=list(row.get("modules", [])), extra=row.get("extra", ""), source=source)
    if status == "module" and live and loaded_modules is not None and res.modules:
        res.module_loaded = any(m in loaded_modules for m in res.modules)
    return res

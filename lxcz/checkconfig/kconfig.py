"""Parse a kernel ``.config`` text: option values, kernel version and architecture."""

from __future__ import annotations

import re

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterable, Optional, Tuple

# "# Linux/x86 6.1.0 Kernel Configuration", "# Linux/arm64 5.10.0-28 Kernel Configuration",
# "# Linux kernel version: 2.6.32" (before 2.6.36)
_HEADER = re.compile(r"^# Linux(?:/(\S+))? (\d+)\.(\d+)(?:\.(\d+))?\S* Kernel Configuration",
                     re.M)
_OLD_HEADER = re.compile(r"^# Linux kernel version: (\d+)\.(\d+)(?:\.(\d+))?", re.M)
_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$", re.M)
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$", re.M)


class NotAConfig(LxczError):
    """The data is not a kernel configuration (exit code 2 in lxc-checkconfig)."""

    exit_code = 2


class KernelConfig:
    """The options of one kernel configuration.

    ``value(name)`` is an option's raw value (``y``, ``m``, ``"string"``, a number), ``n``
    for "is not set", None when absent; names may carry the ``CONFIG_`` prefix or not.
    ``prefetch()`` looks a set of options up in one pass; ``options`` parses them all.
    ``version`` is ``(major, minor, patch)`` from the header, or None when absent.
    """

    def __init__(self, text: str, version: Optional[Tuple[int, int, int]],
                 arch: Optional[str], source: str = "", how: str = "") -> None:
        self._text = "\n" + text
        self._cache: Dict[str, Optional[str]] = {}
        self._all: Optional[Dict[str, str]] = None
        self.version = version
        self.arch = arch
        self.source = source
        self.how = how

    @property
    def options(self) -> Dict[str, str]:
        if self._all is None:
            found: Dict[str, str] = {}
            for m in _UNSET.finditer(self._text):
                found[m.group(1)] = "n"
            for m in _SET.finditer(self._text):
                found[m.group(1)] = m.group(2).strip()
            self._all = found
        return self._all

    def prefetch(self, names: Iterable[str]) -> None:
        """Look the given options up in one pass over the text (a check needs ~50 of the
        ~9000 a distribution config has); later ``value()`` calls for them are free."""
        want = sorted({_bare(n) for n in names} - set(self._cache))
        if not want:
            return
        alt = "|".join(want)
        pattern = re.compile(rf"^(?:CONFIG_({alt})=(.*)|# CONFIG_({alt}) is not set)$", re.M)
        found: Dict[str, Optional[str]] = dict.fromkeys(want)
        for m in pattern.finditer(self._text):
            if m.group(1):
                found[m.group(1)] = m.group(2).strip()  # a later assignment wins, as in Kconfig
            else:
                found[m.group(3)] = "n"
        self._cache.update(found)

    def value(self, name: str) -> Optional[str]:
        name = _bare(name)
        if name in self._cache:
            return self._cache[name]
        return self.options.get(name)

    def state(self, name: str) -> str:
        """``y`` (built in), ``m`` (module) or ``n`` (absent, not set, or another value)."""
        val = self.value(name)
        return val if val in ("y", "m") else "n"

    def version_text(self) -> str:
        return ".".join(str(p) for p in self.version) if self.version else ""


def _bare(name: str) -> str:
    return name[7:] if name.startswith("CONFIG_") else name


def parse(text: str, source: str = "", how: str = "") -> KernelConfig:
    """Parse config text; raise NotAConfig when it has no CONFIG_ lines at all."""
    if not (_SET.search(text) or _UNSET.search(text)):
        raise NotAConfig(f"{source or 'input'}: not a kernel configuration "
                         "(no CONFIG_ lines) nor a kernel image with an embedded one")
    version = None
    arch = None
    head = text[:8192]
    m = _HEADER.search(head)
    if m:
        arch = m.group(1)
        version = (int(m.group(2)), int(m.group(3)), int(m.group(4) or 0))
    else:
        m = _OLD_HEADER.search(head)
        if m:
            version = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    return KernelConfig(text, version, arch, source, how)


def looks_like_config(data: bytes) -> bool:
    """Cheap test on the first bytes: text with CONFIG_ lines or a kconfig header."""
    head = data[:65536]
    if b"\0" in head:
        return False
    return (b"\nCONFIG_" in head or head.startswith(b"CONFIG_") or b"# CONFIG_" in head
            or b" Kernel Configuration" in head)

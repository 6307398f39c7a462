"""ContainerConfig: one container's configuration, loaded, queried, changed and saved.

The effective configuration is an ordered map from full key (``lxc.uts.name``,
``lxc.net.0.ipv4.address``, ``lxc.cgroup.memory.limit_in_bytes``) to one ``ConfigItem``
(single-valued keys) or a list of them (repeating keys), built by applying every line of
the file and of its includes in order, with pre-3.0 keys already translated. Beside it
the model keeps the lines of the top-level file (like LXC's "unexpanded" config), so that
``save`` writes the file back with its comments and order; set/clear edit those lines and
new keys are appended.

Public API (see also lxcz/container.py, which wraps it in python3-lxc's names)::

    cfg = ContainerConfig.load(path)      # ConfigError(cause, path, line)
    cfg.get_item(key) -> str              # LXC get_config_item format, lists joined by \\n
    cfg.set_item(key, value); cfg.clear_item(key); cfg.save(path)
    cfg.keys(prefix=None); cfg.items(); cfg.get(key, default); cfg.get_list(key)
    cfg.prefixed("lxc.sysctl."); cfg.prefixed_items("lxc.cgroup."); cfg.networks()
    cfg.unapplied(); cfg.require_applied()    # point 8: never ignore a key silently

Values are canonical text: signals are numbers, log levels names, console sizes bytes,
idmaps single-spaced, IPv4/IPv6 addresses carry their prefix, time offsets "N s"/"N ns";
``get``/``get_list`` parse them (ints, bools, idmap tuples, ...) with the row's parser.
"""

from __future__ import annotations

from lxcz.config import keys as K
from lxcz.config import legacy
from lxcz.errors import ConfigError


class ConfigItem(tuple):
    """One effective value: (key, canonical value text, path, line) where it was set.

    A plain tuple subclass rather than typing.NamedTuple, which costs import time.
    """

    __slots__ = ()

    def __new__(cls, key: str, value: str, path: Optional[str],
                line: Optional[int]) -> ConfigItem:
        return tuple.__new__(cls, (key, value, path, line))

    key = property(lambda self: self[0], doc="the full key, e.g. lxc.net.0.link")
    value = property(lambda self: self[1], doc="the canonical value text")
    path = property(lambda self: self[2], doc="file it was read from (None: set_item)")
    line = property(lambda self: self[3], doc="line number in that file")

    @property
    def where(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}"
        return self.path or "(set at run time)"

    def __repr__(self) -> str:
        return (f"ConfigItem(key={self[0]!r}, value={self[1]!r}, path={self[2]!r}, "
                f"line={self[3]!r})")

    def __getnewargs__(self) -> tuple:
        return tuple(self)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Union

    _Entry = Union[ConfigItem, List[ConfigItem]]


def _quote(value: str) -> str:
    """Protect a value the parser would unquote (it strips one pair of matching quotes)."""
    if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
        other = "'" if value[0] == '"' else '"'
        return other + value + other
    return value


class ContainerConfig:
    """A container configuration; see the module docstring."""

    def __init__(self) -> None:
        self.path: Optional[str] = None
        self._state: Dict[str, _Entry] = {}
        self._lines: List[list] = []  # [raw text, canonical key or None]
        # repeating prefix families (lxc.cgroup., lxc.cgroup2.): every value in file order
        self._fam: Dict[str, List[ConfigItem]] = {}
        self._inc_keys: set = set()  # keys some included file sets (shadowed or not)
        self._legacy = legacy.LegacyState()

    # -- loading and saving -------------------------------------------------------------
    @classmethod
    def load(cls, path: str) -> ContainerConfig:
        from lxcz.config import parser

        cfg = cls()
        cfg.path = path
        parser.load_file(cfg, path)
        return cfg

    def save(self, path: Optional[str] = None) -> None:
        from lxcz.config import writer

        target = path or self.path
        if not target:
            raise ConfigError("no file to save the configuration to")
        writer.write_lines(target, [text for text, _ in self._lines])

    def text(self) -> str:
        """The file text ``save`` would write."""
        return "".join(text + "\n" for text, _ in self._lines)

    # -- applying one key ---------------------------------------------------------------
    def _row(self, key: str, path: Optional[str] = None,
             line: Optional[int] = None) -> K.Key:
        row = K.lookup(key)
        if row is None:
            raise ConfigError(f'unknown key "{key}"{K.suggest(key)}', path, line)
        return row

    def _apply(self, key: str, value: str, path: Optional[str], line: Optional[int]) -> None:
        row = K.EXACT.get(key) or self._row(key, path, line)
        if "\0" in value:
            raise ConfigError(f"{key}: value contains a NUL byte", path, line)
        if path is not None and path != self.path:
            self._inc_keys.add(key)
        kind = row.kind
        if kind == K.FAMILY:
            if value:
                raise ConfigError(f'"{key}" must not have a value (an empty value clears '
                                  f"every {key}.* key)", path, line)
            self._drop_prefix(key + ".")
            return
        if row.sub is not None:
            try:
                row.sub(key[len(row.name):])
            except ValueError as err:
                raise ConfigError(f"{key}: {err}", path, line) from None
        if not value:
            self._forget(key)
            return
        try:
            canon = row.check(value)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}", path, line) from None
        state = self._state
        if kind == K.SINGLE:
            state[key] = ConfigItem(key, canon, path, line)
            return
        if key in ("lxc.namespace.clone", "lxc.namespace.keep"):
            other = "lxc.namespace.keep" if key.endswith("clone") else "lxc.namespace.clone"
            if other in state:
                raise ConfigError(f'cannot set both "{key}" and "{other}"', path, line)
        entry = state.get(key)
        if entry is None:
            entry = state[key] = []
        assert isinstance(entry, list)
        if kind == K.WORDS:
            entry.extend(ConfigItem(key, w, path, line) for w in canon.split())
        else:
            item = ConfigItem(key, canon, path, line)
            entry.append(item)
            if row.sub is not None:
                self._fam.setdefault(row.name, []).append(item)

    def _forget(self, key: str) -> None:
        if self._state.pop(key, None) is not None and self._fam:
            for name, items in self._fam.items():
                if key.startswith(name):
                    self._fam[name] = [i for i in items if i.key != key]

    def _drop_prefix(self, prefix: str) -> None:
        for k in [k for k in self._state if k.startswith(prefix)]:
            self._forget(k)

    def _canonical(self, key: str) -> str:
        key = key.strip()
        if key in K.EXACT:
            return key
        if legacy.is_legacy(key):
            key = legacy.translate_key(key)
        if key.startswith("lxc.net."):
            try:
                key = K.normalize(key)
            except ValueError as err:
                raise ConfigError(str(err)) from None
        return key

    # -- python3-lxc style access --------------------------------------------------------
    def get_item(self, key: str) -> str:
        """The value as LXC's get_config_item prints it (unset: the key's default where
        LXC prints one, such as "0" for lxc.start.auto, else "")."""
        key = self._canonical(key)
        row = self._row(key)
        if row.kind == K.FAMILY:
            if key == "lxc.net":
                return "\n".join(n.get("type", "") for n in self.networks())
            prefix = key + "."
            if key in ("lxc.cgroup", "lxc.cgroup2"):
                return "\n".join(f"{prefix}{k} = {v}" for k, v in self.prefixed_items(prefix))
            return "\n".join(f"{i.key} = {i.value}" for i in self.items()
                             if i.key.startswith(prefix))
        idx = K.net_index(key)
        if idx is not None and not self._has_network(idx[0]):
            raise ConfigError(f'no network {idx[0]}: "{key}"')
        entry = self._state.get(key)
        if entry is None:
            return row.unset  # LXC's getters print the default of a key that is not set
        return self._value_text(key, entry, row)

    @staticmethod
    def _value_text(key: str, entry: _Entry, row: Optional[K.Key] = None) -> str:
        if isinstance(entry, list):
            row = row or K.lookup(key) or K.Key(key)
            values = [i.value for i in entry]
            if row.view is not None:
                values = row.view(values)
            return row.sep.join(values)
        return entry.value

    def set_item(self, key: str, value: str) -> None:
        """Set (or, for repeating keys, add) a value; an empty value clears the key."""
        orig = key.strip()
        key = self._canonical(orig)
        if key != orig and legacy.is_legacy(orig):
            legacy.warn(self._legacy, orig, key, "")
        value = "" if value is None else str(value)
        if "\n" in value:
            raise ConfigError(f'{key}: a value must be a single line')
        value = value.strip(" \t\r")
        if key.startswith("lxc.net.") and K.net_index(key) is None:
            raise ConfigError(f'unknown key "{key}"')
        row = self._row(key)
        if key == "lxc.include" and value:
            from lxcz.config import parser

            saved = {k: (list(v) if isinstance(v, list) else v) for k, v in self._state.items()}
            saved_fam = {k: list(v) for k, v in self._fam.items()}
            try:
                self._apply(key, value, None, None)
                parser.load_file(self, value, False, [], (value, None))
            except ConfigError:
                self._state, self._fam = saved, saved_fam
                raise
            self._lines.append([f"{key} = {_quote(value)}", key])
            return
        family = row.kind == K.FAMILY
        included = (not value) and self._included(key, family)
        self._apply(key, value, None, None)
        if family or not value:
            self._remove_lines(key, family)
            if included:  # the include is read again: clear after it, in the file
                self._lines.append([f"{key} =", key])
            return
        line = f"{key} = {_quote(value)}"
        if row.kind == K.SINGLE:
            mine = [i for i, (_, k) in enumerate(self._lines) if k == key]
            later_include = mine and any(k == "lxc.include" for _, k in self._lines[mine[-1]:])
            if mine and not later_include:
                self._lines[mine[-1]][0] = line
                for i in reversed(mine[:-1]):
                    del self._lines[i]
                return
        self._lines.append([line, key])

    def _included(self, key: str, family: bool) -> bool:
        """Whether a value of ``key`` (or of any key under it) came from an included file."""
        if key in self._inc_keys:
            return True
        prefix = key + "."
        return family and any(k.startswith(prefix) for k in self._inc_keys)

    def clear_item(self, key: str) -> None:
        """Unset a key; families (lxc.net, lxc.cgroup, lxc.net.N, ...) clear every key under them."""
        key = self._canonical(key)
        if key.startswith("lxc.net.") and key[8:].isdigit():
            prefix = key + "."
            self._drop_prefix(prefix)
            self._remove_lines(key, True)
            return
        row = self._row(key)
        family = row.kind == K.FAMILY
        included = key != "lxc.include" and self._included(key, family)
        if family:
            self._drop_prefix(key + ".")
        else:
            self._forget(key)
        self._remove_lines(key, family)
        if included:  # the include is read again on the next load: clear after it
            self._lines.append([f"{key} =", key])

    def _remove_lines(self, key: str, family: bool) -> None:
        prefix = key + "."
        self._lines = [ln for ln in self._lines if not (
            ln[1] is not None and (ln[1] == key or (family and ln[1].startswith(prefix))))]

    def keys(self, prefix: Optional[str] = None) -> List[str]:
        """Key names like LXC's get_keys: all table names, or the sub-keys under ``prefix``."""
        if not prefix:
            return K.all_names()
        prefix = prefix.rstrip(".")
        if prefix.startswith("lxc.net.") and prefix[8:].isdigit():
            if not self._has_network(int(prefix[8:])):
                raise ConfigError(f'no network {prefix[8:]}: "{prefix}"')
            return [r.name for r in K.NET_KEYS]
        if prefix == "lxc.net":
            return sorted({str(n["index"]) for n in self.networks()}, key=int)
        subs = [r.name[len(prefix) + 1:] for r in K.ROWS
                if r.name.startswith(prefix + ".") and r.name != prefix + "."]
        if not subs and K.lookup(prefix) is None:
            raise ConfigError(f'unknown key "{prefix}"')
        return subs

    # -- typed access for the runtime ----------------------------------------------------
    def items(self) -> List[ConfigItem]:
        """Every effective value in order (a repeating key's values together)."""
        out: List[ConfigItem] = []
        for entry in self._state.values():
            if isinstance(entry, list):
                out.extend(entry)
            else:
                out.append(entry)
        return out

    def get(self, key: str, default: Any = None) -> Any:
        """The parsed value of a single-valued key (a list for a repeating key)."""
        key = self._canonical(key)
        row = self._row(key)
        if row.repeats:
            return self.get_list(key) if key in self._state else default
        entry = self._state.get(key)
        if entry is None or isinstance(entry, list):
            return default
        return row.parse(entry.value) if row.parse else entry.value

    def get_list(self, key: str) -> List[Any]:
        """The parsed values of a repeating key ([] when unset; one value for a single key)."""
        key = self._canonical(key)
        row = self._row(key)
        entry = self._state.get(key)
        if entry is None:
            return []
        values = [i.value for i in entry] if isinstance(entry, list) else [entry.value]
        if row.view is not None:
            values = row.view(values)
        if row.parse:
            return [row.parse(v) for v in values]
        return values

    def prefixed(self, prefix: str) -> Dict[str, str]:
        """suffix -> value for every key under ``prefix`` (e.g. "lxc.sysctl."), in order.

        A key given more than once (``lxc.cgroup.devices.allow``) maps to its last value;
        use ``prefixed_items`` to apply every line, in file order, as LXC does.
        """
        if not prefix.endswith("."):
            prefix += "."
        n = len(prefix)
        out: Dict[str, str] = {}
        for k, entry in self._state.items():
            if k.startswith(prefix) and K.EXACT.get(k) is None:
                if isinstance(entry, list):
                    if entry and K.lookup(k) is not None and K.lookup(k).is_prefix:
                        out[k[n:]] = entry[-1].value
                else:
                    out[k[n:]] = entry.value
        return out

    def prefixed_items(self, prefix: str) -> List[tuple]:
        """(suffix, value) for every line under ``prefix``, in file order, repeats kept.

        For lxc.cgroup. and lxc.cgroup2. this is the order LXC writes the cgroup files
        (``devices.deny = a`` then ``devices.allow = ...`` lines).
        """
        if not prefix.endswith("."):
            prefix += "."
        n = len(prefix)
        fam = self._fam.get(prefix)
        if fam is not None:
            return [(i.key[n:], i.value) for i in fam]
        return list(self.prefixed(prefix).items())

    def _has_network(self, index: int) -> bool:
        prefix = f"lxc.net.{index}."
        return any(k.startswith(prefix) for k in self._state)

    def networks(self) -> List[Dict[str, Any]]:
        """One dict per interface, in index order: {"index": N, "type": ..., ...}.

        Repeating sub-keys (ipv4.address, ipv6.address, veth.ipv4.route, ...) are lists,
        present even when empty; other sub-keys only when set.
        """
        nets: Dict[int, Dict[str, Any]] = {}
        for k, entry in self._state.items():
            idx = K.net_index(k) if k.startswith("lxc.net.") else None
            if idx is None:
                continue
            n, sub = idx
            net = nets.get(n)
            if net is None:
                net = nets[n] = {"index": n}
                for r in K.NET_KEYS:
                    if r.repeats:
                        net[r.name] = []
            if isinstance(entry, list):
                net[sub] = [i.value for i in entry]
            else:
                net[sub] = entry.value
        return [nets[i] for i in sorted(nets)]

    def unapplied(self) -> List[ConfigItem]:
        """Items whose key the runtime does not apply yet; a start must refuse them."""
        out = []
        for item in self.items():
            row = K.lookup(item.key)
            if row is not None and not row.applied:
                out.append(item)
        return out

    def require_applied(self) -> None:
        """Raise ConfigError naming the first key the runtime would silently ignore."""
        pending = self.unapplied()
        if pending:
            item = pending[0]
            raise ConfigError(f'key "{item.key}" is not applied by lxcz yet: refusing to '
                              "start rather than ignore it", item.path, item.line)

    def __contains__(self, key: str) -> bool:
        return self._canonical(key) in self._state

    def __repr__(self) -> str:
        return f"<ContainerConfig {self.path or '(new)'}: {len(self._state)} keys>"

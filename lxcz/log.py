"""Logging in LXC's layout.

Log lines written to the -o/--logfile file look like LXC's:
``lxc-start c1 20261124133600.123 ERROR    start - lxcz/runtime/start.py:start:42 - message``.
On stderr, messages are one line ``TOOL: NAME: message`` (warnings and worse unless -l asks
for more; nothing with -q). Python's logging module carries the records; the LXC priority
names map onto it, with TRACE and NOTICE added.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional

TRACE = 5
NOTICE = 25
ALERT = 55
FATAL = 60

PRIORITIES = {
    "TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "NOTICE": NOTICE,
    "WARN": logging.WARNING, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
    "CRIT": logging.CRITICAL, "CRITICAL": logging.CRITICAL, "ALERT": ALERT, "FATAL": FATAL,
}
_NAMES = {TRACE: "TRACE", logging.DEBUG: "DEBUG", logging.INFO: "INFO", NOTICE: "NOTICE",
          logging.WARNING: "WARN", logging.ERROR: "ERROR", logging.CRITICAL: "CRIT",
          ALERT: "ALERT", FATAL: "FATAL"}

log = logging.getLogger("lxcz")


def parse_priority(text: str) -> int:
    """Turn an LXC priority name (any case) or number into a logging level."""
    key = text.strip().upper()
    if key in PRIORITIES:
        return PRIORITIES[key]
    if key.isdigit():
        return int(key)
    raise ValueError(f"invalid log priority {text!r}")


def priority_name(level: int) -> str:
    return _NAMES.get(level, str(level))


class _LxcFileFormatter(logging.Formatter):
    def __init__(self, prog: str, name: str) -> None:
        super().__init__()
        self.prog = prog
        self.name = name

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(record.created))
        stamp += f".{int(record.msecs):03d}"
        module = record.module
        path = record.pathname
        marker = os.sep + "lxcz" + os.sep
        if marker in path:
            path = "lxcz" + os.sep + path.split(marker, 1)[1]
        prefix = f"{self.prog} {self.name}".rstrip()
        line = (f"{prefix} {stamp} {priority_name(record.levelno):<8} {module} - "
                f"{path}:{record.funcName}:{record.lineno} - {record.getMessage()}")
        if record.exc_info and record.levelno <= logging.DEBUG:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _ConsoleFormatter(logging.Formatter):
    def __init__(self, prog: str, name: str) -> None:
        super().__init__()
        self.prefix = f"{prog}: {name}: " if name else f"{prog}: "

    def format(self, record: logging.LogRecord) -> str:
        return self.prefix + record.getMessage()


def setup(prog: str, name: str = "", logfile: Optional[str] = None,
          priority: Optional[str] = None, quiet: bool = False) -> None:
    """Configure the lxcz logger for one tool invocation."""
    level = parse_priority(priority) if priority else None
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.propagate = False
    if logfile and logfile != "none":
        if logfile == "-" or logfile == "/dev/stderr":
            fh: logging.Handler = logging.StreamHandler(sys.stderr)
        else:
            fh = logging.FileHandler(logfile)
        fh.setFormatter(_LxcFileFormatter(prog, name))
        fh.setLevel(level if level is not None else logging.ERROR)
        log.addHandler(fh)
    if not quiet:
        ch = logging.StreamHandler(sys.stderr)
        ch.setFormatter(_ConsoleFormatter(prog, name))
        if logfile or level is None:
            ch.setLevel(logging.WARNING)
        else:
            ch.setLevel(level)
        log.addHandler(ch)
    log.setLevel(min([h.level for h in log.handlers] or [logging.WARNING]))


def debug_enabled() -> bool:
    """True when tracebacks may be shown (log level TRACE or DEBUG)."""
    return log.isEnabledFor(logging.DEBUG)


def trace(msg: str, *args: object) -> None:
    log.log(TRACE, msg, *args, stacklevel=2)


logging.addLevelName(TRACE, "TRACE")
logging.addLevelName(NOTICE, "NOTICE")
logging.addLevelName(ALERT, "ALERT")
logging.addLevelName(FATAL, "FATAL")

"""Logging in LXC's layout, without paying for Python's logging module when unused.

Log lines written to the -o/--logfile file look like LXC's:
``lxc-start c1 20261124133600.123 ERROR    start - lxcz/runtime/start.py:start:42 - message``.
On stderr, messages are one line ``TOOL: NAME: message`` (warnings and worse unless -l asks
for more; nothing with -q).

Start-up time is a feature, and importing ``logging`` costs several milliseconds, so
``log`` is a small object of our own: with neither -o nor -l it writes warnings straight
to stderr; when a log file or a priority is asked for, ``setup`` builds a real
``logging.Logger`` named "lxcz" and ``log`` forwards to it.
"""

from __future__ import annotations

import os
import sys
import time

TRACE = 5
DEBUG = 10
INFO = 20
NOTICE = 25
WARNING = 30
ERROR = 40
CRITICAL = 50
ALERT = 55
FATAL = 60

PRIORITIES = {
    "TRACE": TRACE, "DEBUG": DEBUG, "INFO": INFO, "NOTICE": NOTICE, "WARN": WARNING,
    "WARNING": WARNING, "ERROR": ERROR, "CRIT": CRITICAL, "CRITICAL": CRITICAL,
    "ALERT": ALERT, "FATAL": FATAL,
}
_NAMES = {TRACE: "TRACE", DEBUG: "DEBUG", INFO: "INFO", NOTICE: "NOTICE", WARNING: "WARN",
          ERROR: "ERROR", CRITICAL: "CRIT", ALERT: "ALERT", FATAL: "FATAL"}


def parse_priority(text: str) -> int:
    """Turn an LXC priority name (any case) or number into a level."""
    key = text.strip().upper()
    if key in PRIORITIES:
        return PRIORITIES[key]
    if key.isdigit():
        return int(key)
    raise ValueError(f"invalid log priority {text!r}")


def priority_name(level: int) -> str:
    return _NAMES.get(level, str(level))


class Log:
    """The lxcz logger; see the module docstring."""

    def __init__(self) -> None:
        self.real = None  # a logging.Logger once setup() needs one
        self.prefix = ""
        self.level = WARNING
        self.quiet = False

    @property
    def handlers(self) -> list:
        return list(self.real.handlers) if self.real is not None else []

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        if self.real is not None:
            return self.real.isEnabledFor(level)
        return not self.quiet and level >= self.level

    def log(self, level: int, msg: str, *args: object, exc_info: bool = False,
            stacklevel: int = 1) -> None:
        if self.real is not None:
            self.real.log(level, msg, *args, exc_info=exc_info, stacklevel=stacklevel + 1)
        elif not self.quiet and level >= self.level:
            text = msg % args if args else msg
            sys.stderr.write(self.prefix + str(text) + "\n")

    def trace(self, msg: str, *args: object) -> None:
        self.log(TRACE, msg, *args, stacklevel=2)

    def debug(self, msg: str, *args: object, **kw: object) -> None:
        self.log(DEBUG, msg, *args, stacklevel=2)

    def info(self, msg: str, *args: object, **kw: object) -> None:
        self.log(INFO, msg, *args, stacklevel=2)

    def notice(self, msg: str, *args: object) -> None:
        self.log(NOTICE, msg, *args, stacklevel=2)

    def warning(self, msg: str, *args: object, **kw: object) -> None:
        self.log(WARNING, msg, *args, stacklevel=2)

    warn = warning

    def error(self, msg: str, *args: object, **kw: object) -> None:
        self.log(ERROR, msg, *args, stacklevel=2)

    def critical(self, msg: str, *args: object, **kw: object) -> None:
        self.log(CRITICAL, msg, *args, stacklevel=2)

    def exception(self, msg: str, *args: object) -> None:
        self.log(ERROR, msg, *args, exc_info=True, stacklevel=2)

    def to_logfile(self, level: int, message: str) -> None:
        """Write message to the -o file only (the console already has it)."""
        if self.real is None:
            return
        import logging

        record = self.real.makeRecord("lxcz", level, "lxcz", 0, message, (), None, "report")
        for h in self.real.handlers:
            if isinstance(h, logging.FileHandler):
                h.handle(record)

    def removeHandler(self, handler: object) -> None:  # noqa: N802 - logging's name
        if self.real is not None:
            self.real.removeHandler(handler)

    def drop_console(self) -> None:
        """Stop writing to stderr (a daemonized monitor has none), keep the log file."""
        self.quiet = True
        if self.real is None:
            return
        import logging

        for h in list(self.real.handlers):
            if not isinstance(h, logging.FileHandler):
                self.real.removeHandler(h)

    def close_handlers(self) -> None:
        """Close the log file (a forked monitor reopens what it needs)."""
        if self.real is None:
            return
        for h in list(self.real.handlers):
            self.real.removeHandler(h)
            h.close()


log = Log()


LOGPATH = "/var/log/lxc"  # LXC's LOGPATH
LXCPATH = "/var/lib/lxc"  # LXC's built-in LXCPATH, which picks LOGPATH for root


def default_logfile(name: str, lxcpath: str | None) -> str | None:
    """Where LXC's tools log when -l comes without -o: for root with the built-in lxcpath
    /var/log/lxc/NAME.log, else LXCPATH/NAME/NAME.log, else /var/log/lxc/NAME.log if it
    can be written; None when none of them can (LXC then logs to stderr only). Unlike
    LXC, no directory is made on the way: a mistyped name leaves nothing behind."""
    if not name or "/" in name or name in (".", ".."):
        return None
    own = os.path.join(LOGPATH, name + ".log")
    candidates = [os.path.join(lxcpath, name, name + ".log")] if lxcpath else []
    if os.geteuid() == 0 and (lxcpath or "").rstrip("/") == LXCPATH:
        candidates.insert(0, own)
    candidates.append(own)
    for path in candidates:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC |
                         os.O_NOCTTY, 0o640)
        except OSError:
            continue
        os.close(fd)
        return path
    return None


def setup(prog: str, name: str = "", logfile: str | None = None,
          priority: str | None = None, quiet: bool = False,
          lxcpath: str | None = None) -> None:
    """Configure logging for one tool invocation. Raises ValueError/OSError on bad input.

    With a priority and no logfile, the log goes where LXC's would (default_logfile).
    """
    level = parse_priority(priority) if priority else None
    if level is not None and not logfile and name:
        logfile = default_logfile(name, lxcpath)
    log.prefix = f"{prog}: {name}: " if name else f"{prog}: "
    log.quiet = quiet
    log.close_handlers()
    log.real = None
    if not logfile and level is None:
        log.level = WARNING
        return
    import logging

    _register_levels(logging)
    real = logging.getLogger("lxcz")
    real.propagate = False
    for h in list(real.handlers):
        real.removeHandler(h)
        h.close()
    if logfile and logfile != "none":
        if logfile in ("-", "/dev/stderr"):
            fh: logging.Handler = logging.StreamHandler(sys.stderr)
        else:
            # created -rw-r-----, as LXC's log files
            os.close(os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                             0o640))
            fh = logging.FileHandler(logfile)
        fh.setFormatter(_file_formatter(logging, prog, name))
        fh.setLevel(level if level is not None else ERROR)
        real.addHandler(fh)
    if not quiet:
        ch = logging.StreamHandler(sys.stderr)
        ch.setFormatter(_console_formatter(logging, log.prefix))
        ch.setLevel(WARNING if logfile or level is None else level)
        real.addHandler(ch)
    real.setLevel(min([h.level for h in real.handlers] or [WARNING]))
    log.real = real


def debug_enabled() -> bool:
    """True when tracebacks may be shown (log level TRACE or DEBUG)."""
    return log.isEnabledFor(DEBUG)


def trace(msg: str, *args: object) -> None:
    log.log(TRACE, msg, *args, stacklevel=2)


def _register_levels(logging) -> None:  # noqa: ANN001
    for level, name in ((TRACE, "TRACE"), (NOTICE, "NOTICE"), (ALERT, "ALERT"),
                         (FATAL, "FATAL")):
        logging.addLevelName(level, name)


def _file_formatter(logging, prog: str, name: str):  # noqa: ANN001
    class LxcFileFormatter(logging.Formatter):
        def format(self, record):  # noqa: ANN001
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(record.created))
            stamp += f".{int(record.msecs):03d}"
            path = record.pathname
            marker = os.sep + "lxcz" + os.sep
            if marker in path:
                path = "lxcz" + os.sep + path.split(marker, 1)[1]
            head = f"{prog} {name}".rstrip()
            line = (f"{head} {stamp} {priority_name(record.levelno):<8} {record.module} - "
                    f"{path}:{record.funcName}:{record.lineno} - {record.getMessage()}")
            if record.exc_info and record.levelno <= DEBUG:
                line += "\n" + self.formatException(record.exc_info)
            return line

    return LxcFileFormatter()


def _console_formatter(logging, prefix: str):  # noqa: ANN001
    class ConsoleFormatter(logging.Formatter):
        def format(self, record):  # noqa: ANN001
            text = prefix + record.getMessage()
            if record.exc_info and record.levelno <= DEBUG:
                text += "\n" + self.formatException(record.exc_info)
            return text

    return ConsoleFormatter()

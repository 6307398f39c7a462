"""Exceptions shared by every layer; tools turn them into one-line messages."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


class LxczError(Exception):
    """An error a user can act on. str(err) is the cause, ready to print.

    exit_code lets a layer ask for a particular tool exit status (default 1).
    """

    exit_code = 1

    def __init__(self, message: str, exit_code: Optional[int] = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(LxczError):
    """A configuration file, line or value that cannot be accepted."""

    def __init__(self, message: str, path: Optional[str] = None,
                 line: Optional[int] = None) -> None:
        self.cause = message
        self.path = path
        self.line = line
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(where + message)


class NotImplementedYet(LxczError):
    """A tool or feature that lxcz does not provide yet; never pretend it works."""

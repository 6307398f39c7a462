"""C functions of the program's own symbol table (libc, the interpreter), called through
``_ctypes`` alone.

``ctypes`` costs 1.3 ms to import and about 600 KB of memory in every process that loads
it; ``_ctypes``, the extension it is built on, costs 0.3 ms. The calls on the hot paths
that Python's os module lacks — setns, unshare, prctl, personality, clone3 (through
syscall), madvise, malloc_trim — take integers, addresses or a byte string, so five tiny
argument types are all they need. ``function`` binds one by name, once per signature
(callers need no cache of their own); errno is read with ``get_errno`` as with ctypes'
``use_errno``.
"""

from __future__ import annotations

import _ctypes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Sequence, Tuple

RTLD_NOW = 2


class Int(_ctypes._SimpleCData):
    _type_ = "i"


class Long(_ctypes._SimpleCData):
    _type_ = "l"


class ULong(_ctypes._SimpleCData):
    _type_ = "L"  # also size_t: unsigned long on every Linux ABI


class VoidP(_ctypes._SimpleCData):
    _type_ = "P"


class CharP(_ctypes._SimpleCData):
    _type_ = "z"  # bytes in, read-only


class Char(_ctypes._SimpleCData):
    _type_ = "c"


class _Program:
    _handle = _ctypes.dlopen(None, RTLD_NOW)  # the interpreter and its libc


get_errno = _ctypes.get_errno
set_errno = _ctypes.set_errno
addressof = _ctypes.addressof
POINTER_SIZE = _ctypes.sizeof(VoidP)


_buffer_types: Dict[int, Any] = {}


def buffer(data: bytes = b"", size: int = 0) -> Any:
    """A writable C buffer of max(size, len(data)) bytes starting with data; pass
    ``addressof(buf)`` for a VoidP argument, read it back with ``buf.raw``. The array
    type of each length is made once (a forked init that calls this again builds no
    class, and copies none of the pages it shares with its monitor)."""
    length = max(size, len(data), 1)
    kind = _buffer_types.get(length)
    if kind is None:

        class _Buf(_ctypes.Array):
            _type_ = Char
            _length_ = length

        kind = _buffer_types[length] = _Buf
    buf = kind()
    if data:
        buf.raw = data + bytes(len(buf.raw) - len(data))
    return buf


_bound: Dict[Tuple[Any, ...], Any] = {}


def function(name: str, restype: Any = Int, argtypes: Sequence[Any] = (),
             python_api: bool = False) -> Any:
    """The C function name (AttributeError when there is none), bound at the first
    call with this signature and the same object after. ``python_api``: the GIL stays
    held during the call (ctypes' PyDLL), for the interpreter's own API."""
    key = (name, restype, tuple(argtypes), python_api)
    fn = _bound.get(key)
    if fn is None:
        fn = _bound[key] = _bind(name, restype, argtypes, python_api)
    return fn


def _bind(name: str, restype: Any, argtypes: Sequence[Any], python_api: bool) -> Any:
    class _Fn(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO | \
            (_ctypes.FUNCFLAG_PYTHONAPI if python_api else 0)
        _restype_ = restype

    fn = _Fn((name, _Program()))
    if argtypes:
        fn.argtypes = tuple(argtypes)
    return fn

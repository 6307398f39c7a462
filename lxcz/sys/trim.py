"""Giving back the memory an idle long-lived process does not use: ``trim()``.

A Python process keeps in its resident set every page of the interpreter's code that its
start-up and imports ever touched (several MB, most never run again), and freed heap
that malloc has not returned. A monitor or an lxc-init that sleeps in one system call for
hours needs almost none of it. ``trim`` collects garbage (objects ``gc.freeze`` kept
shared with a forked child are left alone), unmaps the clean pages of its read-only file
mappings (``madvise(MADV_DONTNEED)``: they stay in the page cache, and the few the
process needs later come back as minor faults) and asks malloc to return free memory
(``malloc_trim``, glibc only).

A mapping is dropped only when it is private, not writable and holds no anonymous page
(smaps ``Anonymous: 0 kB``): such a mapping is the file's content and nothing else, so
dropping it loses nothing. Relocated read-only data (RELRO) has anonymous pages and is
kept. Everything written stays: this frees nothing the process changed.

It goes through ``lxcz.sys.tinyc`` (``_ctypes`` alone) rather than ``ctypes``: loading
ctypes for this would add more memory than some of what is given back.
"""

from __future__ import annotations

MADV_DONTNEED = 4


def _bind() -> tuple:
    """(madvise, malloc_trim or None, and the argument types); tinyc binds each once."""
    from lxcz.sys import tinyc

    madvise = tinyc.function("madvise")
    try:
        malloc_trim = tinyc.function("malloc_trim")
    except AttributeError:  # musl and other libcs without it
        malloc_trim = None
    return madvise, malloc_trim, tinyc.VoidP, tinyc.ULong, tinyc.Int


def long_lived() -> None:
    """This process goes on for a while (it serves or watches in a loop): collect cycles
    again, as any Python program does (the command line turns the collector off for
    short-lived tools, lxcz.__main__). What exists by now is moved out of the collector's
    sight (``gc.freeze``): it lives as long as the process does, and a child forked
    later keeps sharing those pages instead of copying them when either side collects."""
    import gc

    gc.freeze()
    gc.enable()


def prepare() -> None:
    """Load now what trim needs (for a process about to pivot into a container, where
    neither the standard library nor lxcz can be found any more)."""
    try:
        _bind()
    except (ImportError, AttributeError, OSError):
        pass


def droppable(smaps: str) -> list:
    """(start, length) of each mapping in an smaps text that trim may drop."""
    out = []
    cur = None
    for line in smaps.splitlines():
        head = line.split(None, 5)
        if not head:
            continue
        if "-" in head[0] and not head[0].endswith(":"):
            cur = None
            if len(head) < 6:
                continue  # anonymous
            perms, path = head[1], head[5].strip()
            if perms[:1] == "r" and perms[1:2] == "-" and perms[3:4] == "p" \
                    and path.startswith("/"):
                lo, _, hi = head[0].partition("-")
                cur = [int(lo, 16), int(hi, 16) - int(lo, 16), True]
                out.append(cur)
        elif head[0] == "Anonymous:" and cur is not None and head[1] != "0":
            cur[2] = False
    return [(start, size) for start, size, ok in out if ok]


def trim() -> int:
    """Drop what can be dropped (see the module's docstring); return the bytes of
    mappings unmapped. Never raises: this is an optimisation."""
    import gc

    gc.collect()
    try:
        madvise, malloc_trim, void_p, size_t, c_int = _bind()
    except (OSError, ImportError, AttributeError):
        return 0
    done = 0
    try:
        with open("/proc/self/smaps") as f:
            spans = droppable(f.read())
    except OSError:
        spans = []
    for start, size in spans:
        if madvise(void_p(start), size_t(size), c_int(MADV_DONTNEED)) == 0:
            done += size
    if malloc_trim is not None:  # last: the smaps text is free memory by now
        malloc_trim(size_t(0))
    return done

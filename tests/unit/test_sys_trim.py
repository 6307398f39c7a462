"""lxcz.sys.trim: which mappings it may drop, and that a trimmed interpreter loses
resident file pages and nothing it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from lxcz.sys import trim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SMAPS = """\
00400000-00420000 r--p 00000000 08:01 11 /usr/bin/python3.11
Rss:                 128 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
00420000-00700000 r-xp 00020000 08:01 11 /usr/bin/python3.11
Rss:                2048 kB
Anonymous:             0 kB
00700000-00800000 r--p 00300000 08:01 11 /usr/bin/python3.11
Rss:                 512 kB
Anonymous:            12 kB
00800000-00900000 rw-p 00400000 08:01 11 /usr/bin/python3.11
Anonymous:           900 kB
00900000-00a00000 rw-p 00000000 00:00 0 [heap]
Anonymous:           700 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
Anonymous:          1024 kB
7f0000100000-7f0000200000 r--s 00000000 08:01 12 /var/lib/some.db
Anonymous:             0 kB
7f0000200000-7f0000210000 r-xp 00000000 08:01 13 /usr/lib/libc with space.so
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
"""


def test_droppable_takes_clean_private_readonly_file_mappings_only():
    assert trim.droppable(SMAPS) == [
        (0x400000, 0x20000),            # read-only data, nothing written
        (0x420000, 0x2E0000),           # code
        (0x7F0000200000, 0x10000),      # a path with a space
    ]
    # kept: RELRO with anonymous pages, writable data, heap, anonymous memory, a shared
    # mapping, the vdso


def test_droppable_of_this_process_is_not_empty():
    with open("/proc/self/smaps") as f:
        spans = trim.droppable(f.read())
    assert spans and all(size > 0 for _start, size in spans)


def test_trim_unmaps_file_pages_and_keeps_what_was_written():
    code = textwrap.dedent("""
        import sys
        from lxcz.sys import trim

        def file_rss():
            vals = {}
            with open("/proc/self/smaps_rollup") as f:
                for line in f:
                    parts = line.split()
                    if parts[-1] == "kB":
                        vals[parts[0]] = int(parts[1])
            return vals["Rss:"] - vals["Anonymous:"]

        data = {str(i): [i] * 3 for i in range(20000)}   # written memory
        import json, email.parser, http.client          # touch plenty of code
        before = file_rss()
        dropped = trim.trim()
        after = file_rss()
        assert sum(v[2] for v in data.values()) == sum(range(20000))
        assert json.loads(json.dumps({"a": [1, 2]})) == {"a": [1, 2]}
        print(dropped, before, after)
    """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          f"import sys; sys.path.insert(0, {ROOT!r})\n" + code],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    dropped, before, after = (int(x) for x in out.stdout.split())
    assert dropped > 0
    assert after < before  # kB of file pages resident: fewer once trimmed

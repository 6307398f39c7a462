"""Regenerate lxcz/sys/arch/syscalls.json from libseccomp's syscall table.

The source is libseccomp's ``src/syscalls.csv``, which libseccomp builds from the kernel's
own per-architecture tables (arch/*/entry/syscalls/*.tbl, include/uapi/asm-generic/unistd.h).
It is read once, by hand, when the tables need refreshing; lxcz never reads it at run time.

Usage::

    git -C libseccomp show HEAD:src/syscalls.csv > /tmp/syscalls.csv
    python3 lxcz/sys/arch/generate.py /tmp/syscalls.csv [SOURCE-DESCRIPTION]

The output is columnar to stay small: one list of names and, per architecture, one list of
numbers in the same order (-1 where the call does not exist on that architecture).
"""

from __future__ import annotations

import csv
import json
import os
import sys

# CSV column -> lxcz table name.  ppc64 and ppc64le share one table (same numbers).
COLUMNS = {
    "x86": "i386",
    "x86_64": "x86_64",
    "x32": "x32",
    "arm": "arm",
    "aarch64": "aarch64",
    "ppc": "ppc",
    "ppc64": "ppc64",
    "s390": "s390",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def convert(csv_path: str) -> dict:
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    version = header[0].lstrip("#").replace("syscall", "").strip()
    index = {col: header.index(col) for col in COLUMNS}
    names = []
    numbers: dict = {table: [] for table in COLUMNS.values()}
    for row in sorted(rows[1:], key=lambda r: r[0]):
        if not row or row[0].startswith("#"):
            continue
        names.append(row[0])
        for col, table in COLUMNS.items():
            cell = row[index[col]].strip()
            numbers[table].append(int(cell) if cell.isdigit() else -1)
    return {"version": version, "names": names, "numbers": numbers}


def main(argv: list) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    data = convert(argv[0])
    data["source"] = (argv[1] if len(argv) > 1 else "libseccomp src/syscalls.csv") + \
        f" (kernel {data['version']})"
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "syscalls.json")
    with open(out, "w") as f:
        json.dump(data, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(f"wrote {out}: {len(data['names'])} names, {len(data['numbers'])} tables")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

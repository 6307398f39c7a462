#!/usr/bin/env python3
"""Cold start of `dist/lxcz lxc-ls --version` against the bare interpreter, same run.

Each sample is a fresh process (what a user waits for when typing a command); the two
commands alternate so that machine noise hits both alike. Reported: medians, the ratio
lxcz / `python3 -I -S -c pass` (target <= 2.0), and for reference what a plain zipapp
pays on this interpreter (an archive whose __main__.py is `pass`: site + runpy + zipimport;
lxcz's start-up files undercut it, see docs/building.md) and the first run, which extracts
the archive into a fresh cache.

Then `python3 -X importtime` on the same command: the modules it imports, and the check
that neither pyroute2 nor elftools is among them (exit 1 if one is).

Usage: bench/bench_startup.py [--runs N] [--python /usr/bin/python3] [--dist dist/lxcz]
       [--strict]   (exit 1 also when the ratio is above the target)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 2.0
FORBIDDEN = ("pyroute2", "elftools")


def timed(cmd: list, env: dict) -> tuple:
    """Wall-clock seconds and CPU seconds (user + system) of one run of cmd."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=False)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def ms(x: float) -> str:
    return f"{x * 1000:7.2f} ms"


def pick_command(dist: str, env: dict) -> list:
    """lxc-ls --version once the lxc-ls module exists; lxcz --version until then. The
    archive runs itself, as a user's link does (its shell prologue starts LXCZ_PYTHON)."""
    cmd = [dist, "lxc-ls", "--version"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode == 0:
        return cmd
    print(f"note: `lxc-ls --version` is not available yet ({out.stderr.strip()}); "
          "measuring `lxcz --version` instead")
    return [dist, "--version"]


def prologue_code(dist: str) -> str:
    """The -c code of the archive's shell prologue (build/build's PROLOGUE)."""
    with open(dist, "rb") as f:
        head = f.read(512).decode("utf-8", "replace")
    for line in head.splitlines():
        if line.startswith("exec ") and " -c '" in line:
            return line.split(" -c '", 1)[1].split("'", 1)[0]
    raise SystemExit(f"{dist}: no shell prologue (rebuild with build/build)")


def empty_zipapp(dirname: str) -> str:
    path = os.path.join(dirname, "empty.pyz")
    with open(path, "wb") as f:
        f.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("__main__.py", "pass\n")
    return path


def imported_modules(python: str, cmd: list, env: dict) -> list:
    """-X importtime of cmd ([archive, args...]), started as the prologue starts it."""
    argv = [python, "-I", "-S", "-X", "importtime", "-c", prologue_code(cmd[0]), *cmd]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    mods = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            self_us, _cumulative, name = line[len("import time:"):].split("|")
            name = name.strip()
            if name != "imported package":
                mods.append((name, int(self_us.strip())))
    return mods


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--dist", default=os.path.join(TOP, "dist", "lxcz"))
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.dist):
        print(f"{args.dist}: not built (run build/build)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="lxcz-bench-")
    try:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine
        # a private cache, so the first run below really extracts; later runs are warm
        env["SHIV_ROOT"] = os.path.join(tmp, "cache")
        env["LXCZ_PYTHON"] = args.python  # what the archive's prologue starts
        first = timed([args.dist, "--version"], env)[0]
        cmd = pick_command(args.dist, env)
        base = [args.python, "-I", "-S", "-c", "pass"]
        floor = [args.python, empty_zipapp(tmp)]
        for c in (base, cmd, floor):  # warm the page cache and the pyc files
            timed(c, env)
        wall = {"base": [], "lxcz": [], "floor": []}
        cpu = {"base": [], "lxcz": [], "floor": []}
        for _ in range(args.runs):
            for key, c in (("base", base), ("lxcz", cmd), ("floor", floor)):
                w, u = timed(c, env)
                wall[key].append(w)
                cpu[key].append(u)
        med = {k: statistics.median(v) for k, v in wall.items()}
        cmed = {k: statistics.median(v) for k, v in cpu.items()}
        ratio = med["lxcz"] / med["base"]
        py_version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                                    capture_output=True, text=True, check=False).stdout.strip()
        label = " ".join(os.path.basename(a) if a == args.dist else a for a in cmd)
        print(f"interpreter: {args.python} (Python {py_version}); {args.runs} runs each, "
              f"medians; load average {os.getloadavg()[0]:.2f}")
        print(f"  {'':<36} {'wall':>10} {'cpu (user+sys)':>16}")
        for key, name in (("base", " ".join(base[1:])), ("lxcz", label),
                          ("floor", "empty zipapp (reference)")):
            print(f"  {name:<36} {ms(med[key])} {ms(cmed[key]):>16}")
        print(f"  {'first run, extracting (reference)':<36} {ms(first)}")
        cratio = cmed["lxcz"] / cmed["base"] if cmed["base"] else float("nan")
        verdict = "meets" if ratio <= TARGET else "ABOVE"
        print(f"ratio lxcz / bare interpreter: {ratio:.2f} wall ({verdict} the target {TARGET:.1f}),"
              f" {cratio:.2f} cpu; empty zipapp: {med['floor'] / med['base']:.2f} wall")

        mods = imported_modules(args.python, cmd, env)
        names = [m for m, _ in mods]
        bad = [m for m in names if m.split(".")[0] in FORBIDDEN]
        ours = [m for m in names if m == "lxcz" or m.startswith("lxcz.")]
        heavy = sorted(mods, key=lambda m: -m[1])[:8]
        print(f"-X importtime: {len(names)} modules imported; lxcz modules: {', '.join(ours)}")
        print("  largest self times: " + ", ".join(f"{m} {us / 1000:.2f} ms" for m, us in heavy))
        if bad:
            print(f"FAIL: imported {', '.join(bad)}")
            return 1
        print("OK: neither pyroute2 nor elftools imported")
        return 1 if args.strict and ratio > TARGET else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

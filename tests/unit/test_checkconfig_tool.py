"""lxc-checkconfig: the command line, text and JSON output, discovery and live facts."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys

import pytest

from lxcz.checkconfig import discover, extract, live
from lxcz.tools import lxc_checkconfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "kernel-configs")
BOOKWORM = os.path.join(FIXTURES, sorted(f for f in os.listdir(FIXTURES)
                                         if f.startswith("bookworm_amd64"))[0])
TRIXIE = os.path.join(FIXTURES, sorted(f for f in os.listdir(FIXTURES)
                                       if f.startswith("trixie_amd64"))[0])

GOOD = ("# Linux/x86 6.1.0 Kernel Configuration\nCONFIG_NAMESPACES=y\nCONFIG_IPC_NS=y\n"
        "CONFIG_PID_NS=y\nCONFIG_VETH=m\n")


@pytest.fixture(autouse=True)
def no_config_env(monkeypatch):
    monkeypatch.delenv("CONFIG", raising=False)


def run(argv, capsys):
    rc = lxc_checkconfig.main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_text_report_on_file(capsys):
    rc, out, err = run(["--config", BOOKWORM], capsys)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("LXC version ")
    for sec in ("--- Namespaces ---", "--- Control groups ---", "--- Misc ---",
                "--- Checkpoint/Restore ---"):
        assert sec in lines
    assert "Namespaces: enabled" in lines
    assert "Veth pair device: enabled, built as module" in lines
    assert "File capabilities: enabled" in lines
    # not the running kernel: no mount points, no module state, no running-kernel section
    assert "Cgroup v1 mount points: " not in lines
    assert "--- Running kernel ---" not in lines
    assert "\033[" not in out  # no color when stdout is not a terminal


def test_config_env(capsys, monkeypatch):
    monkeypatch.setenv("CONFIG", TRIXIE)
    rc, out, _ = run([], capsys)
    assert rc == 0
    assert "Cgroup v1 memory controller: missing" in out
    assert "  hint: enable CONFIG_MEMCG_V1" in out


def test_option_beats_env(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CONFIG", str(tmp_path / "nothing"))
    rc, _, _ = run(["--config", BOOKWORM], capsys)
    assert rc == 0


def test_json(capsys):
    rc, out, _ = run(["--config", TRIXIE, "--json"], capsys)
    doc = json.loads(out)
    assert rc == 0 and doc["schema"] == 1
    assert doc["config"]["kernel_version"].startswith("6.12.")
    assert doc["config"]["arch"] == "x86" and doc["config"]["running_kernel"] is False
    assert doc["system"] is None
    checks = {c["id"]: c for s in doc["sections"] for c in s["checks"]}
    assert checks["veth"]["status"] == "module"
    assert checks["veth"]["options"] == {"CONFIG_VETH": "m"}
    assert checks["cgroup_memory_v1"]["ok"] is False
    assert checks["cgroup_memory_v1"]["hint"].startswith("enable CONFIG_MEMCG_V1")
    assert doc["summary"] == {"ok": True, "required_missing": [],
                              "optional_missing": ["cgroup_memory_v1", "cgroup_cpuset_v1"],
                              "exit_code": 0}


def test_required_missing(capsys, tmp_path):
    p = tmp_path / "config"
    p.write_text(GOOD.replace("CONFIG_PID_NS=y", "# CONFIG_PID_NS is not set"))
    rc, out, _ = run(["--config", str(p)], capsys)
    assert rc == 1 and "Pid namespace: required" in out
    rc, out, _ = run(["--config", str(p), "--json"], capsys)
    assert rc == 1 and json.loads(out)["summary"]["required_missing"] == ["pid_ns"]


def test_color_on_tty(capsys, tmp_path, monkeypatch):
    p = tmp_path / "config"
    p.write_text(GOOD)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    rc, out, _ = run(["--config", str(p)], capsys)
    assert "\033[1;32menabled\033[0;39m" in out and "\033[1;33mmissing\033[0;39m" in out


def test_no_version_warning(capsys, tmp_path):
    p = tmp_path / "config"
    p.write_text(GOOD.split("\n", 1)[1])
    rc, out, _ = run(["--config", str(p)], capsys)
    assert "WARNING: Unable to detect version from configuration, assuming latest" in out


@pytest.mark.parametrize("make", [
    lambda d: str(d),
    lambda d: str(d / "missing"),
    lambda d: (d / "t.txt").write_text("not a config\n") and str(d / "t.txt"),
    lambda d: (d / "c.gz").write_bytes(gzip.compress(GOOD.encode() * 99)[:60]) and str(d / "c.gz"),
])
@pytest.mark.parametrize("json_opt", [[], ["--json"]])
def test_bad_input_exit_2(capsys, tmp_path, make, json_opt):
    rc, out, err = run(["--config", make(tmp_path)] + json_opt, capsys)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("lxc-checkconfig: ")
    assert "Traceback" not in err


def test_help_and_bad_option(capsys):
    rc, out, _ = run(["--help"], capsys)
    assert rc == 0 and "--config=PATH" in out and "--json" in out and "--name" not in out
    rc, _, err = run(["--bogus"], capsys)
    assert rc == 1 and "unrecognized option" in err


def test_runs_as_module_and_lazily():
    code = ("import sys; from lxcz.__main__ import main; rc = main(['lxc-checkconfig', "
            "'--config', sys.argv[1]]); "
            "print(rc, sorted(m for m in ('elftools', 'pyroute2', 'lzma', 'bz2') "
            "if m in sys.modules), file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, BOOKWORM], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.stderr.strip() == "0 ['lzma']"  # xz fixture: lzma only; never elftools, bz2


# -- discovery -------------------------------------------------------------------------

def test_discover_order(tmp_path):
    rel = "6.1.0-test"
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / f"config-{rel}").write_text(GOOD)
    build = tmp_path / "lib" / "modules" / rel / "build"
    build.mkdir(parents=True)
    (build / ".config").write_text(GOOD.replace("VETH=m", "VETH=y"))
    cfg, _ = discover.find(rel, str(tmp_path))
    assert cfg.source.endswith(f"boot/config-{rel}")  # /boot wins, as upstream
    (boot / f"config-{rel}").unlink()
    cfg, _ = discover.find(rel, str(tmp_path))
    assert cfg.source.endswith("build/.config")


def test_discover_configs_ko_via_modules_dep(tmp_path):
    rel = "6.6.0-x"
    mods = tmp_path / "lib" / "modules" / rel
    (mods / "kernel" / "odd").mkdir(parents=True)
    blob = b"IKCFG_ST" + gzip.compress(GOOD.encode()) + b"IKCFG_ED"
    # not an ELF: an uncompressed blob is enough for discovery's purposes
    (mods / "kernel" / "odd" / "configs.ko.raw").write_bytes(b"\0" * 64 + blob)
    (mods / "modules.dep").write_text("kernel/odd/configs.ko.raw:\n")
    cfg, _ = discover.find(rel, str(tmp_path))
    assert cfg.source.endswith("configs.ko.raw") and cfg.state("VETH") == "m"


def test_discover_skips_broken_candidates(tmp_path):
    rel = "6.6.0-y"
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / f"config-{rel}").write_text("garbage\n")
    (boot / f"vmlinuz-{rel}").write_bytes(b"MZ" + gzip.compress(b"Linux version " + GOOD.encode()))
    with pytest.raises(extract.SourceError) as exc:
        discover.find(rel, str(tmp_path))
    assert "unable to retrieve kernel configuration" in str(exc.value)
    assert exc.value.exit_code == 2


# -- live facts ------------------------------------------------------------------------

def test_live_gather_fake_proc(tmp_path):
    proc = tmp_path / "proc"
    (proc / "self" / "ns").mkdir(parents=True)
    for ns in ("cgroup", "ipc", "net"):
        (proc / "self" / "ns" / ns).write_text("")
    (proc / "self" / "mounts").write_text(
        "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"
        "cgroup /mnt/with\\040space cgroup rw,freezer 0 0\n")
    (proc / "sys" / "user").mkdir(parents=True)
    (proc / "sys" / "user" / "max_user_namespaces").write_text("0\n")
    (proc / "sys" / "user" / "max_net_namespaces").write_text("77\n")
    (proc / "modules").write_text("veth 40960 0 - Live 0x0\nbridge 1 0 - Live 0x0\n")
    s = live.gather(str(proc))
    assert s.cgroup_v2_mounts == ["/sys/fs/cgroup"]
    assert s.cgroup_v1_mounts == ["/mnt/with space"]
    assert s.v1_systemd_missing is None  # cgroup2 at /sys/fs/cgroup: no v1 checks
    assert s.namespace_limits == {"user": 0, "net": 77}
    assert s.namespaces == ["cgroup", "ipc", "net"]
    assert s.loaded_modules == {"veth", "bridge"}


def test_uidmap_tools(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    (d / "newuidmap").write_text("#!/bin/sh\n")
    os.chmod(d / "newuidmap", 0o755)
    info = live.uidmap_tools(str(d))
    assert info["newgidmap"] is None
    assert info["newuidmap"]["setuid"] is False


def test_live_text_block():
    from lxcz.checkconfig import output, rules

    cfg = extract.kconfig.parse(GOOD)
    s = live.System(cgroup_v1_mounts=["/sys/fs/cgroup/cpu"], cgroup_v2_mounts=[],
                    v1_systemd_missing=True, v1_freezer_missing=True,
                    namespace_limits={"user": 0}, namespaces=["ipc"],
                    uidmap={"newuidmap": None, "newgidmap": {"path": "/x", "setuid": False,
                                                            "file_caps": False}})
    report = rules.evaluate(cfg, rules.load_rules(), live=True, loaded_modules=set(),
                            proc_ns={"ipc"})
    text = output.render_text(report, s, "lxc-checkconfig", "5.0.2")
    assert "Cgroup v1 mount points: \n - /sys/fs/cgroup/cpu\nCgroup v2 mount points: \n" in text
    assert "Cgroup v1 systemd controller: missing" in text
    assert "Cgroup namespace: missing" in text
    assert "user namespaces are disabled" in text
    assert "Veth pair device: enabled, built as module, not loaded" in text
    doc = json.load(io.StringIO(output.render_json(report, s, "5.0.2", "0")))
    assert doc["system"]["namespace_limits"] == {"user": 0}


def test_quiet_gives_only_exit_code(capsys, tmp_path):
    p = tmp_path / "config"
    p.write_text(GOOD.replace("CONFIG_IPC_NS=y", ""))
    rc, out, err = run(["-q", "--config", str(p)], capsys)
    assert (rc, out, err) == (1, "", "")
    rc, out, err = run(["-q", "--json", "--config", str(p)], capsys)
    assert (rc, out, err) == (1, "", "")


def test_no_module_support_means_no_loaded_state(tmp_path):
    from lxcz.checkconfig import rules

    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    s = live.gather(str(proc))
    assert s.loaded_modules is None
    report = rules.evaluate(extract.kconfig.parse(GOOD), rules.load_rules(), live=True,
                            loaded_modules=s.loaded_modules, proc_ns=set())
    veth = [r for r in report.results() if r.id == "veth"][0]
    assert veth.status == "module" and veth.module_loaded is None

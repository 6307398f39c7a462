"""Boot one guest of the matrix under QEMU and reach it over ssh; always clean up.

``with Guest("x86_64") as g:`` starts ``qemu-system-*`` on a throwaway qcow2 overlay of
the cached root.img (the image itself is never written), forwards a free port on
127.0.0.1 to the guest's sshd through QEMU user networking (no tap device, no root
network changes on the host), and waits until ``ssh true`` works or the arch's timeout
passes. On leaving it powers the guest off, kills QEMU if it does not exit, and removes
the run directory (overlay, console log copy, ssh config). QEMU gets PR_SET_PDEATHSIG, so
it also dies with the process that started it; run directories of dead runs are swept
on the next start.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

import arches
import vmimage
from vmimage import VmError


def kvm_problem() -> str:
    """Why /dev/kvm cannot be used, or "" when it opens."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as err:
        return f"/dev/kvm: {err.strerror}"
    os.close(fd)
    return ""


def kvm_usable() -> bool:
    return not kvm_problem()


def choose_accel(spec: dict) -> str:
    """kvm for rows that can use it when /dev/kvm opens, else tcg; LXCZ_VM_ACCEL overrides."""
    want = os.environ.get("LXCZ_VM_ACCEL", "auto")
    if want == "tcg" or not spec.get("kvm"):
        return "tcg"
    if kvm_usable():
        return "kvm"
    if want == "kvm":
        raise VmError("LXCZ_VM_ACCEL=kvm but /dev/kvm cannot be opened")
    return "tcg"


def require_qemu(spec: dict) -> None:
    qemu = spec["qemu"]
    if shutil.which(qemu) is None:
        raise VmError(f"{qemu} not found (apt-get install {arches.QEMU_PACKAGES.get(qemu, qemu)})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pdeathsig() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgid(0, 0)


def runs_dir() -> str:
    d = os.path.join(vmimage.cache_root(), "runs")
    os.makedirs(d, exist_ok=True)
    return d


def sweep_stale_runs() -> None:
    """Remove run directories whose owning process is gone (a killed earlier run)."""
    for name in os.listdir(runs_dir()):
        path = os.path.join(runs_dir(), name)
        try:
            with open(os.path.join(path, "owner")) as f:
                pid = int(f.read())
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            if time.time() - os.path.getmtime(path) < 60:
                continue
        shutil.rmtree(path, ignore_errors=True)


class Guest:
    """A running guest; use as a context manager."""

    def __init__(self, arch: str, console_lines: int = 40, accel: Optional[str] = None) -> None:
        if arch not in arches.ARCHES:
            raise VmError(f"unknown arch (known: {' '.join(arches.ARCHES)})")
        self.arch = arch
        self.spec = arches.ARCHES[arch]
        self.image = vmimage.image_dir(self.spec["image"])
        self.console_lines = console_lines
        self.proc: Optional[subprocess.Popen] = None
        self.rundir: Optional[str] = None
        self.port = 0
        self.accel = accel or ""
        self.boot_seconds = 0.0
        self.console_log = ""
        self.ssh_config = ""

    # ------------------------------------------------------------ ssh

    def ssh_argv(self, *cmd: str) -> List[str]:
        return ["ssh", "-F", self.ssh_config, "vm", *cmd]

    def ssh(self, cmd: str, timeout: float = 600, input: Optional[bytes] = None,
            check: bool = True) -> subprocess.CompletedProcess:
        try:
            res = subprocess.run(self.ssh_argv(cmd), input=input, capture_output=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            raise VmError(f"ssh '{cmd}' timed out after {timeout:.0f} s") from None
        if check and res.returncode != 0:
            err = res.stderr.decode("utf-8", "replace").strip().splitlines()
            raise VmError(f"ssh '{cmd}' exited {res.returncode}: {err[-1] if err else ''}")
        return res

    def put(self, local: str, remote: str, mode: str = "755") -> None:
        with open(local, "rb") as f:
            data = f.read()
        self.ssh(f"mkdir -p $(dirname {remote}) && cat > {remote}.part && chmod {mode} {remote}.part && mv {remote}.part {remote}",
                 input=data)

    # ------------------------------------------------------------ lifecycle

    def console_tail(self) -> str:
        try:
            with open(self.console_log, "rb") as f:
                lines = f.read().decode("utf-8", "replace").replace("\r", "").splitlines()
        except OSError:
            return "    (no console log)"
        if not lines:
            return "    (console log empty: the kernel printed nothing)"
        return "\n".join("    | " + line for line in lines[-self.console_lines:])

    def qemu_argv(self) -> List[str]:
        s = self.spec
        img = self.image
        kvm = self.accel == "kvm"
        cmdline = (f"console={s['console']} panic=-1 oops=panic rw quiet loglevel=4 "
                   f"{arches.GUEST_CMDLINE} {s.get('cmdline', '')}").strip()
        argv = [s["qemu"], "-nodefaults", "-no-user-config", "-display", "none",
                "-machine", s["machine"],
                "-accel", self.accel,
                "-cpu", s["cpu_kvm"] if kvm else s["cpu_tcg"],
                "-smp", str(s.get("smp_kvm", 2) if kvm else s.get("smp", 1)),
                "-m", str(s.get("mem", 1024)),
                "-kernel", os.path.join(img, "vmlinuz"),
                "-initrd", os.path.join(img, "initrd.img"),
                "-append", cmdline,
                "-drive", f"file={self.overlay},format=qcow2,if=none,id=hd0,cache=unsafe",
                "-device", f"{s['blk']},drive=hd0",
                "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{self.port}-:22",
                "-device", f"{s['net']},netdev=n0",
                "-serial", f"file:{self.console_log}",
                "-monitor", "none", "-no-reboot",
                "-pidfile", os.path.join(self.rundir, "qemu.pid")]
        return argv

    def start(self) -> Guest:
        require_qemu(self.spec)
        if not vmimage.image_ready(self.spec["image"]):
            raise VmError(f"image {self.spec['image']} is not built (vmimage.build)")
        sweep_stale_runs()
        self.rundir = tempfile.mkdtemp(prefix=self.arch + "-", dir=runs_dir())
        with open(os.path.join(self.rundir, "owner"), "w") as f:
            f.write(str(os.getpid()))
        self.console_log = os.path.join(self.rundir, "console.log")
        self.overlay = os.path.join(self.rundir, "overlay.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        os.path.join(self.image, "root.img"), self.overlay],
                       check=True, capture_output=True)
        self.ssh_config = os.path.join(self.rundir, "ssh_config")
        key = os.path.join(self.rundir, "id_ed25519")
        shutil.copy(os.path.join(self.image, "id_ed25519"), key)
        os.chmod(key, 0o600)
        self.port = _free_port()
        with open(self.ssh_config, "w") as f:
            f.write(f"Host vm\n  HostName 127.0.0.1\n  Port {self.port}\n  User root\n"
                    f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
                    "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
                    "  LogLevel ERROR\n  ConnectTimeout 10\n  BatchMode yes\n"
                    "  ServerAliveInterval 15\n  ServerAliveCountMax 8\n"
                    f"  ControlMaster auto\n  ControlPath {self.rundir}/ssh-%r@%h:%p\n"
                    "  ControlPersist 600\n")
        self.accel = self.accel or choose_accel(self.spec)
        argv = self.qemu_argv()
        with open(os.path.join(self.rundir, "qemu.argv"), "w") as f:
            f.write(" ".join(argv) + "\n")
        t0 = time.time()
        with open(os.path.join(self.rundir, "qemu.out"), "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, preexec_fn=_pdeathsig)
        limit = self.spec["timeout_kvm" if self.accel == "kvm" else "timeout_tcg"]
        limit = float(os.environ.get("LXCZ_VM_BOOT_TIMEOUT", limit))
        while True:
            if self.proc.poll() is not None:
                out = ""
                try:
                    with open(os.path.join(self.rundir, "qemu.out")) as f:
                        out = f.read().strip().replace("\n", " / ")
                except OSError:
                    pass
                raise VmError(f"qemu exited ({self.proc.returncode}) before the guest was "
                              f"ready{': ' + out if out else ''}\n{self.console_tail()}")
            if time.time() - t0 > limit:
                raise VmError(f"guest not ready within {limit:.0f} s ({self.accel}); "
                              f"console log:\n{self.console_tail()}")
            try:
                left = max(1.0, min(30.0, limit - (time.time() - t0)))
                res = subprocess.run(self.ssh_argv("true"), capture_output=True, timeout=left)
                if res.returncode == 0:
                    break
            except subprocess.TimeoutExpired:
                pass
            time.sleep(1)
        self.boot_seconds = time.time() - t0
        return self

    def stop(self) -> None:
        """Power off, then make sure QEMU and the run directory are gone."""
        if self.proc is not None and self.proc.poll() is None:
            wait = 0.0
            if self.boot_seconds:  # it answered ssh once: ask it to power off
                try:
                    subprocess.run(self.ssh_argv("busybox poweroff"), capture_output=True,
                                   timeout=20)
                    wait = float(os.environ.get("LXCZ_VM_SHUTDOWN_TIMEOUT", 30))
                except (subprocess.TimeoutExpired, OSError):
                    pass
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.ssh_config and os.path.exists(self.ssh_config):
            subprocess.run(["ssh", "-F", self.ssh_config, "-O", "exit", "vm"],
                           capture_output=True, timeout=10)
        if self.rundir:
            keep = os.environ.get("LXCZ_VM_KEEP_CONSOLE")
            if keep:
                shutil.copy(self.console_log, keep)
            shutil.rmtree(self.rundir, ignore_errors=True)
            self.rundir = None

    def __enter__(self) -> Guest:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _kvm_verdict_file(spec: dict) -> str:
    qemu = subprocess.run([spec["qemu"], "--version"], capture_output=True, text=True).stdout
    stamp = vmimage.image_ready(spec["image"]) or {}
    key = "%s|%s|%s" % (os.uname().release, qemu.split("\n")[0], stamp.get("inputs"))
    import hashlib

    return os.path.join(vmimage.cache_root(), "kvm-broken-" +
                        hashlib.sha256(key.encode()).hexdigest()[:12])


def boot(arch: str, say=print) -> Guest:
    """Start a guest; when KVM was chosen and the guest does not come up under it, say so
    in one line, remember it for this host kernel + qemu + image, and boot under TCG."""
    spec = arches.ARCHES[arch]
    require_qemu(spec)
    accel = choose_accel(spec)
    if spec.get("kvm") and accel == "tcg" and os.environ.get("LXCZ_VM_ACCEL") != "tcg":
        say(f"{arch}: KVM not used ({kvm_problem()}); using TCG")
    if accel == "kvm" and os.environ.get("LXCZ_VM_ACCEL") != "kvm":
        verdict = _kvm_verdict_file(spec)
        if os.path.exists(verdict):
            with open(verdict) as f:
                say(f"{arch}: KVM skipped, it failed here before ({f.read().strip()}); using TCG")
            accel = "tcg"
    g = Guest(arch, accel=accel)
    try:
        return g.__enter__()
    except VmError as err:
        if accel != "kvm" or os.environ.get("LXCZ_VM_ACCEL") == "kvm":
            raise
        first = str(err).splitlines()[0].replace("; console log:", "")
        say(f"{arch}: KVM boot failed ({first}); retrying under TCG")
        with open(_kvm_verdict_file(spec), "w") as f:
            f.write(time.strftime("%Y-%m-%d", time.gmtime()) + ": " + first[:200] + "\n")
    g = Guest(arch, accel="tcg")
    return g.__enter__()

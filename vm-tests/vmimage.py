"""Build a guest image from Debian packages only, without running guest code on the host.

``mmdebstrap --variant=extract`` downloads the packages (with their dependencies) from
Debian's archive and unpacks them; no maintainer script runs, so no emulator is needed
for foreign architectures. The few things those scripts would do (users, host keys, the
module index) are done here with host tools that only write files. The result, in
``CACHE/images/NAME/``:

  vmlinuz      the kernel from Debian's linux-image package
  initrd.img   a tiny initramfs: the guest's busybox-static, the virtio/ext4 modules in
               dependency order, guest/initramfs-init as /init
  root.img     a raw ext4 image of the whole root (booted through a throwaway overlay)
  id_ed25519   the ssh key that logs in as root
  stamp.json   the inputs' hash and the build time; a matching stamp means "cached"

Images are rebuilt only when their inputs (suite, architecture, package list, mirror,
guest/*, BUILDER_VERSION below) change. Newer packages in the archive do not trigger a rebuild; ``--rebuild``
does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import stat
import subprocess
import time
from typing import Dict, List, Optional, Tuple

import arches

# Bump when a change here changes what an image contains: every cached image is rebuilt.
BUILDER_VERSION = "1"

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "guest")


class VmError(Exception):
    """A failure with a message that can be shown as-is after the arch name."""


def cache_root() -> str:
    """Where images and run directories live (git-ignored or outside the tree)."""
    root = os.environ.get("LXCZ_VM_CACHE", "/var/cache/lxcz-vm")
    os.makedirs(root, exist_ok=True)
    return root


def inputs_hash(spec: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({k: spec[k] for k in ("suite", "debarch", "packages")},
                        sort_keys=True).encode())
    h.update(arches.MIRROR.encode())
    h.update(json.dumps(arches.INITRAMFS_MODULES).encode())
    h.update(BUILDER_VERSION.encode())
    for path in sorted(os.path.join(GUEST, n) for n in os.listdir(GUEST)):
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read())
    return h.hexdigest()[:16]


def image_dir(name: str) -> str:
    return os.path.join(cache_root(), "images", name)


def image_ready(name: str) -> Optional[dict]:
    """The stamp of a built, current image, else None."""
    spec = arches.image_spec(name)
    d = image_dir(name)
    try:
        with open(os.path.join(d, "stamp.json")) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        return None
    if stamp.get("inputs") != inputs_hash(spec):
        return None
    for fn in ("vmlinuz", "initrd.img", "root.img", "id_ed25519"):
        if not os.path.exists(os.path.join(d, fn)):
            return None
    return stamp


def _run(cmd: List[str], what: str, log: Optional[str] = None, **kw) -> None:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT if log else None, **kw)
    except FileNotFoundError:
        raise VmError(f"{what}: {cmd[0]} not found (apt-get install {cmd[0]})") from None
    finally:
        if log:
            out.close()
    if rc != 0:
        tail = ""
        if log:
            with open(log, "rb") as f:
                lines = f.read().decode("utf-8", "replace").strip().splitlines()
            errs = [ln for ln in lines if ln.startswith("E: ")]
            tail = ": " + (errs[0][3:] if errs else lines[-1] if lines else "")
        raise VmError(f"{what} failed (exit {rc}){tail}" + (f" [log: {log}]" if log else ""))


# ---------------------------------------------------------------- kernel modules


def _read_module(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    return data


def _module_depends(blob: bytes) -> List[str]:
    # .modinfo holds NUL-separated key=value strings; "depends=" lists direct dependencies
    i = blob.find(b"\0depends=")
    if i < 0:
        return []
    val = blob[i + 9:blob.index(b"\0", i + 1)].decode()
    return [d for d in val.split(",") if d]


def _norm(name: str) -> str:
    return name.replace("-", "_")


def module_load_list(moddir: str, wanted: List[str]) -> List[Tuple[str, bytes]]:
    """(file name, uncompressed module) for wanted modules and their deps, deps first."""
    files: Dict[str, str] = {}
    for dirpath, _dirs, fnames in os.walk(os.path.join(moddir, "kernel")):
        for fn in fnames:
            base = fn.split(".ko")[0]
            if ".ko" in fn:
                files[_norm(base)] = os.path.join(dirpath, fn)
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            builtin = {_norm(os.path.basename(line.strip()).split(".ko")[0]) for line in f}
    except OSError:
        pass
    order: List[Tuple[str, bytes]] = []
    seen = set()

    def visit(name: str) -> None:
        name = _norm(name)
        if name in seen or name in builtin or name not in files:
            return
        seen.add(name)
        blob = _read_module(files[name])
        for dep in _module_depends(blob):
            visit(dep)
        order.append((name + ".ko", blob))

    for name in wanted:
        visit(name)
    return order


# ---------------------------------------------------------------- initramfs (newc cpio)


def _cpio(entries: List[Tuple[str, int, bytes]]) -> bytes:
    """newc archive of (path, mode, data); symlinks carry their target as data."""
    out = io.BytesIO()
    ino = 1
    for path, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        name = path.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
            0, 0, 0, 0, len(name), 0))
        out.write(hdr.encode() + name)
        out.write(b"\0" * (-(110 + len(name)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))
        ino += 1
    return out.getvalue()


def make_initrd(root: str, kver: str, dest: str) -> List[str]:
    moddir = os.path.join(root, "lib", "modules", kver)
    mods = module_load_list(moddir, arches.INITRAMFS_MODULES)
    busybox = os.path.join(root, "bin", "busybox")
    with open(busybox, "rb") as f:
        bb = f.read()
    with open(os.path.join(GUEST, "initramfs-init"), "rb") as f:
        init = f.read()
    d, x, r = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755, stat.S_IFREG | 0o644
    entries: List[Tuple[str, int, bytes]] = [
        ("bin", d, b""), ("sbin", d, b""), ("etc", d, b""), ("lib", d, b""),
        ("lib/modules", d, b""), ("dev", d, b""), ("proc", d, b""), ("sys", d, b""),
        ("newroot", d, b""), ("usr", d, b""), ("usr/bin", d, b""), ("usr/sbin", d, b""),
        ("bin/busybox", x, bb), ("init", x, init),
        ("etc/lxcz-modules", r, "".join(n + "\n" for n, _ in mods).encode()),
    ]
    entries += [("lib/modules/" + n, r, blob) for n, blob in mods]
    with open(dest, "wb") as f:
        f.write(gzip.compress(_cpio(entries), compresslevel=6))
    return [n for n, _ in mods]


# ---------------------------------------------------------------- root fixups


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def fix_root(root: str, name: str, pubkey: str) -> None:
    """Do by hand the little the skipped maintainer scripts would have done."""
    bp = os.path.join(root, "usr", "share", "base-passwd")
    with open(os.path.join(bp, "passwd.master")) as f:
        passwd = f.read()
    with open(os.path.join(bp, "group.master")) as f:
        group = f.read()
    passwd += "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
    _write(os.path.join(root, "etc/passwd"), passwd)
    _write(os.path.join(root, "etc/group"), group)
    shadow = "".join(line.split(":")[0] + ":*:19000:0:99999:7:::\n"
                     for line in passwd.splitlines() if line)
    _write(os.path.join(root, "etc/shadow"), shadow, 0o640)
    host = "lxcz-" + name.split("-")[0]
    _write(os.path.join(root, "etc/hostname"), host + "\n")
    _write(os.path.join(root, "etc/hosts"), f"127.0.0.1 localhost\n127.0.1.1 {host}\n")
    _write(os.path.join(root, "etc/resolv.conf"), "nameserver 10.0.2.3\n")
    _write(os.path.join(root, "etc/fstab"), "/dev/vda / ext4 rw 0 1\n")
    for d in ("usr/local/bin", "usr/local/sbin", "usr/local/lib", "var/lib/lxc", "var/cache/lxc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    sh = os.path.join(root, "bin", "sh")
    if not os.path.lexists(sh):
        os.symlink("dash", sh)
    for src, dst, mode in (("inittab", "etc/inittab", 0o644),
                           ("lxcz-vm-setup", "usr/local/sbin/lxcz-vm-setup", 0o755),
                           ("lxcz-udhcpc", "usr/local/sbin/lxcz-udhcpc", 0o755),
                           ("sshd_config", "etc/ssh/sshd_config.lxcz", 0o644)):
        with open(os.path.join(GUEST, src)) as f:
            _write(os.path.join(root, dst), f.read(), mode)
    key = os.path.join(root, "etc/ssh/ssh_host_ed25519_key")
    for p in (key, key + ".pub"):
        if os.path.exists(p):
            os.unlink(p)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host, "-f", key], "ssh-keygen")
    sshdir = os.path.join(root, "root", ".ssh")
    os.makedirs(sshdir, mode=0o700, exist_ok=True)
    _write(os.path.join(sshdir, "authorized_keys"), pubkey, 0o600)
    os.chmod(os.path.join(root, "root"), 0o700)


def _kernel_files(root: str) -> Tuple[str, str]:
    boot = os.path.join(root, "boot")
    kvers = sorted(fn[len("config-"):] for fn in os.listdir(boot) if fn.startswith("config-"))
    if not kvers:
        raise VmError("no kernel in the image (/boot/config-* missing)")
    kver = kvers[-1]
    for prefix in ("vmlinuz-", "vmlinux-"):
        path = os.path.join(boot, prefix + kver)
        if os.path.exists(path):
            return kver, path
    raise VmError(f"kernel image for {kver} not found in /boot")


# ---------------------------------------------------------------- the build


def build(name: str, rebuild: bool = False, log=None) -> dict:
    """Build image NAME unless a current one is cached; return its stamp."""
    spec = arches.image_spec(name)
    if not rebuild:
        stamp = image_ready(name)
        if stamp:
            return dict(stamp, cached=True)
    for tool in ("mmdebstrap", "mkfs.ext4", "ssh-keygen", "depmod"):
        if shutil.which(tool) is None:
            raise VmError(f"{tool} not found (apt-get install mmdebstrap e2fsprogs "
                          "openssh-client kmod)")
    final = image_dir(name)
    tmp = final + ".tmp-%d" % os.getpid()
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    root = os.path.join(tmp, "root")
    buildlog = os.path.join(cache_root(), "images", name + ".build.log")
    if os.path.exists(buildlog):
        os.unlink(buildlog)
    t0 = time.time()
    try:
        _run(["nice", "mmdebstrap", "--variant=extract", "--arch=" + spec["debarch"],
              "--include=" + ",".join(spec["packages"]), "--skip=cleanup/reproducible",
              spec["suite"], root, arches.MIRROR],
             f"mmdebstrap {spec['suite']}/{spec['debarch']}", buildlog)
        t_fetch = time.time() - t0
        key = os.path.join(tmp, "id_ed25519")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lxcz-vm", "-f", key],
             "ssh-keygen")
        with open(key + ".pub") as f:
            fix_root(root, name, f.read())
        kver, kernel = _kernel_files(root)
        _run(["depmod", "-b", root, kver], "depmod", buildlog)
        mods = make_initrd(root, kver, os.path.join(tmp, "initrd.img"))
        shutil.copy(kernel, os.path.join(tmp, "vmlinuz"))
        shutil.copy(os.path.join(root, "boot", "config-" + kver), os.path.join(tmp, "config"))
        with open(os.path.join(root, "usr/lib/os-release")) as f:
            osrel = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        # apt's downloaded .debs are not part of the guest
        shutil.rmtree(os.path.join(root, "var/cache/apt/archives"), ignore_errors=True)
        os.makedirs(os.path.join(root, "var/cache/apt/archives/partial"), exist_ok=True)
        used = int(subprocess.run(["du", "-sm", root], capture_output=True, text=True,
                                  check=True).stdout.split()[0])
        size_mb = used + 1536  # room for containers and test files
        img = os.path.join(tmp, "root.img")
        with open(img, "wb") as f:
            f.truncate(size_mb << 20)
        # no metadata_csum/orphan_file: the oldest guest kernel (5.10) must mount it and
        # the initramfs need not carry crc32c
        _run(["nice", "mkfs.ext4", "-q", "-F", "-L", "lxcz-root",
              "-O", "^metadata_csum,^orphan_file,^metadata_csum_seed", "-d", root, img],
             "mkfs.ext4", buildlog)
        shutil.rmtree(root)
        stamp = {"image": name, "inputs": inputs_hash(spec), "suite": spec["suite"],
                 "debarch": spec["debarch"], "kernel": kver,
                 "debian": osrel.get("PRETTY_NAME", "").strip('"'),
                 "initramfs_modules": mods, "root_mb": size_mb,
                 "built": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                 "fetch_seconds": round(t_fetch, 1),
                 "build_seconds": round(time.time() - t0, 1)}
        with open(os.path.join(tmp, "stamp.json"), "w") as f:
            json.dump(stamp, f, indent=1)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dict(stamp, cached=False)


if __name__ == "__main__":
    import sys

    for n in sys.argv[1:] or list(arches.IMAGES):
        try:
            print(json.dumps(build(n, rebuild="--rebuild" in os.environ.get("LXCZ_VM_FLAGS", ""))))
        except VmError as err:
            print(f"{n}: {err}", file=sys.stderr)
            sys.exit(1)

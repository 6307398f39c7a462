"""Fixtures for the usernet service (lxcz's lxc-user-nic), registered for
tests/integration by its conftest: ``bridge``, a Linux bridge made here, and ``service``,
``lxcz usernet serve`` on a temporary socket with temporary lxc-usernet and nics files
(never /etc/lxc or /run/lxc). Everything is removed afterwards, even on failure."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def host_links() -> list:
    return sorted(line.split(":")[1].strip().split("@")[0]
                  for line in sh("ip", "-o", "link").splitlines())


@pytest.fixture
def bridge():
    name = f"uzbr{random.randint(0, 99999):05d}"
    sh("ip", "link", "add", name, "type", "bridge")
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


@pytest.fixture
def service(bridge):
    """The service as a subprocess on a temp socket; conf written by the test."""
    tmp = tempfile.mkdtemp(prefix="lxcz-usernet-")
    os.chmod(tmp, 0o755)  # the throwaway users must reach the socket
    conf, nics, sock = (os.path.join(tmp, n) for n in ("lxc-usernet", "nics", "usernet.sock"))
    with open(conf, "w") as fh:
        fh.write("")
    env = dict(os.environ, PYTHONPATH=ROOT)
    log = open(os.path.join(tmp, "serve.log"), "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "lxcz", "usernet", "serve", "--socket", sock,
                             "--conf", conf, "--nics", nics], cwd=ROOT, env=env, stderr=log)

    class Svc:
        pass

    svc = Svc()
    svc.conf, svc.nics, svc.sock, svc.bridge, svc.proc = conf, nics, sock, bridge, proc

    def write_conf(text: str) -> None:
        with open(conf, "w") as fh:
            fh.write(text)

    svc.write_conf = write_conf
    try:
        for _ in range(200):
            if os.path.exists(sock) or proc.poll() is not None:
                break
            time.sleep(0.02)
        if not os.path.exists(sock):
            with open(log.name) as fh:
                raise RuntimeError(f"service did not start: {fh.read()}")
        yield svc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)



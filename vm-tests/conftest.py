"""Fixtures for the guest suite: a testinfra host for the guest ci/vm-matrix booted.

ci/vm-matrix boots the guest, copies dist/lxcz to /usr/local/bin/lxcz in it and runs
pytest on this directory with LXCZ_VM_ARCH and LXCZ_VM_SSH_CONFIG set. Without them
every test skips (this directory is not part of the host's ``tests/``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arches  # noqa: E402

NOT_IMPLEMENTED = "not implemented in lxcz yet"
LXCZ = "/usr/local/bin/lxcz"  # where ci/vm-matrix copies dist/lxcz


@pytest.fixture(scope="session")
def vm() -> dict:
    """What the guest is expected to be: its matrix row, image row and image stamp."""
    arch = os.environ.get("LXCZ_VM_ARCH")
    if not arch or not os.environ.get("LXCZ_VM_SSH_CONFIG"):
        pytest.skip("no guest: run through ci/vm-matrix (LXCZ_VM_ARCH/LXCZ_VM_SSH_CONFIG unset)")
    row = dict(arches.ARCHES[arch])
    row["arch"] = arch
    row.update({"image_" + k: v for k, v in arches.image_spec(row["image"]).items()})
    stamp = os.environ.get("LXCZ_VM_STAMP")
    if stamp:
        with open(stamp) as f:
            row["stamp"] = json.load(f)
    return row


@pytest.fixture(scope="session")
def host(vm: dict):
    import testinfra

    name = os.environ.get("LXCZ_VM_SSH_HOST", "vm")  # the Host entry in the ssh config
    return testinfra.get_host("ssh://" + name, ssh_config=os.environ["LXCZ_VM_SSH_CONFIG"])


# what a tool prints for a tool, option or key that lxcz does not have yet
_NOT_YET = re.compile(r"^.*\bnot (?:implemented|supported) (?:in|by) lxcz yet\b.*$", re.M)


def unimplemented(res) -> str:
    """The tool's "not ... in lxcz yet" line, or "" when it said no such thing."""
    m = _NOT_YET.search(res.stdout + "\n" + res.stderr)
    return m.group(0).strip() if m else ""


def need(res, tool: str):
    """Skip the test when the tool says it is not there yet; else return res."""
    line = unimplemented(res)
    if line:
        pytest.skip(f"{tool}: {NOT_IMPLEMENTED}" if NOT_IMPLEMENTED in line
                    else f"{tool}: not supported by lxcz yet: {line}")
    return res


@pytest.fixture(scope="session")
def installed(host):
    """lxcz's tool links in /usr/local/bin (what `lxcz install` makes)."""
    res = host.run(f"{LXCZ} install")
    assert res.rc == 0, res.stderr
    return res


@pytest.fixture
def lxcpath(host, installed):
    """A fresh lxcpath in the guest; every container in it is stopped and destroyed after."""
    path = host.check_output("mktemp -d /var/lib/lxc-vmtest.XXXXXX")
    try:
        yield path
    finally:
        names = host.run(f"ls {path}").stdout.split()
        for name in names:
            host.run(f"lxc-stop -P {path} -n {name} -k")
            host.run(f"lxc-destroy -P {path} -n {name} -f")
        host.run(f"rm -rf --one-file-system {path}")


@pytest.fixture
def busybox_ct(host, lxcpath):
    """(lxcpath, name) of a container made with the busybox template, or a skip."""
    name = "ct" + uuid.uuid4().hex[:6]
    res = need(host.run(f"lxc-create -P {lxcpath} -n {name} -t busybox"), "lxc-create")
    assert res.rc == 0, res.stderr
    return lxcpath, name

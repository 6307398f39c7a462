"""The systemd units `lxcz install --service` writes."""

from __future__ import annotations

import pytest

from lxcz import service


def test_units_written_idempotent_and_removed(tmp_path):
    written = service.install("/usr/local/bin", "/usr/local/bin/lxcz", str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in written) == [
        "lxcz-net.service", "lxcz-usernet.service", "lxcz-usernet.socket", "lxcz.service"]
    text = (tmp_path / "lxcz.service").read_text()
    assert "/usr/local/bin/lxc-autostart $OPTIONS ${BOOTGROUPS:+-g $BOOTGROUPS}" in text
    assert "EnvironmentFile=-/etc/default/lxc" in text and "WantedBy=multi-user.target" in text
    assert "ExecStart=/usr/local/bin/lxcz net up" in (tmp_path / "lxcz-net.service").read_text()
    assert service.install("/usr/local/bin", "/usr/local/bin/lxcz", str(tmp_path)) == []
    assert len(service.uninstall(str(tmp_path))) == 4
    assert list(tmp_path.iterdir()) == []


def test_foreign_unit_not_replaced(tmp_path):
    (tmp_path / "lxcz.service").write_text("[Unit]\nDescription=someone else's\n")
    with pytest.raises(OSError, match="not written by lxcz"):
        service.install("/usr/local/bin", "/usr/local/bin/lxcz", str(tmp_path))
    assert "someone else's" in (tmp_path / "lxcz.service").read_text()
    assert service.uninstall(str(tmp_path)) == []

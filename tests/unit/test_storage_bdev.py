"""Backing store selection and value parsing, without touching the kernel."""

from __future__ import annotations

import pytest

from lxcz.errors import LxczError
from lxcz.storage import bdev
from lxcz.storage.bdev import overlay


@pytest.mark.parametrize("value,kind", [
    ("dir:/var/lib/lxc/c/rootfs", "dir"), ("/var/lib/lxc/c/rootfs", "dir"), ("", "dir"),
    ("overlay:/a/rootfs:/b/overlay/delta", "overlay"), ("overlayfs:/a:/b", "overlay"),
    ("btrfs:/var/lib/lxc/c/rootfs", "btrfs"), ("loop:/var/lib/lxc/c/rootdev", "loop"),
    ("lvm:/dev/lxc/c", "lvm"), ("/dev/lxc/c", "lvm"), ("zfs:lxc/c", "zfs"),
])
def test_store_type(value, kind):
    assert bdev.store_type(value) == kind
    assert bdev.for_value(value).TYPE == kind


def test_unknown_store():
    with pytest.raises(LxczError, match="unknown backing store type 'nbdx'"):
        bdev.get_store("nbdx")


@pytest.mark.parametrize("text,size", [("1G", 1 << 30), ("512M", 512 << 20), ("4096B", 4096),
                                       ("2t", 2 << 40), ("10k", 10240)])
def test_sizes(text, size):
    assert bdev.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1", "1000", "G", "-1G", "0M", "1.5G", "1GiB", "x1G"])
def test_bad_sizes(text):
    with pytest.raises(LxczError, match="invalid size"):
        bdev.parse_size(text)


def test_overlay_split_and_layers():
    assert overlay.split("overlay:/a/rootfs:/b/overlay/delta") == ("/a/rootfs",
                                                                  "/b/overlay/delta")
    assert overlay.split("overlayfs:/a:/b") == ("/a", "/b")
    nested = "overlay:overlay:/base/rootfs:/mid/overlay/delta:/top/overlay/delta"
    lower, upper = overlay.split(nested)
    assert upper == "/top/overlay/delta"
    assert overlay._layers(lower) == "/mid/overlay/delta:/base/rootfs"
    with pytest.raises(LxczError, match="expected overlay:LOWER:UPPER"):
        overlay.split("overlay:/only")

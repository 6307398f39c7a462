"""Kernel configuration checks for lxc-checkconfig.

The pieces, each importable on its own so the tool loads only what it uses:

- ``kconfig``: parse a ``.config`` text into a ``KernelConfig`` (options, version, arch).
- ``extract``: turn any path into config text: plain or compressed config files, the
  ``IKCONFIG`` blob embedded in ``configs.ko`` / ``vmlinux`` ELF files (pyelftools, imported
  only then) and in compressed kernel images (gzip, xz, lzma, bzip2; zstd and lz4 through a
  Python module or the ``zstd``/``lz4`` programs when present).
- ``discover``: where the running kernel's configuration is, tried in order.
- ``rules`` + ``rules.toml``: the checks as data and their evaluation into a ``Report``.
- ``live``: facts about the running system (cgroup mounts, namespace limits, ...).
- ``output``: the report as upstream-style text or JSON.
"""

from __future__ import annotations

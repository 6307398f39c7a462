"""Backing stores and templates: making a container's rootfs and config, and removing them.

``api`` is what ``lxcz.Container`` calls (create, destroy, and later clone, rename and
snapshots); ``dirstore`` is the ``dir`` backing store; ``templates`` holds the built-in
busybox template and runs LXC's external ``lxc-NAME`` template scripts.
"""

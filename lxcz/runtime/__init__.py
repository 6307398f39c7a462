"""Starting and running containers: the per-container monitor and its command socket,
the PID-1 init, namespaces, rootfs and mounts, /dev and terminals, hooks, state.

Entry points: ``lxcz.runtime.api`` (what the Container facade calls) and
``lxcz.runtime.client`` (talking to a running container's monitor).
"""

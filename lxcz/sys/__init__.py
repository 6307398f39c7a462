"""The only place lxcz calls the kernel through ctypes: calls.py (namespaces, mounts,
prctl, ...), seccomp.py (loading filters) and arch/ (per-architecture tables)."""

"""The only place lxcz calls the kernel through ctypes (or _ctypes: tinyc.py): calls.py
(namespaces, mounts, prctl, ...), clone.py (clone3), seccomp.py (loading filters), trim.py
and arch/ (per-architecture tables)."""

"""Container networking: ``netdev`` makes and configures interfaces on pyroute2 (for
the runtime); ``api`` gives the read-only views tools need (addresses, interfaces,
host-side links) from /proc and /sys, without importing pyroute2."""

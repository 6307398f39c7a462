"""Version numbers: lxcz's own and the LXC release whose behaviour it follows."""

VERSION = "0.1.0"
LXC_COMPAT = "5.0.2"

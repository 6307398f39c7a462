"""Isolation: capabilities, seccomp policies and their BPF compiler, LSMs, id maps."""

"""Operators' commands: what `make account` runs, against the local stack or a deployed one."""

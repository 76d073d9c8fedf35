"""Orchestration: the durable case workflow (decisions in order, no I/O)."""

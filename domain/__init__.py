"""Baton's pure domain core: the case model, the state machine, the policies.

Nothing in this package talks to Temporal's worker, a database, the network or the
file system, so every rule can be unit-tested directly and imported into workflow
code (through ``workflow.unsafe.imports_passed_through()``) without breaking
determinism.
"""

"""Activities: the case workflow's side effects and lookups (the adapters' side)."""

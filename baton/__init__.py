"""Baton's adapters: settings, the documentation store, the embedded server, client and CLI."""

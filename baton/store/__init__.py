"""The documentation store: case records, the directory, exports, schema migrations."""

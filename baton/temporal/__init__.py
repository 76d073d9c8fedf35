"""The Temporal connection and worker plumbing: client, embedded server, codec, sandbox."""

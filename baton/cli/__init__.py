"""The ``baton`` command line: cases, agents, exports, reports, learning, the demo."""

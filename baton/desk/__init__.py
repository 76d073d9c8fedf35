"""The agents' desk: a server-rendered web application over the wire contract."""

"""Defaults that the library and the command line share (a leaf module, cheap to import)."""

#: seconds between heartbeats of a running trial; a trial is stale (its worker died) after twice this
DEFAULT_HEARTBEAT = 30

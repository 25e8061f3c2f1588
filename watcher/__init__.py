"""The watcher: streams Omni's watch events into the SQL read model (the only writer)."""

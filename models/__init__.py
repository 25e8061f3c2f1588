"""What the watcher and the API share: the kind catalog, the SQL schema, projections, engine setup."""

"""What the watcher and the API share: the kind catalog, the SQL schema, projections, engine setup."""

__version__ = "0.1.0"

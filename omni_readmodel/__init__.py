"""omni-readmodel: an event-sourced caching read model for Sidero Omni (the command-line entry point)."""

__version__ = "0.1.0"

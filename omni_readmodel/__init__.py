"""omni-readmodel: an event-sourced caching read model for Sidero Omni (the command-line entry point)."""

from models import __version__

__all__ = ["__version__"]

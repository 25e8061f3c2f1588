"""Compressed spec fields (omni-wire.md §5.1), as far as the simulator can reproduce them.

Omni compresses large text fields with zstd and a dictionary the project cannot ship. The simulator
compresses with plain zstd (no dictionary) when the optional ``zstandard`` package is importable, and
otherwise keeps the plain field. Either way ``yaml_spec`` carries the plain text.
"""

from __future__ import annotations

from google.protobuf.message import Message

try:  # optional: not a dependency of the project
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None

THRESHOLD_BYTES = 2048  # Omni's CompressionThresholdBytes

_compressor = zstandard.ZstdCompressor(level=3) if zstandard else None
_decompressor = zstandard.ZstdDecompressor() if zstandard else None


def available() -> bool:
    return _compressor is not None


def pack(spec: Message, fields: dict[str, str]) -> None:
    """Move large plain texts into their compressed siblings, in place (``fields``: compressed -> plain)."""
    if _compressor is None:
        return
    for compressed, plain in fields.items():
        text = getattr(spec, plain)
        if isinstance(text, str) and len(text) >= THRESHOLD_BYTES:
            setattr(spec, compressed, _compressor.compress(text.encode()))
            spec.ClearField(plain)


def plain_text(spec: Message, compressed: str, plain: str) -> str | None:
    """The field's text, decompressing if needed; None when compressed bytes cannot be read here."""
    data = getattr(spec, compressed)
    if not data:
        value = getattr(spec, plain)
        return value.decode(errors="replace") if isinstance(value, bytes) else value
    if _decompressor is None:
        return None
    try:
        return _decompressor.decompress(data, max_output_size=64 << 20).decode(errors="replace")
    except zstandard.ZstdError:
        return None

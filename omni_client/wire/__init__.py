"""Protobuf/gRPC wire definitions for Omni's COSI State service and spec messages."""

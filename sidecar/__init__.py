"""Marketing sidecar: a JSON-RPC 2.0 stdio process that owns marketing-task data."""

__version__ = "1.0.0"

"""Pydantic models of every params, result, error and notification of the protocol.

The JSON Schema files under json/ are generated from these models for the
Electron side; regenerate them with `python -m sidecar.schemas.generate`.
"""

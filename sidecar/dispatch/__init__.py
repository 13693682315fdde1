"""Dispatch: a message body in, a response value and notifications out; no I/O."""

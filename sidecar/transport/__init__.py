"""Transport: bytes on the stdio pipes to messages and back."""

"""Domain services: audience, contacts, tasks and events. No JSON-RPC here."""

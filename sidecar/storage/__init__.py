"""SQLite storage: the connection, the table models and error classification."""

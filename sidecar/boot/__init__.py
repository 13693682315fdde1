"""Boot: resolve the database path, migrate the file, decide ready or degraded."""

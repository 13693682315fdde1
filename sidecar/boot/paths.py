"""Resolve which database file the sidecar serves."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "marketing-sidecar"
DB_ENV_VAR = "MARKETING_SIDECAR_DB"
DEFAULT_DB_NAME = "marketing.db"


def resolve_db_path(cli_value: str | None) -> Path:
    """Return the absolute database path: --db, then the environment, then the user data folder."""
    if cli_value:
        return Path(cli_value).expanduser().absolute()

    from_env = os.environ.get(DB_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser().absolute()

    # Imported here: the lookup is only needed when no path was given.
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / DEFAULT_DB_NAME

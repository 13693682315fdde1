"""peewee-migrate's file router, adjusted for migrations shipped in a package.

Imported only when a migration is pending: peewee-migrate and its replay of
the applied migrations cost boot time that a migrated file need not pay.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

import peewee
from peewee_migrate import Router
from peewee_migrate.models import MigrateHistory

from sidecar.boot.migration_runner import list_shipped_migrations

logger = logging.getLogger("sidecar.migrations")


class PackagedRouter(Router):
    """A Router with its own history model, strict listing and UTF-8 reads."""

    def __init__(self, database: peewee.SqliteDatabase, folder: Path, history_table: str) -> None:
        super().__init__(database, migrate_dir=folder, migrate_table=history_table, logger=logger)

    @cached_property
    def model(self) -> type[MigrateHistory]:
        # The library binds its one MigrateHistory class to each router's
        # database, so two routers in one process would share it; each router
        # gets its own subclass instead. Creating the table is left to the
        # caller, because reading the history must never write.
        class History(MigrateHistory):
            class Meta:
                database = self.database
                table_name = self.migrate_table

        return History

    @property
    def todo(self) -> list[str]:
        # The library creates a missing folder and reports nothing to do;
        # here a missing or empty folder is an error.
        return list_shipped_migrations(self.migrate_dir)

    def read(self, name: str):
        # The library opens files in the platform's default encoding, which is
        # GBK on a Chinese Windows.
        path = self.migrate_dir / f"{name}.py"
        code = compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
        scope: dict = {}
        exec(code, scope, None)
        if "migrate" not in scope:
            raise ValueError(f"Migration {name} defines no migrate() function")
        return scope["migrate"], scope.get("rollback", _no_rollback)


def _no_rollback(migrator, database, fake=False, **kwargs) -> None:
    return None

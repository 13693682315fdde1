// Generated from schemas/json/migration-progress.notification.json by `npm run generate-types` in tests/node; do not edit.

export interface MigrationProgressParams {
  name: string;
  index: number;
  total: number;
}

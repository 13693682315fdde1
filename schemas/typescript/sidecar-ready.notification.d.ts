// Generated from schemas/json/sidecar-ready.notification.json by `npm run generate-types` in tests/node; do not edit.

export interface SidecarReadyParams {
  version: string;
  dbPath: string;
  schemaVersion: string;
  migrationsApplied: string[];
  backupPath: string | null;
  pid: number;
}

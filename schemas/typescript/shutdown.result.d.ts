// Generated from schemas/json/shutdown.result.json by `npm run generate-types` in tests/node; do not edit.

export interface ShutdownResult {
  success: true;
}

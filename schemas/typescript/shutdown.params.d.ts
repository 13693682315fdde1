// Generated from schemas/json/shutdown.params.json by `npm run generate-types` in tests/node; do not edit.

export interface ShutdownParams {}

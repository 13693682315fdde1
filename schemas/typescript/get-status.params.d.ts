// Generated from schemas/json/get-status.params.json by `npm run generate-types` in tests/node; do not edit.

export interface GetStatusParams {}

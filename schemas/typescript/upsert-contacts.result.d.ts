// Generated from schemas/json/upsert-contacts.result.json by `npm run generate-types` in tests/node; do not edit.

export interface UpsertContactsResult {
  success: true;
  inserted: number;
  updated: number;
}

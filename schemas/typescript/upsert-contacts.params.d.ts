// Generated from schemas/json/upsert-contacts.params.json by `npm run generate-types` in tests/node; do not edit.

export interface UpsertContactsParams {
  /**
   * @minItems 1
   * @maxItems 10000
   */
  contacts: ContactInput[];
}
export interface ContactInput {
  externalId: string;
  displayName?: string;
  intentScore?: number;
  lastContactedAt?: string | null;
  /**
   * Replaces the stored tags when given
   */
  tags?: string[] | null;
  /**
   * Replaces the stored groups when given
   */
  groups?: string[] | null;
}

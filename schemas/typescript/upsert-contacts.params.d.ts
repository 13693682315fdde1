// Generated from schemas/json/upsert-contacts.params.json by `npm run generate-types` in tests/node; do not edit.

export interface UpsertContactsParams {
  /**
   * @minItems 1
   * @maxItems 10000
   */
  contacts: ContactInput[];
}
/**
 * One contact of upsert-contacts, keyed by its camelCase wire names.
 *
 * A TypedDict rather than a model: one call carries up to 10,000 contacts,
 * and validated dicts take about a third of the memory of model instances.
 */
export interface ContactInput {
  externalId: string;
  /**
   * Default ""
   */
  displayName?: string;
  /**
   * Default 0
   */
  intentScore?: number;
  lastContactedAt?: string | null;
  tags?: string[] | null;
  groups?: string[] | null;
}

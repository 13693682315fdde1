// Generated from schemas/json/estimate-audience.params.json by `npm run generate-types` in tests/node; do not edit.

export interface EstimateAudienceParams {
  audience: Audience;
}
export interface Audience {
  source: "recent" | "tag" | "group" | "manual";
  /**
   * @maxItems 1000
   */
  tags?: string[];
  /**
   * @maxItems 1000
   */
  groups?: string[];
  /**
   * The contacts' externalId strings
   *
   * @maxItems 100000
   */
  contactIds?: string[];
  minIntentScore?: number;
  recentDays?: number;
}

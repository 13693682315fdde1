// Generated from schemas/json/estimate-audience.result.json by `npm run generate-types` in tests/node; do not edit.

export interface EstimateAudienceResult {
  success: true;
  /**
   * The screen's rule of thumb
   */
  estimatedAudience: number;
  /**
   * Contacts the audience resolves to now
   */
  actualAudience: number;
  basis: AudienceBasis;
}
export interface AudienceBasis {
  base: number;
  minIntentScore: number;
}

// Generated from schemas/json/list-events.params.json by `npm run generate-types` in tests/node; do not edit.

export interface ListEventsParams {
  afterSeq?: number;
  limit?: number;
}

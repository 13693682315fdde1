// Generated from schemas/json/list-events.result.json by `npm run generate-types` in tests/node; do not edit.

export interface ListEventsResult {
  success: true;
  events: Event[];
  /**
   * Highest seq stored, 0 when there is none
   */
  lastSeq: number;
}
export interface Event {
  seq: number;
  type: "marketing-task-created";
  /**
   * The notification's params without seq
   */
  payload: {
    [k: string]: unknown | undefined;
  };
  /**
   * ISO 8601 time in UTC with a Z, e.g. 2026-12-04T21:05:35.123Z
   */
  createdAt: string;
}

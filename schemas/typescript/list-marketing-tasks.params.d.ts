// Generated from schemas/json/list-marketing-tasks.params.json by `npm run generate-types` in tests/node; do not edit.

export interface ListMarketingTasksParams {
  limit?: number;
  cursor?: string | null;
  status?: ("draft" | "scheduled") | null;
}

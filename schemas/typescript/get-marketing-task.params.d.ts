// Generated from schemas/json/get-marketing-task.params.json by `npm run generate-types` in tests/node; do not edit.

export interface GetMarketingTaskParams {
  id: number;
}

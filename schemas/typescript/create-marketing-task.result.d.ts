// Generated from schemas/json/create-marketing-task.result.json by `npm run generate-types` in tests/node; do not edit.

export interface CreateMarketingTaskResult {
  success: true;
  replayed: boolean;
  task: Task;
}
export interface Task {
  id: number;
  name: string;
  status: "draft" | "scheduled";
  audience: Audience;
  estimatedAudience: number | null;
  targetCount: number;
  statsTotalContacts: number;
  messageTemplate: string | null;
  scheduledAt: string | null;
  clientRequestId: string | null;
  /**
   * ISO 8601 time in UTC with a Z, e.g. 2026-12-04T21:05:35.123Z
   */
  createdAt: string;
  /**
   * ISO 8601 time in UTC with a Z, e.g. 2026-12-04T21:05:35.123Z
   */
  updatedAt: string;
}
export interface Audience {
  source: "recent" | "tag" | "group" | "manual";
  /**
   * @maxItems 1000
   */
  tags: string[];
  /**
   * @maxItems 1000
   */
  groups: string[];
  /**
   * The contacts' externalId strings
   *
   * @maxItems 100000
   */
  contactIds: string[];
  minIntentScore: number;
  recentDays: number;
}

// Generated from schemas/json/*.json by `npm run generate-types` in tests/node; do not edit.

// The params, result and error data of each method and the params of each notification.
export type { CreateMarketingTaskParams } from "./create-marketing-task.params.js";
export type { CreateMarketingTaskResult } from "./create-marketing-task.result.js";
export type { ErrorData } from "./error.data.js";
export type { EstimateAudienceParams } from "./estimate-audience.params.js";
export type { EstimateAudienceResult } from "./estimate-audience.result.js";
export type { GetMarketingTaskParams } from "./get-marketing-task.params.js";
export type { GetMarketingTaskResult } from "./get-marketing-task.result.js";
export type { GetStatusParams } from "./get-status.params.js";
export type { GetStatusResult } from "./get-status.result.js";
export type { ListEventsParams } from "./list-events.params.js";
export type { ListEventsResult } from "./list-events.result.js";
export type { ListMarketingTasksParams } from "./list-marketing-tasks.params.js";
export type { ListMarketingTasksResult } from "./list-marketing-tasks.result.js";
export type { MarketingTaskCreatedParams } from "./marketing-task-created.notification.js";
export type { MigrationProgressParams } from "./migration-progress.notification.js";
export type { ShutdownParams } from "./shutdown.params.js";
export type { ShutdownResult } from "./shutdown.result.js";
export type { SidecarDegradedParams } from "./sidecar-degraded.notification.js";
export type { SidecarReadyParams } from "./sidecar-ready.notification.js";
export type { UpsertContactsParams } from "./upsert-contacts.params.js";
export type { UpsertContactsResult } from "./upsert-contacts.result.js";

// Shapes shared by several messages.
export type { Audience as AudienceInput } from "./create-marketing-task.params.js";
export type { Audience as AudienceOutput } from "./create-marketing-task.result.js";
export type { AudienceBasis } from "./estimate-audience.result.js";
export type { ContactInput } from "./upsert-contacts.params.js";
export type { ErrorInfo } from "./error.data.js";
export type { Event } from "./list-events.result.js";
export type { FieldErrorInfo } from "./error.data.js";
export type { Task } from "./create-marketing-task.result.js";

import type { CreateMarketingTaskParams } from "./create-marketing-task.params.js";
import type { CreateMarketingTaskResult } from "./create-marketing-task.result.js";
import type { ErrorData } from "./error.data.js";
import type { EstimateAudienceParams } from "./estimate-audience.params.js";
import type { EstimateAudienceResult } from "./estimate-audience.result.js";
import type { GetMarketingTaskParams } from "./get-marketing-task.params.js";
import type { GetMarketingTaskResult } from "./get-marketing-task.result.js";
import type { GetStatusParams } from "./get-status.params.js";
import type { GetStatusResult } from "./get-status.result.js";
import type { ListEventsParams } from "./list-events.params.js";
import type { ListEventsResult } from "./list-events.result.js";
import type { ListMarketingTasksParams } from "./list-marketing-tasks.params.js";
import type { ListMarketingTasksResult } from "./list-marketing-tasks.result.js";
import type { MarketingTaskCreatedParams } from "./marketing-task-created.notification.js";
import type { MigrationProgressParams } from "./migration-progress.notification.js";
import type { ShutdownParams } from "./shutdown.params.js";
import type { ShutdownResult } from "./shutdown.result.js";
import type { SidecarDegradedParams } from "./sidecar-degraded.notification.js";
import type { SidecarReadyParams } from "./sidecar-ready.notification.js";
import type { UpsertContactsParams } from "./upsert-contacts.params.js";
import type { UpsertContactsResult } from "./upsert-contacts.result.js";

/** Params and result type of every method, keyed by method name. */
export interface MethodMap {
  "create-marketing-task": { params: CreateMarketingTaskParams; result: CreateMarketingTaskResult };
  "estimate-audience": { params: EstimateAudienceParams; result: EstimateAudienceResult };
  "get-marketing-task": { params: GetMarketingTaskParams; result: GetMarketingTaskResult };
  "get-status": { params: GetStatusParams; result: GetStatusResult };
  "list-events": { params: ListEventsParams; result: ListEventsResult };
  "list-marketing-tasks": { params: ListMarketingTasksParams; result: ListMarketingTasksResult };
  "shutdown": { params: ShutdownParams; result: ShutdownResult };
  "upsert-contacts": { params: UpsertContactsParams; result: UpsertContactsResult };
  "rpc.discover": { params: Record<string, never>; result: Record<string, unknown> };
}

/** Params type of every notification the sidecar sends, keyed by notification method. */
export interface NotificationMap {
  "marketing-task-created": MarketingTaskCreatedParams;
  "migration-progress": MigrationProgressParams;
  "sidecar-degraded": SidecarDegradedParams;
  "sidecar-ready": SidecarReadyParams;
}

export type MethodName = keyof MethodMap;
export type NotificationName = keyof NotificationMap;

/** The error member of a failed response; data is ErrorData for every error the sidecar sends. */
export interface RpcErrorObject {
  code: number;
  message: string;
  data: ErrorData;
}

// Compile-time checks of the generated types and the bridge's JSDoc types,
// written the way main-process code uses them. `npm run typecheck` compiles
// this file and never runs it; each @ts-expect-error line must stay an error.

import type {
  CreateMarketingTaskParams,
  CreateMarketingTaskResult,
  ErrorInfo,
  MarketingTaskCreatedParams,
  MethodMap,
  RpcErrorObject,
  SidecarDegradedParams,
  Task,
} from "../../schemas/typescript/index.js";
import { SidecarBridge, SidecarExitedError, SidecarRequestError } from "./sidecar-bridge.mjs";

export async function createTask(bridge: SidecarBridge): Promise<Task> {
  const params: CreateMarketingTaskParams = {
    name: "测试001",
    audience: { source: "recent", minIntentScore: 33 },
    estimatedAudience: 110,
    clientRequestId: "c5f0",
  };
  const result: CreateMarketingTaskResult = await bridge.request("create-marketing-task", params);
  const replayed: boolean = result.replayed;
  const targets: number = result.task.targetCount;
  void replayed;
  void targets;

  // @ts-expect-error name is required
  await bridge.request("create-marketing-task", { audience: { source: "recent" } });
  // @ts-expect-error source is one of recent, tag, group, manual
  await bridge.request("create-marketing-task", { name: "x", audience: { source: "everyone" } });
  // @ts-expect-error params reject unknown fields, as the sidecar does
  await bridge.request("create-marketing-task", { name: "x", audience: { source: "recent" }, priority: 1 });
  // @ts-expect-error there is no such method
  await bridge.request("delete-marketing-task", { id: 1 });

  return result.task;
}

export function listenForTasks(bridge: SidecarBridge, show: (task: Task, seq: number) => void): () => void {
  return bridge.onNotification("marketing-task-created", (params: MarketingTaskCreatedParams) => {
    show(params.task, params.seq);
    // @ts-expect-error a task has no title field
    void params.task.title;
  });
}

export function describeDegraded(params: SidecarDegradedParams): string {
  const info: ErrorInfo = params.error;
  return `${info.code}: ${info.userMessage}`;
}

export function describeFailure(error: unknown): string {
  if (error instanceof SidecarRequestError && error.info !== undefined) {
    const fields = error.info.fields ?? [];
    return `${error.info.userMessage} (${fields.map((field) => field.path).join(", ")})`;
  }
  if (error instanceof SidecarExitedError) {
    return `retry ${error.method}: ${error.retryable}`;
  }
  return String(error);
}

export function errorCode(error: RpcErrorObject): ErrorInfo["code"] {
  return error.data.error.code;
}

// Every params type fits the map the bridge is typed with.
type ParamsOf<M extends keyof MethodMap> = MethodMap[M]["params"];
export const listParams: ParamsOf<"list-marketing-tasks"> = { limit: 50, cursor: null, status: "draft" };

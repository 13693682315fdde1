// Generated from schemas/json/error.data.json by `npm run generate-types` in tests/node; do not edit.

/**
 * The data member of every JSON-RPC error object.
 */
export interface ErrorData {
  success: false;
  error: ErrorInfo;
}
export interface ErrorInfo {
  code:
    | "PARSE_ERROR"
    | "INVALID_REQUEST"
    | "METHOD_NOT_FOUND"
    | "VALIDATION_FAILED"
    | "INTERNAL_ERROR"
    | "DATABASE_NOT_READY"
    | "DATABASE_BUSY"
    | "DATABASE_UNAVAILABLE"
    | "IDEMPOTENCY_CONFLICT"
    | "NOT_FOUND";
  /**
   * English, for logs and developers
   */
  message: string;
  /**
   * Text for the screen, in the --locale language
   */
  userMessage: string;
  retryable: boolean;
  /**
   * Present for VALIDATION_FAILED only
   */
  fields?: FieldErrorInfo[] | null;
}
export interface FieldErrorInfo {
  path: string;
  message: string;
}

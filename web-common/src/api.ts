// A JSON API client for Vigia's servers: the CSRF header on state-changing requests, `{"error"}` messages
// thrown as ApiError, and a 401 also reported to the handler set with onUnauthorized (the app shows its login).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds, from a 429's Retry-After header. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/** The `{"error": ...}` message of a failed response (or its status text). */
export async function errorOf(response: Response): Promise<ApiError> {
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const data: unknown = await response.json();
    if (data && typeof data === "object" && "error" in data && typeof data.error === "string") message = data.error;
  } catch {
    // not JSON: keep the status text
  }
  const retryAfter = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** false: a 401 is only thrown, not reported to the onUnauthorized handler. */
  reportUnauthorized?: boolean;
}

export interface ApiClient {
  request: <T>(method: string, path: string, options?: RequestOptions) => Promise<T>;
  setCsrfToken: (token: string) => void;
  onUnauthorized: (handler: () => void) => void;
}

/** One server's API under `base` (a path prefix): the session's CSRF token and the 401 handler live here. */
export function createClient(base: string): ApiClient {
  let csrfToken = "";
  let unauthorized: () => void = () => {};

  async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    let body: string | undefined;
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = csrfToken;
      body = JSON.stringify(options.body ?? {});
    }
    const response = await fetch(base + path, { method, headers, body, signal: options.signal, credentials: "same-origin" });
    if (!response.ok) {
      const error = await errorOf(response);
      if (error.status === 401 && options.reportUnauthorized !== false) unauthorized();
      throw error;
    }
    return (await response.json()) as T;
  }

  return {
    request,
    setCsrfToken: (token) => {
      csrfToken = token;
    },
    onUnauthorized: (handler) => {
      unauthorized = handler;
    },
  };
}

// Over the types openapi-typescript generates (`paths["/api/v1/x"]["post"]`): an operation's JSON answer and body.

/** The JSON body of an operation's answer with `status` (200 unless given). */
export type JsonReply<Operation, Status extends number = 200> = Operation extends {
  responses: { [S in Status]: { content: { "application/json": infer Body } } };
}
  ? Body
  : never;

/** The JSON body an operation takes. */
export type JsonBody<Operation> = Operation extends { requestBody?: { content: { "application/json": infer Body } } }
  ? Body
  : never;

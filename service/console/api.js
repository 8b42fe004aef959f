// The service's own HTTP API, called with the token this tab was given at sign-in.

const KEY = "scheduler-api-token";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? "http_error";
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

let onUnauthorized = () => {};

export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export async function call(method, path, { query, body, bearer } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of query ?? []) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.append(name, value);
  }
  const headers = { Authorization: `Bearer ${bearer ?? token.get()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && bearer === undefined) onUnauthorized(error);
    throw error;
  }
  return data;
}

const enc = encodeURIComponent;

// Query parameters as [name, value] pairs, so `label` can repeat.
export function labelQuery(labels) {
  return labels.map((label) => ["label", label]);
}

export const api = {
  check: (bearer) => call("GET", "/messages", { query: [["limit", 1]], bearer }),
  overview: () => call("GET", "/console/api/overview"),
  messages: ({ labels = [], state, cursor, limit = 50 }) =>
    call("GET", "/messages", {
      query: [["limit", limit], ["cursor", cursor], ["state", state], ...labelQuery(labels)],
    }),
  message: (id) => call("GET", `/messages/${enc(id)}`),
  cancel: (id) => call("DELETE", `/messages/${enc(id)}`),
  cancelLabelled: (labels) => call("DELETE", "/messages", { query: labelQuery(labels) }),
  deadLetters: ({ labels = [], cursor, limit = 50 }) =>
    call("GET", "/dead-letters", {
      query: [["limit", limit], ["cursor", cursor], ...labelQuery(labels)],
    }),
  redrive: (id) => call("POST", `/dead-letters/${enc(id)}/redrive`),
  dropDeadLetter: (id) => call("DELETE", `/dead-letters/${enc(id)}`),
  schedules: ({ labels = [], cursor, limit = 50 }) =>
    call("GET", "/schedules", {
      query: [["limit", limit], ["cursor", cursor], ...labelQuery(labels)],
    }),
  schedule: (id) => call("GET", `/schedules/${enc(id)}`),
  setPaused: (id, paused) => call("PATCH", `/schedules/${enc(id)}`, { body: { paused } }),
  deleteSchedule: (id) => call("DELETE", `/schedules/${enc(id)}`),
};

// Every id a listing holds for these filters, page by page (for counts and bulk actions).
export async function collectIds(list, filters, field, { limit = 1000, most = 100_000 } = {}) {
  const ids = [];
  let cursor = null;
  do {
    const page = await list({ ...filters, cursor, limit });
    ids.push(...page[field].map((row) => row.messageId));
    cursor = page.nextCursor;
  } while (cursor && ids.length < most);
  return { ids, complete: !cursor };
}

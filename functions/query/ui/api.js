// The one way the page talks to pact-query: same origin, the tab's token,
// problem documents (RFC 9457) turned into errors that say what to do.

const TOKEN_KEY = 'pact.token';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** The token of this tab (sessionStorage: gone when the tab closes). */
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Called on every 401, with the server's reason. */
let onUnauthorized = () => {};
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

/**
 * `path` with `query` (null and empty values left out), answered JSON.
 * Throws an ApiError for any status but 2xx.
 */
export async function api(path, { query, method = 'GET', body } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const headers = { Accept: 'application/json' };
  const secret = token.get();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, json);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return json;
}

/** Every page of a paged endpoint, up to `max` items; `{items, complete}`. */
export async function allPages(path, query, max) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path, { query: { ...query, limit: 1000, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return { items: items.slice(0, max), complete: !cursor && items.length <= max };
}

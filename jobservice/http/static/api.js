// Talking to jobservice: fetch with the bearer token, EventSource URLs with ?token=.
const TOKEN_KEY = "jobservice.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (value) => {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Paths are relative ("jobs", "job/ID"), so the page works under a proxy's path prefix too.
export async function api(path, { method = "GET", body } = {}) {
  const headers = {};
  if (token.get()) headers.Authorization = `Bearer ${token.get()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The service cannot be reached");
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: use the status line */ }
  if (!response.ok) {
    throw new ApiError(response.status, json?.error || `${response.status} ${response.statusText}`);
  }
  return json;
}

// EventSource cannot send headers: the service takes the token as ?token= on its streams.
export function streamUrl(path) {
  return token.get() ? `${path}?token=${encodeURIComponent(token.get())}` : path;
}

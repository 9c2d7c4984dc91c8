// The broker's JSON API from the browser: the session cookie goes by itself (HttpOnly, so this
// script never sees it); every request that changes something carries the session's CSRF token.

let csrf = '';
let onSignedOut = () => {};

export function setCsrf(token) { csrf = token || ''; }
export function whenSignedOut(fn) { onSignedOut = fn; }

export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields || {};
  }
}

// Returns the parsed JSON body; throws ApiError (with the API's code, message and field errors).
export async function api(method, path, body) {
  const headers = {'Accept': 'application/json'};
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                             credentials: 'same-origin', cache: 'no-store'});
  } catch (e) {
    throw new ApiError(0, 'network', 'The hub cannot be reached. Check your connection and try again.');
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.ok) return data;
  const err = (data && data.error) || {};
  if (res.status === 401 && path !== '/api/v1/session') onSignedOut(err.message);
  throw new ApiError(res.status, err.code || 'http-' + res.status, err.message || `The hub answered ${res.status}.`, err.fields);
}

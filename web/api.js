// Thin client for the securevote JSON API (same origin, paths under /api/).
// Every failure is turned into an ApiError carrying a plain-language message
// chosen from the error code; server bodies are never shown to the user.

const REQUEST_TIMEOUT_MS = 15000;

export const UNAVAILABLE_MESSAGE =
  'The voting service is temporarily unavailable. Please try again in a moment.';

const MESSAGES = {
  invalid_request: 'Please check what you entered and try again.',
  invalid_email: 'Please enter a valid email address.',
  invalid_password: 'Password must be 8 to 128 characters.',
  email_taken: 'An account with this email already exists. Log in instead.',
  invalid_credentials: 'Wrong email or password.',
  unauthorized: 'Your session has expired. Please log in again.',
  already_voted: 'You have already voted. Each voter can vote only once.',
  candidate_not_found: 'That candidate is no longer on the ballot. Please choose again.',
  idempotency_key_reused: 'Your vote could not be submitted. Please try again.',
  not_voted: 'You have not voted yet.',
  not_found: 'The requested item could not be found.',
  payload_too_large: 'What you entered is too long. Please shorten it and try again.',
  unavailable: UNAVAILABLE_MESSAGE,
  internal: UNAVAILABLE_MESSAGE,
  internal_error: UNAVAILABLE_MESSAGE,
  network: UNAVAILABLE_MESSAGE,
};

export class ApiError extends Error {
  /**
   * @param {string} code    machine-readable code (server's, or "network"/"unavailable")
   * @param {number} status  HTTP status, 0 for network failures
   * @param {string} message plain-language message safe to show to the user
   * @param {object} [extra] e.g. { retryAfter: seconds }
   */
  constructor(code, status, message, extra = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfter = extra.retryAfter ?? null;
  }

  /** True when the request may not have reached the server or may succeed if repeated. */
  get retryable() {
    return this.status === 0 || this.status >= 500;
  }
}

function describeWait(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return 'a moment';
  if (seconds < 60) {
    const s = Math.ceil(seconds);
    return s === 1 ? '1 second' : `${s} seconds`;
  }
  const m = Math.ceil(seconds / 60);
  return m === 1 ? 'a minute' : `${m} minutes`;
}

function parseRetryAfter(value) {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.round((date - Date.now()) / 1000));
}

/** Map a server error (or none) to a user-facing message. */
function friendlyMessage(code, status, retryAfter) {
  if (code === 'rate_limited' || status === 429) {
    return `Too many attempts. Please wait ${describeWait(retryAfter)} and try again.`;
  }
  if (status >= 500) return UNAVAILABLE_MESSAGE;
  if (code && Object.hasOwn(MESSAGES, code)) return MESSAGES[code];
  if (status === 401) return MESSAGES.unauthorized;
  // Unknown codes: the server's own message is written for developers, so show a plain sentence.
  return 'Something went wrong. Please try again.';
}

/**
 * Perform a JSON request.
 * @param {string} path    e.g. "/api/results"
 * @param {object} [opts]  { method, body, token, headers }
 * @returns {Promise<{status:number, data:any}>}
 */
export async function request(path, { method = 'GET', body, token, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = `Bearer ${token}`;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: controller.signal,
    });
  } catch {
    throw new ApiError('network', 0, MESSAGES.network);
  } finally {
    clearTimeout(timer);
  }

  let data = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }

  if (res.ok) {
    if (data === null && res.status !== 204) {
      // A 2xx without JSON (e.g. a proxy page) is not something we can use.
      throw new ApiError('unavailable', res.status, UNAVAILABLE_MESSAGE);
    }
    return { status: res.status, data };
  }

  const err = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : {};
  const code = typeof err.code === 'string' ? err.code : '';
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
  throw new ApiError(code || `http_${res.status}`, res.status, friendlyMessage(code, res.status, retryAfter), {
    retryAfter,
  });
}

/** A random RFC 4122 v4 UUID; falls back to getRandomValues outside secure contexts. */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const api = {
  register: (email, password) => request('/api/auth/register', { method: 'POST', body: { email, password } }),
  login: (email, password) => request('/api/auth/login', { method: 'POST', body: { email, password } }),
  me: (token) => request('/api/auth/me', { token }),
  candidates: () => request('/api/candidates'),
  castVote: (token, candidateId, idempotencyKey) =>
    request('/api/votes', {
      method: 'POST',
      token,
      body: { candidate_id: candidateId },
      headers: { 'Idempotency-Key': idempotencyKey },
    }),
  myVote: (token) => request('/api/votes/me', { token }),
  results: () => request('/api/results'),
};

// Thin client for the securevote JSON API (same origin, paths under /api/).
// Every failure is turned into an ApiError carrying a plain-language message
// chosen from the error code; server bodies are never shown to the user.

import { t } from './i18n.js';

const REQUEST_TIMEOUT_MS = 15000;

/** Codes with a message of their own in the catalogues (key `error.<code>`). */
const KNOWN_CODES = new Set([
  'invalid_request', 'invalid_email', 'invalid_password', 'email_taken', 'invalid_credentials',
  'unauthorized', 'forbidden', 'already_voted', 'candidate_not_found', 'idempotency_key_reused',
  'not_voted', 'not_found', 'payload_too_large', 'election_not_found', 'election_not_open',
  'not_eligible', 'invalid_ballot', 'results_embargoed', 'invalid_transition', 'election_frozen',
  'slug_taken', 'unavailable', 'network', 'invalid_roll', 'unsupported_media_type',
]);

export function unavailableMessage() {
  return t('error.unavailable');
}

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
    /** The server's own message (English, for developers and admins), e.g. naming a field. */
    this.detail = extra.detail ?? '';
    /** The path of the field a validation error names (`contests[1].max_choices`), or ''. */
    this.field = extra.field ?? '';
  }

  /** True when the request may not have reached the server or may succeed if repeated. */
  get retryable() {
    return this.status === 0 || this.status >= 500;
  }
}

function describeWait(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return t('wait.moment');
  if (seconds < 60) return t('wait.seconds', { n: Math.ceil(seconds) });
  return t('wait.minutes', { n: Math.ceil(seconds / 60) });
}

function parseRetryAfter(value) {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.round((date - Date.now()) / 1000));
}

/** Codes whose server message is written for voters (it says what is wrong with the input). */
const SERVER_WORDED = new Set(['invalid_password', 'invalid_email']);

/** Map a server error (or none) to a user-facing message. */
function friendlyMessage(code, status, retryAfter, serverMessage) {
  if (code === 'rate_limited' || status === 429) return t('error.rate_limited', { wait: describeWait(retryAfter) });
  if (status >= 500) return unavailableMessage();
  if (SERVER_WORDED.has(code) && typeof serverMessage === 'string' && serverMessage.trim()) {
    // The server says why (e.g. which kind of weak password); it writes in English.
    const text = serverMessage.trim();
    const sentence = text.charAt(0).toUpperCase() + text.slice(1);
    return t('error.input_refused', { detail: /[.!?]$/.test(sentence) ? sentence : `${sentence}.` });
  }
  if (code && KNOWN_CODES.has(code)) return t(`error.${code}`);
  if (status === 401) return t('error.unauthorized');
  // Unknown codes: the server's own message is written for developers, so show a plain sentence.
  return t('error.generic');
}

/**
 * Perform a JSON request.
 * @param {string} path    e.g. "/api/results"
 * @param {object} [opts]  { method, body, token, headers }
 * @returns {Promise<{status:number, data:any}>}
 */
export async function request(path, { method = 'GET', body, raw, token, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (raw !== undefined) h['Content-Type'] = raw.type;
  if (token) h.Authorization = `Bearer ${token}`;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: raw !== undefined ? raw.data : body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: controller.signal,
    });
  } catch {
    throw new ApiError('network', 0, t('error.network'));
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
      throw new ApiError('unavailable', res.status, unavailableMessage());
    }
    return { status: res.status, data };
  }

  const err = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : {};
  const code = typeof err.code === 'string' ? err.code : '';
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
  throw new ApiError(code || `http_${res.status}`, res.status, friendlyMessage(code, res.status, retryAfter, err.message), {
    retryAfter,
    detail: typeof err.message === 'string' ? err.message : '',
    field: typeof err.field === 'string' ? err.field : '',
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

const enc = encodeURIComponent;

export const api = {
  register: (email, password) => request('/api/auth/register', { method: 'POST', body: { email, password } }),
  login: (email, password) => request('/api/auth/login', { method: 'POST', body: { email, password } }),
  me: (token) => request('/api/auth/me', { token }),
  logout: (token) => request('/api/auth/logout', { method: 'POST', token }),
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

  elections: (token) => request('/api/elections', { token }),
  election: (id, token) => request(`/api/elections/${enc(id)}`, { token }),
  createElection: (token, doc) => request('/api/elections', { method: 'POST', token, body: doc }),
  updateElection: (token, id, patch) => request(`/api/elections/${enc(id)}`, { method: 'PATCH', token, body: patch }),
  deleteElection: (token, id) => request(`/api/elections/${enc(id)}`, { method: 'DELETE', token }),
  /** action: schedule | open | close | publish | archive | default | extend (with body) */
  transition: (token, id, action, body) =>
    request(`/api/elections/${enc(id)}/${action}`, { method: 'POST', token, body }),
  castBallot: (token, id, selections, idempotencyKey) =>
    request(`/api/elections/${enc(id)}/ballots`, {
      method: 'POST',
      token,
      body: { selections },
      headers: { 'Idempotency-Key': idempotencyKey },
    }),
  /** An audited ballot with its reveal (§4.6): put on the board as `spoiled`, never cast. */
  spoil: (token, id, ballot, reveal) =>
    request(`/api/elections/${enc(id)}/spoiled`, { method: 'POST', token, body: { ballot, reveal } }),
  /** An encrypted ballot (docs/election-record.md §4.4); the answer carries its tracker. */
  castEncrypted: (token, id, ballot, idempotencyKey) =>
    request(`/api/elections/${enc(id)}/ballots`, {
      method: 'POST',
      token,
      body: { encrypted: ballot },
      headers: { 'Idempotency-Key': idempotencyKey },
    }),
  /** The voter's pseudonym and the board's setup line, for encrypting a ballot. */
  pseudonym: (token, id) => request(`/api/elections/${enc(id)}/pseudonym`, { token }),
  electionResults: (id) => request(`/api/elections/${enc(id)}/results`),
  turnout: (token, id) => request(`/api/elections/${enc(id)}/turnout`, { token }),
  /** A roll file (CSV text) for a draft election; `dryRun` only reports what would change. */
  importRoll: (token, id, csv, dryRun) =>
    request(`/api/elections/${enc(id)}/roll${dryRun ? '?dry_run=true' : ''}`, { method: 'POST', token, raw: { type: 'text/csv; charset=utf-8', data: csv } }),
  roll: (token, id, { search = '', after, limit = 50 } = {}) =>
    request(`/api/elections/${enc(id)}/roll?limit=${limit}${search ? `&search=${enc(search)}` : ''}${after ? `&after=${enc(after)}` : ''}`, { token }),
  deliveries: (token, id) => request(`/api/elections/${enc(id)}/invitations`, { token }),
  sendInvitations: (token, id) => request(`/api/elections/${enc(id)}/invitations`, { method: 'POST', token }),
  sendReminders: (token, id) => request(`/api/elections/${enc(id)}/reminders`, { method: 'POST', token }),
  resendInvitation: (token, id, email) => request(`/api/elections/${enc(id)}/invitations/resend`, { method: 'POST', token, body: { email } }),
  magicSignIn: (linkToken) => request('/api/auth/magic', { method: 'POST', body: { token: linkToken } }),
  requestLink: (election, email) => request('/api/auth/magic-link', { method: 'POST', body: { election, email } }),
  adminStats: (token) => request('/api/admin/stats', { token }),
  audit: (token, { limit = 50, before, action } = {}) =>
    request(`/api/admin/audit?limit=${limit}${before ? `&before=${enc(before)}` : ''}${action ? `&action=${enc(action)}` : ''}`, { token }),
};

/**
 * Downloads a file the API serves only to a signed-in admin (CSV exports): fetched with the
 * token, then saved under `filename`.
 */
export async function download(path, token, filename) {
  let res;
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError('network', 0, t('error.network'));
  }
  if (!res.ok) throw new ApiError(`http_${res.status}`, res.status, friendlyMessage('', res.status, null));
  const url = URL.createObjectURL(await res.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}

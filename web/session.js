// The voter's session: a bearer token in sessionStorage (it ends with the tab), its expiry timer,
// and whether the account is an admin (asked of the server, never trusted from storage alone).

import { api, ApiError } from './api.js';

const STORAGE_KEY = 'securevote.session';

/** @type {{token:string, expiresAt:number|null, email:string|null} | null} */
let current = null;
let expiryTimer = 0;
let onExpire = () => {};
/** @type {boolean|null} null = not asked yet */
let admin = null;

export function readStoredSession() {
  try {
    const raw = window.sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (!s || typeof s.token !== 'string' || !s.token) return null;
    return { token: s.token, expiresAt: typeof s.expiresAt === 'number' ? s.expiresAt : null, email: s.email ?? null };
  } catch {
    return null;
  }
}

export function storeSession(session) {
  try {
    if (session) window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    else window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage unavailable (e.g. privacy mode): the session lives only in memory.
  }
}

export function isExpired(session) {
  return session.expiresAt !== null && Date.now() >= session.expiresAt;
}

export function session() {
  return current;
}

export function token() {
  return current?.token ?? null;
}

/** Called when the token runs out while the page is open. */
export function setExpiryHandler(handler) {
  onExpire = handler;
}

function scheduleExpiry() {
  window.clearTimeout(expiryTimer);
  const s = current;
  if (!s || s.expiresAt === null) return;
  // setTimeout's delay is a signed 32-bit integer.
  const delay = Math.min(Math.max(0, s.expiresAt - Date.now()), 2 ** 31 - 1);
  expiryTimer = window.setTimeout(() => {
    if (current && isExpired(current)) onExpire();
    else scheduleExpiry();
  }, delay);
}

export function setSession(next) {
  if (!next || next.token !== current?.token) admin = null;
  current = next;
  storeSession(next);
  scheduleExpiry();
}

/** Whether the signed-in account is an admin (from /api/auth/me, once per session). */
export async function isAdmin() {
  if (!current) return false;
  if (admin !== null) return admin;
  try {
    const { data } = await api.me(current.token);
    admin = data?.is_admin === true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) admin = false;
    else throw err;
  }
  return admin;
}

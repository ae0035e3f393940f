// securevote voter UI. Plain ES module, no framework, no build step.
// All DOM is built with textContent / createElement: server data never goes through innerHTML.

import { api, ApiError, newIdempotencyKey, UNAVAILABLE_MESSAGE } from './api.js';

const RESULTS_INTERVAL_MS = 5000;
const STORAGE_KEY = 'securevote.session';
const SESSION_EXPIRED = 'Your session has expired. Please log in again.';

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
};

const el = {
  main: $('main'),
  status: $('status'),
  session: $('session'),
  whoami: $('whoami'),
  logout: $('logout'),

  auth: $('auth'),
  authTitle: $('auth-title'),
  authError: $('auth-error'),
  loginForm: $('login-form'),
  loginEmail: $('login-email'),
  loginPassword: $('login-password'),
  loginSubmit: $('login-submit'),
  registerForm: $('register-form'),
  registerEmail: $('register-email'),
  registerPassword: $('register-password'),
  registerSubmit: $('register-submit'),
  showRegister: $('show-register'),
  showLogin: $('show-login'),

  voting: $('voting'),
  voteError: $('vote-error'),
  loading: $('loading'),
  loadFailed: $('load-failed'),
  loadFailedTitle: $('load-failed-title'),
  retry: $('retry'),
  ballot: $('ballot'),
  ballotTitle: $('ballot-title'),
  ballotForm: $('ballot-form'),
  ballotEmpty: $('ballot-empty'),
  candidateList: $('candidate-list'),
  ballotSubmit: $('ballot-submit'),
  confirm: $('confirm'),
  confirmTitle: $('confirm-title'),
  confirmText: $('confirm-text'),
  confirmVote: $('confirm-vote'),
  confirmBack: $('confirm-back'),
  voted: $('voted'),
  votedTitle: $('voted-title'),
  votedText: $('voted-text'),

  results: $('results'),
  resultsTotal: $('results-total'),
  resultsError: $('results-error'),
  resultsEmpty: $('results-empty'),
  resultsList: $('results-list'),
  resultsUpdated: $('results-updated'),
};

const state = {
  /** @type {{token:string, expiresAt:number|null, email:string|null} | null} */
  session: null,
  /** @type {Array<{id:any, name:string, party:string|null, description:string|null}>} */
  candidates: [],
  /** @type {Map<string, object>} keyed by String(candidate.id) */
  candidatesById: new Map(),
  /** String(candidate id) currently under review in the confirmation step */
  pendingId: null,
  /** Idempotency key for the current vote attempt; reused when retrying the same submission. */
  pendingKey: null,
  /** @type {{id:any, candidate_id:any, created_at:string} | null} */
  myVote: null,
  expiryTimer: 0,
  busy: false,
};

/* ------------------------------------------------------------------ helpers */

const numberFormat = new Intl.NumberFormat(undefined);
const percentFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

function formatDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? '') : dateTimeFormat.format(d);
}

function candidateLabel(c) {
  return c.party ? `${c.name} (${c.party})` : c.name;
}

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'className') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(node, visible) {
  node.hidden = !visible;
}

function setStatus(message) {
  el.status.textContent = message || '';
}

function setError(node, message) {
  node.textContent = message || '';
  show(node, Boolean(message));
}

function focusHeading(node) {
  if (node && typeof node.focus === 'function') node.focus({ preventScroll: false });
}

function setBusy(button, busy, busyLabel) {
  if (busy) {
    button.dataset.label = button.dataset.label || button.textContent;
    button.textContent = busyLabel;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  } else {
    if (button.dataset.label) button.textContent = button.dataset.label;
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

function markInvalid(input, invalid) {
  if (invalid) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

/* ------------------------------------------------------------------ session storage */

function readStoredSession() {
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

function storeSession(session) {
  try {
    if (session) window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    else window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage unavailable (e.g. privacy mode): the session lives only in memory.
  }
}

function isExpired(session) {
  return session.expiresAt !== null && Date.now() >= session.expiresAt;
}

function scheduleExpiry() {
  window.clearTimeout(state.expiryTimer);
  const s = state.session;
  if (!s || s.expiresAt === null) return;
  // setTimeout's delay is a signed 32-bit integer.
  const delay = Math.min(Math.max(0, s.expiresAt - Date.now()), 2 ** 31 - 1);
  state.expiryTimer = window.setTimeout(() => {
    if (state.session && isExpired(state.session)) expireSession();
    else scheduleExpiry();
  }, delay);
}

function setSession(session) {
  state.session = session;
  storeSession(session);
  scheduleExpiry();
}

/* ------------------------------------------------------------------ views */

/**
 * Show exactly one of the main views.
 * @param {'loading'|'auth'|'ballot'|'confirm'|'voted'|'load-failed'} view
 */
function showView(view) {
  const loggedIn = view !== 'auth';
  show(el.auth, view === 'auth');
  show(el.voting, loggedIn);
  show(el.loading, view === 'loading');
  show(el.ballot, view === 'ballot');
  show(el.confirm, view === 'confirm');
  show(el.voted, view === 'voted');
  show(el.loadFailed, view === 'load-failed');

  const email = state.session?.email;
  show(el.session, loggedIn);
  show(el.logout, loggedIn);
  el.whoami.textContent = loggedIn && email ? email : '';
  document.body.dataset.view = view;
}

function showLogin({ error = '', email, focus = true } = {}) {
  showView('auth');
  el.authTitle.textContent = 'Log in';
  show(el.loginForm, true);
  show(el.registerForm, false);
  setError(el.authError, error);
  if (email !== undefined) el.loginEmail.value = email;
  el.loginPassword.value = '';
  markInvalid(el.loginEmail, false);
  markInvalid(el.loginPassword, false);
  if (focus) (el.loginEmail.value ? el.loginPassword : el.loginEmail).focus();
}

function showRegister({ focus = true } = {}) {
  showView('auth');
  el.authTitle.textContent = 'Create an account';
  show(el.loginForm, false);
  show(el.registerForm, true);
  setError(el.authError, '');
  if (!el.registerEmail.value && el.loginEmail.value) el.registerEmail.value = el.loginEmail.value;
  el.registerPassword.value = '';
  markInvalid(el.registerEmail, false);
  markInvalid(el.registerPassword, false);
  if (focus) el.registerEmail.focus();
}

/* ------------------------------------------------------------------ auth flows */

function validateCredentials(emailInput, passwordInput, { checkLength }) {
  const email = emailInput.value.trim();
  const password = passwordInput.value;
  markInvalid(emailInput, false);
  markInvalid(passwordInput, false);
  if (!email) return { input: emailInput, message: 'Please enter your email address.' };
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) return { input: emailInput, message: 'Please enter a valid email address.' };
  if (!password) return { input: passwordInput, message: 'Please enter your password.' };
  if (checkLength) {
    const length = [...password].length;
    if (length < 8 || length > 128) return { input: passwordInput, message: 'Password must be 8 to 128 characters.' };
  }
  return null;
}

function fieldForError(code, emailInput, passwordInput) {
  if (code === 'invalid_email' || code === 'email_taken') return emailInput;
  if (code === 'invalid_password') return passwordInput;
  if (code === 'invalid_credentials') return passwordInput;
  return null;
}

async function logIn(email, password) {
  const { data } = await api.login(email, password);
  if (!data || typeof data.token !== 'string') throw new ApiError('unavailable', 500, UNAVAILABLE_MESSAGE);
  const expiresIn = Number(data.expires_in);
  setSession({
    token: data.token,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null,
    email,
  });
}

async function onLoginSubmit(event) {
  event.preventDefault();
  if (state.busy) return;
  setStatus('');
  const invalid = validateCredentials(el.loginEmail, el.loginPassword, { checkLength: false });
  if (invalid) {
    setError(el.authError, invalid.message);
    markInvalid(invalid.input, true);
    invalid.input.focus();
    return;
  }
  const email = el.loginEmail.value.trim();
  state.busy = true;
  setBusy(el.loginSubmit, true, 'Logging in…');
  setError(el.authError, '');
  try {
    await logIn(email, el.loginPassword.value);
    el.loginPassword.value = '';
    setStatus(`Logged in as ${email}.`);
    await enterApp({ focus: true });
  } catch (err) {
    handleAuthFailure(err, el.loginEmail, el.loginPassword);
  } finally {
    state.busy = false;
    setBusy(el.loginSubmit, false);
  }
}

async function onRegisterSubmit(event) {
  event.preventDefault();
  if (state.busy) return;
  setStatus('');
  const invalid = validateCredentials(el.registerEmail, el.registerPassword, { checkLength: true });
  if (invalid) {
    setError(el.authError, invalid.message);
    markInvalid(invalid.input, true);
    invalid.input.focus();
    return;
  }
  const email = el.registerEmail.value.trim();
  const password = el.registerPassword.value;
  state.busy = true;
  setBusy(el.registerSubmit, true, 'Creating account…');
  setError(el.authError, '');
  try {
    await api.register(email, password);
  } catch (err) {
    handleAuthFailure(err, el.registerEmail, el.registerPassword);
    state.busy = false;
    setBusy(el.registerSubmit, false);
    return;
  }
  // Account exists now: log in automatically.
  try {
    await logIn(email, password);
    el.registerPassword.value = '';
    el.registerEmail.value = '';
    setStatus(`Account created. You are logged in as ${email}.`);
    await enterApp({ focus: true });
  } catch (err) {
    el.registerPassword.value = '';
    showLogin({ email, error: `Your account was created, but we could not log you in. ${err.message}` });
    setStatus('Account created.');
  } finally {
    state.busy = false;
    setBusy(el.registerSubmit, false);
  }
}

function handleAuthFailure(err, emailInput, passwordInput) {
  const message = err instanceof ApiError ? err.message : UNAVAILABLE_MESSAGE;
  setError(el.authError, message);
  const field = err instanceof ApiError ? fieldForError(err.code, emailInput, passwordInput) : null;
  if (field) {
    markInvalid(field, true);
    if (field === passwordInput) passwordInput.value = '';
    field.focus();
  }
  if (!(err instanceof ApiError)) console.error(err);
}

function logOut() {
  resetVotingState();
  setSession(null);
  setError(el.voteError, '');
  el.loginEmail.value = '';
  showLogin({ focus: false });
  focusHeading(el.authTitle);
  setStatus('You have logged out.');
}

function expireSession() {
  const email = state.session?.email ?? '';
  resetVotingState();
  setSession(null);
  setError(el.voteError, '');
  // A "Logged in as …" / "Your vote … has been recorded" line would contradict the login form.
  setStatus('');
  showLogin({ error: SESSION_EXPIRED, email, focus: true });
}

function resetVotingState() {
  state.pendingId = null;
  state.pendingKey = null;
  state.myVote = null;
  el.candidateList.replaceChildren();
  el.confirmText.replaceChildren();
  el.votedText.replaceChildren();
  renderResultsHighlight();
}

/** True if the error was an expired/invalid session (and the user has been logged out). */
function handleSessionError(err) {
  if (err instanceof ApiError && (err.status === 401 || err.code === 'unauthorized')) {
    expireSession();
    return true;
  }
  return false;
}

/* ------------------------------------------------------------------ app entry after login */

async function loadCandidates() {
  const { data } = await api.candidates();
  const list = Array.isArray(data) ? data : [];
  state.candidates = list.filter((c) => c && c.id !== undefined && c.id !== null && typeof c.name === 'string');
  state.candidatesById = new Map(state.candidates.map((c) => [String(c.id), c]));
}

/**
 * Decide what a logged-in voter sees: the ballot or their recorded vote.
 * @param {{focus?: boolean}} opts move focus to the new view's heading
 */
async function enterApp({ focus = false } = {}) {
  if (!state.session) return;
  showView('loading');
  setError(el.voteError, '');
  try {
    const [{ data: me }] = await Promise.all([api.me(state.session.token), loadCandidates()]);
    if (me && typeof me.email === 'string' && me.email !== state.session.email) {
      setSession({ ...state.session, email: me.email });
    }
    if (me && me.has_voted) {
      const shown = await showMyVote({ focus });
      if (shown) return;
    }
    showBallot({ focus });
  } catch (err) {
    if (handleSessionError(err)) return;
    showLoadFailed(err, focus);
  }
}

function showLoadFailed(err, focus) {
  showView('load-failed');
  setError(el.voteError, err instanceof ApiError ? err.message : UNAVAILABLE_MESSAGE);
  if (!(err instanceof ApiError)) console.error(err);
  if (focus) focusHeading(el.loadFailedTitle);
}

/** Fetch the voter's recorded vote and show it. Returns false if the server says there is none. */
async function showMyVote({ focus = false } = {}) {
  try {
    const { data } = await api.myVote(state.session.token);
    state.myVote = data;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'not_voted') return false;
    throw err;
  }
  if (!state.candidatesById.has(String(state.myVote.candidate_id))) {
    // The ballot may have changed since the page loaded; refresh the names once.
    await loadCandidates().catch(() => {});
  }
  renderVoted();
  showView('voted');
  renderResultsHighlight();
  if (focus) focusHeading(el.votedTitle);
  return true;
}

/* ------------------------------------------------------------------ ballot */

function renderBallot() {
  const previous = selectedCandidateKey() ?? state.pendingId;

  const items = state.candidates.map((c, index) => {
    const key = String(c.id);
    const inputId = `candidate-${index}`;
    const nameId = `${inputId}-name`;
    const descId = `${inputId}-desc`;
    const input = h('input', {
      type: 'radio',
      name: 'candidate',
      id: inputId,
      value: key,
      'aria-labelledby': nameId,
      'aria-describedby': c.description ? descId : null,
    });
    if (key === previous) input.checked = true;
    const label = h(
      'label',
      { for: inputId, className: 'candidate-card' },
      h(
        'span',
        { id: nameId, className: 'candidate-heading' },
        h('span', { className: 'candidate-name', text: c.name }),
        c.party ? h('span', { className: 'candidate-party', text: c.party }) : null,
      ),
      c.description ? h('span', { id: descId, className: 'candidate-description', text: c.description }) : null,
    );
    return h('li', { className: 'candidate', dataset: { candidateId: key } }, input, label);
  });

  el.candidateList.replaceChildren(...items);
  const empty = state.candidates.length === 0;
  show(el.ballotEmpty, empty);
  el.ballotSubmit.disabled = empty;
}

function showBallot({ focus = false } = {}) {
  renderBallot();
  showView('ballot');
  if (focus) focusHeading(el.ballotTitle);
}

function selectedCandidateKey() {
  const checked = el.candidateList.querySelector('input[name="candidate"]:checked');
  return checked ? checked.value : null;
}

function onBallotSubmit(event) {
  event.preventDefault();
  setStatus('');
  const key = selectedCandidateKey();
  if (!key) {
    setError(el.voteError, 'Please choose a candidate first.');
    const first = el.candidateList.querySelector('input[name="candidate"]');
    if (first) first.focus();
    return;
  }
  const candidate = state.candidatesById.get(key);
  if (!candidate) {
    setError(el.voteError, 'That candidate is no longer on the ballot. Please choose again.');
    return;
  }
  setError(el.voteError, '');
  // A new review of a (possibly different) choice is a new vote attempt: new key.
  if (state.pendingId !== key || !state.pendingKey) {
    state.pendingId = key;
    state.pendingKey = newIdempotencyKey();
  }
  el.confirmText.replaceChildren(
    'Cast your vote for ',
    h('strong', { text: candidateLabel(candidate) }),
    '? This cannot be changed.',
  );
  showView('confirm');
  focusHeading(el.confirmTitle);
}

function onConfirmBack() {
  if (state.busy) return;
  setStatus('');
  const key = state.pendingId;
  state.pendingId = null;
  state.pendingKey = null;
  setError(el.voteError, '');
  showView('ballot');
  const input = key ? el.candidateList.querySelector(`input[value="${CSS.escape(key)}"]`) : null;
  (input || el.ballotTitle).focus();
}

async function onConfirmVote() {
  if (state.busy || !state.session) return;
  setStatus('');
  const candidate = state.candidatesById.get(state.pendingId ?? '');
  if (!candidate) {
    onConfirmBack();
    return;
  }
  if (!state.pendingKey) state.pendingKey = newIdempotencyKey();

  state.busy = true;
  setBusy(el.confirmVote, true, 'Submitting your vote…');
  el.confirmBack.disabled = true;
  setError(el.voteError, '');
  try {
    const { data } = await api.castVote(state.session.token, candidate.id, state.pendingKey);
    state.pendingId = null;
    state.pendingKey = null;
    state.myVote = data && data.candidate_id !== undefined ? data : { candidate_id: candidate.id, created_at: new Date().toISOString() };
    renderVoted();
    showView('voted');
    renderResultsHighlight();
    focusHeading(el.votedTitle);
    setStatus(`Your vote for ${candidate.name} has been recorded.`);
    refreshResults();
  } catch (err) {
    await handleVoteFailure(err);
  } finally {
    state.busy = false;
    setBusy(el.confirmVote, false);
    el.confirmBack.disabled = false;
  }
}

async function handleVoteFailure(err) {
  if (handleSessionError(err)) return;
  if (!(err instanceof ApiError)) {
    console.error(err);
    setError(el.voteError, UNAVAILABLE_MESSAGE);
    return;
  }
  switch (err.code) {
    case 'already_voted': {
      state.pendingId = null;
      state.pendingKey = null;
      try {
        const shown = await showMyVote({ focus: true });
        if (!shown) showBallot({ focus: true });
      } catch (inner) {
        if (handleSessionError(inner)) return;
        showLoadFailed(inner, true);
      }
      setError(el.voteError, err.message);
      return;
    }
    case 'candidate_not_found': {
      state.pendingId = null;
      state.pendingKey = null;
      try {
        await loadCandidates();
      } catch {
        // keep the old list; the error below still applies
      }
      showBallot({ focus: true });
      setError(el.voteError, err.message);
      return;
    }
    case 'idempotency_key_reused':
      // Start a fresh attempt; the user can press Confirm again.
      state.pendingKey = newIdempotencyKey();
      setError(el.voteError, err.message);
      return;
    default:
      // Network errors and 5xx: keep the same Idempotency-Key so that pressing
      // Confirm again cannot record a second vote if the first one got through.
      if (!err.retryable) state.pendingKey = newIdempotencyKey();
      setError(el.voteError, err.retryable ? `${UNAVAILABLE_MESSAGE} Your vote has not been confirmed yet; press “Confirm my vote” to try again.` : err.message);
      el.confirmVote.focus();
  }
}

function renderVoted() {
  const vote = state.myVote;
  if (!vote) return;
  const candidate = state.candidatesById.get(String(vote.candidate_id));
  const when = h('time', { datetime: vote.created_at, text: formatDateTime(vote.created_at) });
  if (candidate) {
    el.votedText.replaceChildren('You voted for ', h('strong', { text: candidateLabel(candidate) }), ' on ', when, '.');
  } else {
    el.votedText.replaceChildren('You voted on ', when, '.');
  }
}

/* ------------------------------------------------------------------ live results */

let resultsInFlight = false;
let resultsTimer = 0;
/** @type {Map<string, HTMLElement>} */
const resultRows = new Map();

function buildResultRow(key) {
  const name = h('span', { className: 'result-name' });
  const party = h('span', { className: 'result-party' });
  const badge = h('span', { className: 'result-mine', text: 'Your vote', hidden: true });
  const votes = h('span', { className: 'result-votes' });
  const votesUnit = h('span', { className: 'result-votes-unit' });
  const percent = h('span', { className: 'result-percent' });
  const fill = h('span', { className: 'result-bar-fill' });
  const bar = h('span', { className: 'result-bar', 'aria-hidden': 'true' }, fill);
  const row = h(
    'li',
    { className: 'result-row', dataset: { candidateId: key } },
    h('span', { className: 'result-label' }, name, party, badge),
    h('span', { className: 'result-figures' }, votes, votesUnit, h('span', { className: 'result-sep', 'aria-hidden': 'true', text: ' · ' }), percent),
    bar,
  );
  row._parts = { name, party, badge, votes, votesUnit, percent, fill };
  return row;
}

function renderResults(data) {
  const list = Array.isArray(data?.results) ? data.results : [];
  const sum = list.reduce((acc, r) => acc + (Number(r.votes) || 0), 0);
  const total = Number.isFinite(Number(data?.total_votes)) ? Number(data.total_votes) : sum;

  el.resultsTotal.textContent = `${numberFormat.format(total)} ${total === 1 ? 'vote' : 'votes'} cast`;
  show(el.resultsEmpty, list.length === 0);

  const seen = new Set();
  const rows = list.map((r) => {
    const key = String(r.candidate_id);
    seen.add(key);
    let row = resultRows.get(key);
    if (!row) {
      row = buildResultRow(key);
      resultRows.set(key, row);
    }
    const votes = Number(r.votes) || 0;
    const pct = total > 0 ? (votes / total) * 100 : 0;
    const p = row._parts;
    p.name.textContent = typeof r.name === 'string' ? r.name : '';
    p.party.textContent = r.party || '';
    show(p.party, Boolean(r.party));
    p.votes.textContent = numberFormat.format(votes);
    p.votesUnit.textContent = votes === 1 ? ' vote' : ' votes';
    p.percent.textContent = `${percentFormat.format(pct)}%`;
    // CSSOM property (allowed by the CSP, unlike a style="" attribute).
    p.fill.style.setProperty('width', `${Math.min(100, Math.max(0, pct)).toFixed(2)}%`);
    return row;
  });
  for (const key of [...resultRows.keys()]) {
    if (!seen.has(key)) resultRows.delete(key);
  }
  // Only touch the DOM order when it changed, so focus/selection is not disturbed.
  const current = [...el.resultsList.children];
  if (current.length !== rows.length || rows.some((row, i) => current[i] !== row)) {
    el.resultsList.replaceChildren(...rows);
  }
  renderResultsHighlight();
}

function renderResultsHighlight() {
  const mine = state.myVote ? String(state.myVote.candidate_id) : null;
  for (const [key, row] of resultRows) {
    const isMine = key === mine;
    row.classList.toggle('is-mine', isMine);
    show(row._parts.badge, isMine);
  }
}

async function refreshResults() {
  if (resultsInFlight) return;
  resultsInFlight = true;
  try {
    const { data } = await api.results();
    renderResults(data);
    setError(el.resultsError, '');
    el.resultsUpdated.textContent = `Last updated ${timeFormat.format(new Date())}.`;
  } catch (err) {
    const hadData = el.resultsList.children.length > 0;
    setError(
      el.resultsError,
      hadData
        ? 'Live results are temporarily unavailable. Showing the last known figures; retrying…'
        : 'Live results are temporarily unavailable. Retrying…',
    );
    if (!hadData) el.resultsTotal.textContent = '';
    if (!(err instanceof ApiError)) console.error(err);
  } finally {
    resultsInFlight = false;
  }
}

function startResultsPolling() {
  window.clearInterval(resultsTimer);
  refreshResults();
  resultsTimer = window.setInterval(() => {
    if (document.visibilityState === 'visible') refreshResults();
  }, RESULTS_INTERVAL_MS);
}

/* ------------------------------------------------------------------ wiring */

function init() {
  el.loginForm.addEventListener('submit', onLoginSubmit);
  el.registerForm.addEventListener('submit', onRegisterSubmit);
  el.showRegister.addEventListener('click', () => showRegister());
  el.showLogin.addEventListener('click', () => showLogin());
  el.logout.addEventListener('click', logOut);
  el.ballotForm.addEventListener('submit', onBallotSubmit);
  el.candidateList.addEventListener('change', () => setError(el.voteError, ''));
  el.confirmVote.addEventListener('click', onConfirmVote);
  el.confirmBack.addEventListener('click', onConfirmBack);
  el.retry.addEventListener('click', () => enterApp({ focus: true }));
  for (const input of [el.loginEmail, el.loginPassword, el.registerEmail, el.registerPassword]) {
    input.addEventListener('input', () => markInvalid(input, false));
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible') return;
    refreshResults();
    if (state.session && isExpired(state.session)) expireSession();
  });

  startResultsPolling();

  const stored = readStoredSession();
  if (!stored) {
    showLogin({ focus: false });
    return;
  }
  if (isExpired(stored)) {
    storeSession(null);
    showLogin({ error: SESSION_EXPIRED, email: stored.email ?? '', focus: false });
    return;
  }
  setSession(stored);
  enterApp({ focus: false });
}

init();

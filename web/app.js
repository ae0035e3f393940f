// securevote UI entry: language, session, navigation between pages, and the quick-vote page of
// the default election. The election portal (portal.js) and the admin console (admin.js) render
// into #view. Plain ES modules, no framework, no build step.
// All DOM is built with textContent / createElement: server data never goes through innerHTML.

import { initI18n, t, applyStatic, LANGUAGES, currentLanguage, rememberLanguage, formatNumber, formatPercent, formatDateTime, formatTime } from './i18n.js';
import { api, ApiError, newIdempotencyKey, unavailableMessage } from './api.js';
import { h, $, show, setError, markInvalid, setBusy, fill } from './dom.js';
import * as sess from './session.js';

await initI18n();
applyStatic();

const RESULTS_INTERVAL_MS = 5000;

const el = {
  main: $('main'),
  pageTitle: $('page-title'),
  layout: $('layout'),
  view: $('view'),
  navAdmin: $('nav-admin'),
  langSelect: $('lang-select'),
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
  busy: false,
};

/* ------------------------------------------------------------------ helpers */

function candidateLabel(c) {
  return c.party ? `${c.name} (${c.party})` : c.name;
}

function setStatus(message) {
  el.status.textContent = message || '';
}

function focusHeading(node) {
  if (node && typeof node.focus === 'function') node.focus({ preventScroll: false });
}

function currentSession() {
  return sess.session();
}

function setSession(session) {
  sess.setSession(session);
}

/* ------------------------------------------------------------------ views */

/**
 * Show exactly one of the main views.
 * @param {'loading'|'auth'|'ballot'|'confirm'|'voted'|'load-failed'} view
 */
function showView(view) {
  const loggedIn = view !== 'auth' && Boolean(currentSession());
  show(el.auth, view === 'auth');
  show(el.voting, loggedIn);
  show(el.loading, view === 'loading');
  show(el.ballot, view === 'ballot');
  show(el.confirm, view === 'confirm');
  show(el.voted, view === 'voted');
  show(el.loadFailed, view === 'load-failed');

  const email = currentSession()?.email;
  show(el.session, loggedIn);
  show(el.logout, loggedIn);
  el.whoami.textContent = loggedIn && email ? email : '';
  document.body.dataset.view = view;
}

function showLogin({ error = '', email, focus = true } = {}) {
  showView('auth');
  show(el.layout, true);
  show(el.view, false);
  el.authTitle.textContent = t('auth.login_title');
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
  show(el.layout, true);
  show(el.view, false);
  el.authTitle.textContent = t('auth.register_title');
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
  if (!email) return { input: emailInput, message: t('auth.enter_email') };
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) return { input: emailInput, message: t('error.invalid_email') };
  if (!password) return { input: passwordInput, message: t('auth.enter_password') };
  if (checkLength) {
    const length = [...password].length;
    if (length < 8 || length > 128) return { input: passwordInput, message: t('error.invalid_password') };
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
  if (!data || typeof data.token !== 'string') throw new ApiError('unavailable', 500, unavailableMessage());
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
  setBusy(el.loginSubmit, true, t('auth.logging_in'));
  setError(el.authError, '');
  try {
    await logIn(email, el.loginPassword.value);
    el.loginPassword.value = '';
    setStatus(t('auth.logged_in_as', { email }));
    await afterLogin();
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
  setBusy(el.registerSubmit, true, t('auth.creating_account'));
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
    setStatus(t('auth.account_created_logged_in', { email }));
    await afterLogin();
  } catch (err) {
    el.registerPassword.value = '';
    showLogin({ email, error: t('auth.created_not_logged_in', { reason: err.message }) });
    setStatus(t('auth.account_created'));
  } finally {
    state.busy = false;
    setBusy(el.registerSubmit, false);
  }
}

function handleAuthFailure(err, emailInput, passwordInput) {
  const message = err instanceof ApiError ? err.message : unavailableMessage();
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
  const token = sess.token();
  // Ends the session on the server too (every instance refuses the token from now on). The
  // page logs out whatever the answer: an unreachable server must not keep the voter in.
  if (token) api.logout(token).catch(() => {});
  resetVotingState();
  setSession(null);
  setError(el.voteError, '');
  el.loginEmail.value = '';
  updateNav();
  if (currentRoute().name === 'home') {
    showLogin({ focus: false });
    focusHeading(el.authTitle);
  } else {
    renderRoute({ focus: true });
  }
  setStatus(t('auth.logged_out'));
}

function expireSession() {
  const email = currentSession()?.email ?? '';
  resetVotingState();
  setSession(null);
  setError(el.voteError, '');
  // A "Logged in as …" / "Your vote … has been recorded" line would contradict the login form.
  setStatus('');
  showLogin({ error: t('error.session_expired'), email, focus: true });
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
  if (!currentSession()) return;
  showView('loading');
  setError(el.voteError, '');
  try {
    const [{ data: me }] = await Promise.all([api.me(currentSession().token), loadCandidates()]);
    if (me && typeof me.email === 'string' && me.email !== currentSession().email) {
      setSession({ ...currentSession(), email: me.email });
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
  setError(el.voteError, err instanceof ApiError ? err.message : unavailableMessage());
  if (!(err instanceof ApiError)) console.error(err);
  if (focus) focusHeading(el.loadFailedTitle);
}

/* The server stores ballots without their voters, so it can say when the voter voted but not how:
 * this browser remembers the voter's own choice (per account, on this device only) to show it. */
const CHOICE_KEY = 'securevote.myChoice:';

function rememberChoice(candidateId) {
  try {
    window.localStorage.setItem(CHOICE_KEY + (currentSession()?.email || ''), String(candidateId));
  } catch { /* storage unavailable: the vote is still shown without its name */ }
}

function rememberedChoice() {
  try {
    return window.localStorage.getItem(CHOICE_KEY + (currentSession()?.email || ''));
  } catch {
    return null;
  }
}

/** Fetch the voter's recorded vote and show it. Returns false if the server says there is none. */
async function showMyVote({ focus = false } = {}) {
  try {
    const { data } = await api.myVote(currentSession().token);
    state.myVote = data && data.candidate_id == null ? { ...data, candidate_id: rememberedChoice() } : data;
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
    setError(el.voteError, t('home.choose_first'));
    const first = el.candidateList.querySelector('input[name="candidate"]');
    if (first) first.focus();
    return;
  }
  const candidate = state.candidatesById.get(key);
  if (!candidate) {
    setError(el.voteError, t('error.candidate_not_found'));
    return;
  }
  setError(el.voteError, '');
  // A new review of a (possibly different) choice is a new vote attempt: new key.
  if (state.pendingId !== key || !state.pendingKey) {
    state.pendingId = key;
    state.pendingKey = newIdempotencyKey();
  }
  el.confirmText.replaceChildren(...fill(t('home.confirm_text'), { name: h('strong', { text: candidateLabel(candidate) }) }));
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
  if (state.busy || !currentSession()) return;
  setStatus('');
  const candidate = state.candidatesById.get(state.pendingId ?? '');
  if (!candidate) {
    onConfirmBack();
    return;
  }
  if (!state.pendingKey) state.pendingKey = newIdempotencyKey();

  state.busy = true;
  setBusy(el.confirmVote, true, t('home.submitting'));
  el.confirmBack.disabled = true;
  setError(el.voteError, '');
  try {
    const { data } = await api.castVote(currentSession().token, candidate.id, state.pendingKey);
    state.pendingId = null;
    state.pendingKey = null;
    state.myVote = data && data.candidate_id !== undefined ? data : { candidate_id: candidate.id, created_at: new Date().toISOString() };
    rememberChoice(candidate.id);
    renderVoted();
    showView('voted');
    renderResultsHighlight();
    focusHeading(el.votedTitle);
    setStatus(t('home.vote_recorded', { name: candidate.name }));
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
    setError(el.voteError, unavailableMessage());
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
      setError(el.voteError, err.retryable ? t('home.not_confirmed_retry') : err.message);
      el.confirmVote.focus();
  }
}

function renderVoted() {
  const vote = state.myVote;
  if (!vote) return;
  const candidate = state.candidatesById.get(String(vote.candidate_id));
  const when = h('time', { datetime: vote.created_at, text: formatDateTime(vote.created_at) });
  if (candidate) {
    el.votedText.replaceChildren(...fill(t('home.voted_for'), { name: h('strong', { text: candidateLabel(candidate) }), when }));
  } else {
    el.votedText.replaceChildren(...fill(t('home.voted_on'), { when }));
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
  const badge = h('span', { className: 'result-mine', text: t('home.your_vote'), hidden: true });
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

  el.resultsTotal.textContent = t('home.votes_cast', { n: total });
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
    p.votes.textContent = formatNumber(votes);
    p.votesUnit.textContent = ` ${t('home.votes_unit', { n: votes })}`;
    p.percent.textContent = formatPercent(pct / 100);
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
    el.resultsUpdated.textContent = t('home.last_updated', { time: formatTime(new Date()) });
  } catch (err) {
    const hadData = el.resultsList.children.length > 0;
    setError(
      el.resultsError,
      hadData
        ? t('home.results_stale')
        : t('home.results_unavailable'),
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

/* ------------------------------------------------------------------ pages */

const ROUTES = [
  { name: 'home', pattern: /^\/$/ },
  { name: 'elections', pattern: /^\/elections\/?$/, module: 'portal' },
  { name: 'election', pattern: /^\/elections\/([^/]+)\/?$/, module: 'portal' },
  { name: 'results', pattern: /^\/elections\/([^/]+)\/results\/?$/, module: 'portal' },
  { name: 'check', pattern: /^\/elections\/([^/]+)\/check\/?$/, module: 'portal' },
  { name: 'admin', pattern: /^\/admin\/?$/, module: 'admin', login: true },
  { name: 'admin-new', pattern: /^\/admin\/elections\/new\/?$/, module: 'admin', login: true },
  { name: 'admin-election', pattern: /^\/admin\/elections\/([^/]+)\/?$/, module: 'admin', login: true },
  { name: 'admin-edit', pattern: /^\/admin\/elections\/([^/]+)\/edit\/?$/, module: 'admin', login: true },
  { name: 'admin-audit', pattern: /^\/admin\/audit\/?$/, module: 'admin', login: true },
  { name: 'admin-roll', pattern: /^\/admin\/elections\/([^/]+)\/roll\/?$/, module: 'admin', login: true },
  { name: 'request-link', pattern: /^\/link\/?$/, module: 'portal' },
];

/** An invitation link: `<any path>#/magic/<token>` (the token never goes to the server in a URL). */
const MAGIC_HASH = /^#\/magic\/([0-9A-Za-z_-]{16,256})\/?$/;

function currentRoute() {
  const magic = MAGIC_HASH.exec(window.location.hash);
  if (magic) return { name: 'magic', module: 'portal', params: [magic[1]] };
  const path = window.location.pathname;
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match) return { ...route, params: match.slice(1).map(decodeURIComponent) };
  }
  return { name: 'not-found', params: [] };
}

const modules = {
  portal: () => import('./portal.js'),
  admin: () => import('./admin.js'),
};

function setTitle(text) {
  el.pageTitle.textContent = text;
  document.title = text === 'securevote' ? text : `${text} · securevote`;
}

function navigate(path, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  renderRoute({ focus: true });
}

async function updateNav() {
  const name = currentRoute().name;
  for (const link of document.querySelectorAll('#site-nav a[data-route]')) {
    const route = link.dataset.route;
    const current = route === name || (route === 'elections' && (name === 'election' || name === 'results')) || (route === 'admin' && name.startsWith('admin'));
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  let admin = false;
  try {
    admin = await sess.isAdmin();
  } catch {
    admin = false;
  }
  show(el.navAdmin, admin);
}

/** What portal and console pages use of the shell. */
const shell = {
  view: el.view,
  setTitle,
  setStatus,
  navigate,
  token: () => sess.token(),
  email: () => currentSession()?.email ?? null,
  isAdmin: () => sess.isAdmin(),
  /** Shows the login form; after logging in the same page is shown again. */
  requireLogin() {
    showLogin({ focus: true });
  },
  /** True (and the login form is shown) when the error means the session is over. */
  handleSessionError: (err) => handleSessionError(err),
  /** Signs in with a token from an invitation link (valid for one election only). */
  signIn({ token, expiresIn, email = null }) {
    resetVotingState();
    setSession({ token, expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null, email });
    updateNav();
  },
  /** Updates the address shown for the signed-in voter. */
  setEmail(email) {
    if (currentSession() && email) setSession({ ...currentSession(), email });
  },
  focusTitle() {
    el.pageTitle.focus({ preventScroll: false });
  },
};

let renderCount = 0;

async function renderRoute({ focus = false } = {}) {
  const route = currentRoute();
  const mine = ++renderCount;
  document.body.dataset.route = route.name;
  updateNav();
  setError(el.voteError, '');
  const home = route.name === 'home';
  for (const node of document.querySelectorAll('.home-only')) show(node, home);
  if (home) {
    setTitle(t('home.title'));
    show(el.view, false);
    show(el.layout, true);
    startResultsPolling();
    if (!currentSession()) showLogin({ focus: false });
    else await enterApp({ focus });
    if (focus && !currentSession()) el.pageTitle.focus();
    return;
  }
  stopResultsPolling();
  if (route.name === 'not-found') {
    setTitle(t('page.not_found_title'));
    show(el.layout, false);
    el.view.replaceChildren(h('p', { className: 'card', text: t('page.not_found_text') }));
    show(el.view, true);
    return;
  }
  if (route.login && !currentSession()) {
    setTitle(t('auth.login_title'));
    showLogin({ focus });
    return;
  }
  show(el.layout, false);
  showView('page');
  el.view.replaceChildren(h('p', { className: 'muted', text: t('common.loading') }));
  show(el.view, true);
  try {
    const module = await modules[route.module]();
    if (mine !== renderCount) return;
    await module.render(route, shell);
  } catch (err) {
    if (handleSessionError(err)) return;
    if (!(err instanceof ApiError)) console.error(err);
    el.view.replaceChildren(
      h('p', { className: 'notice notice-error', role: 'alert', text: err instanceof ApiError ? err.message : unavailableMessage() }),
    );
  }
  if (focus && mine === renderCount) el.pageTitle.focus({ preventScroll: false });
}

async function afterLogin() {
  if (currentRoute().name === 'home') await enterApp({ focus: true });
  else await renderRoute({ focus: true });
}

function stopResultsPolling() {
  window.clearInterval(resultsTimer);
  resultsTimer = 0;
}

function setUpLanguageSwitch() {
  const current = currentLanguage();
  el.langSelect.replaceChildren(
    ...LANGUAGES.map((l) => h('option', { value: l.code, lang: l.code, selected: l.code === current }, l.name)),
  );
  el.langSelect.addEventListener('change', () => {
    rememberLanguage(el.langSelect.value);
    // Everything on the page, including what the server sent, is shown again in the new language.
    window.location.reload();
  });
}

function init() {
  setUpLanguageSwitch();
  sess.setExpiryHandler(expireSession);
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('a[data-link]') : null;
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', () => renderRoute({ focus: true }));
  // An invitation link opened in a tab that already shows the app changes only the fragment.
  window.addEventListener('hashchange', () => {
    if (MAGIC_HASH.test(window.location.hash)) renderRoute({ focus: true });
  });
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
    if (resultsTimer) refreshResults();
    if (currentSession() && sess.isExpired(currentSession())) expireSession();
  });

  const stored = sess.readStoredSession();
  let expired = false;
  if (stored && sess.isExpired(stored)) {
    sess.storeSession(null);
    expired = true;
  } else if (stored) {
    setSession(stored);
  }
  renderRoute({ focus: false }).then(() => {
    if (expired) showLogin({ error: t('error.session_expired'), email: stored.email ?? '', focus: false });
  });
}

init();

// Encrypted, end-to-end verifiable elections in the browser (docs/election-record.md): the
// voter's ballot is encrypted here with web/crypto before it is sent, a ballot can be audited
// (Benaloh challenge) instead of cast, and a tracker can be looked up on the public board (the
// console's side is web/trustees.js). The crypto module is loaded only when a ballot is
// encrypted.

import { api, request, ApiError, unavailableMessage } from './api.js';
import { h, put, setError, setBusy } from './dom.js';
import { t } from './i18n.js';

const enc = encodeURIComponent;
const BOARD_PAGE = 1000;

export const isEncrypted = (election) => Boolean(election?.encryption);

let cryptoModule = null;
async function loadCrypto() {
  if (!cryptoModule) {
    const [lib, hashes] = await Promise.all([import('./crypto/securevote-crypto.js'), import('./crypto/vendor/noble-hashes-2.4.0/sha2.js')]);
    cryptoModule = { ...lib, sha256: hashes.sha256 };
  }
  return cryptoModule;
}

/* ------------------------------------------------------------------ board */

/** Every line of the election's board, parsed: `[{ seq, hash, event }]`, and the head. */
export async function readBoard(electionId) {
  const lines = [];
  let after = null;
  let head = null;
  let complete = false;
  for (;;) {
    const query = `limit=${BOARD_PAGE}${after === null ? '' : `&after=${after}`}`;
    const { data } = await request(`/api/elections/${enc(electionId)}/board?${query}`);
    head = data.head;
    complete = Boolean(data.complete);
    for (const line of data.lines || []) lines.push({ seq: line.seq, hash: line.hash, event: JSON.parse(line.line) });
    if (!data.lines?.length || !head || lines[lines.length - 1].seq >= head.seq) break;
    after = lines[lines.length - 1].seq;
  }
  return { lines, head, complete };
}

/** "Board head hash: …" with a short explanation, for the election and results pages. */
export function boardHeadNode(election, { checkLink = true } = {}) {
  if (!isEncrypted(election) || !election.board_head) return null;
  return h(
    'div',
    { className: 'board-head', id: 'board-head' },
    h('p', {}, h('span', { className: 'receipt-label', text: t('enc.head_label') }), ' ', h('code', { id: 'board-head-hash', className: 'hash', text: election.board_head })),
    h('p', { className: 'muted', text: t('enc.head_hint') }),
    checkLink ? h('p', {}, h('a', { href: `/elections/${election.slug}/check`, 'data-link': true, id: 'check-link', text: t('enc.check_link') })) : null,
  );
}

/* ------------------------------------------------------------------ ballot encryption */

/** The context a ballot is encrypted in, built from the voter's pseudonym and the board's setup line. */
export async function voterContext(election, token) {
  const crypto = await loadCrypto();
  const { data } = await api.pseudonym(token, election.id);
  const line = String(data.setup || '');
  const electionHash = crypto.toHex(crypto.sha256(new TextEncoder().encode(line)));
  if (electionHash !== data.election_hash) throw new Error(t('enc.error_setup'));
  const setup = JSON.parse(line);
  if (setup.type !== 'setup' || !Array.isArray(setup.roll) || !setup.roll.includes(data.pseudonym)) throw new Error(t('enc.error_setup'));
  const contests = setup.election.contests;
  if (contests.length !== election.contests.length) throw new Error(t('enc.error_setup'));
  const ctx = crypto.electionContext({ electionHash, publicKey: setup.public_key, contests });
  return { crypto, ctx, contests, pseudonym: data.pseudonym };
}

/** The values per contest and choice (by position) that the voter's selections stand for. */
export function valuesOf(election, selections) {
  return election.contests.map((contest) => {
    const picked = selections[contest.id];
    return contest.choices.map((choice) => {
      if (Array.isArray(picked)) return picked.includes(choice.id) ? 1 : 0;
      if (picked && typeof picked === 'object' && picked.scores) return Number(picked.scores[choice.id] ?? 0);
      return 0;
    });
  });
}

/** Encrypts the values; the time it took in milliseconds is in `ms`. */
export async function encryptValues(voter, values) {
  const started = performance.now();
  const { ballot, reveal, tracker } = voter.crypto.encryptBallot(voter.ctx, voter.pseudonym, values);
  return { ballot, reveal, tracker, ms: Math.round(performance.now() - started) };
}

/** Plain words for the values of one contest of the record (§2). */
export function valueWords(election, ci, values) {
  const contest = election.contests[ci];
  const name = (j) => (contest.choices[j].party ? `${contest.choices[j].name} (${contest.choices[j].party})` : contest.choices[j].name);
  if (contest.method === 'score' || contest.method === 'star') {
    return values.map((v, j) => t('review.score_item', { name: name(j), score: v, max: contest.max_score ?? 0 }));
  }
  return values.flatMap((v, j) => (v ? [name(j)] : []));
}

/**
 * The audit (Benaloh challenge) of one encrypted ballot: the tracker first, then on request the
 * reveal checked with verifyReveal and what the ballot contains next to what the voter chose.
 * `publish` puts the opened ballot on the public board as `spoiled` (so anyone can check the
 * audit there); `onDone` is called when the voter goes back to the ballot.
 */
export function auditCard(election, voter, encrypted, values, onDone, publish) {
  const heading = h('h2', { id: 'audit-heading', tabindex: '-1', text: t('enc.audit_title') });
  const result = h('div', { id: 'audit-result', 'aria-live': 'polite' });
  const revealButton = h('button', { type: 'button', id: 'audit-reveal', className: 'button button-primary', text: t('enc.audit_reveal') });
  const backButton = h('button', { type: 'button', id: 'audit-back', className: 'button button-secondary', text: t('enc.audit_back') });
  const card = h(
    'section',
    { className: 'card card-emphasis', id: 'audit-card', 'aria-labelledby': 'audit-heading' },
    heading,
    h('p', { text: t('enc.audit_intro') }),
    h('p', { className: 'receipt' }, h('span', { className: 'receipt-label', text: t('enc.tracker_label') }), ' ', h('code', { id: 'audit-tracker', text: encrypted.tracker.display })),
    h('p', { className: 'muted', text: t('enc.audit_spoiled') }),
    h('div', { className: 'actions' }, revealButton, backButton),
    result,
  );
  revealButton.addEventListener('click', () => {
    let decoded;
    try {
      decoded = voter.crypto.verifyReveal(voter.ctx, encrypted.ballot, encrypted.reveal);
    } catch (err) {
      put(result, h('p', { className: 'notice notice-error', role: 'alert', id: 'audit-failed', text: t('enc.audit_failed', { detail: err.message }) }));
      return;
    }
    const same = decoded.every((v, ci) => v.length === values[ci].length && v.every((x, j) => x === values[ci][j]));
    const words = (list) => (list.length ? h('ul', { className: 'plain-list' }, list.map((w) => h('li', { text: w }))) : t('review.blank'));
    const rows = election.contests.map((contest, ci) =>
      h(
        'tr',
        { dataset: { contest: String(ci) } },
        h('th', { scope: 'row', text: contest.title }),
        h('td', { dataset: { chosen: 'true' } }, words(valueWords(election, ci, values[ci]))),
        h('td', { dataset: { decrypted: 'true' } }, words(valueWords(election, ci, decoded[ci]))),
      ),
    );
    put(
      result,
      h('p', { className: same ? 'notice notice-success' : 'notice notice-error', id: 'audit-verdict', role: same ? 'status' : 'alert', text: t(same ? 'enc.audit_match' : 'enc.audit_mismatch') }),
      h(
        'div',
        { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('enc.audit_title') },
        h(
          'table',
          { className: 'data-table', id: 'audit-ballot-table' },
          h('caption', { text: t('enc.audit_caption', { tracker: encrypted.tracker.display }) }),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t('enc.audit_contest') }), h('th', { scope: 'col', text: t('enc.audit_chosen') }), h('th', { scope: 'col', text: t('enc.audit_contains') }))),
          h('tbody', {}, rows),
        ),
      ),
      h('details', { className: 'audit-reveal' }, h('summary', { text: t('enc.audit_data') }), h('pre', { id: 'audit-reveal-json', tabindex: '0', text: JSON.stringify(encrypted.reveal, null, 1) })),
    );
    revealButton.hidden = true;
    backButton.focus();
    const posted = h('p', { className: 'muted', id: 'audit-posted', 'aria-live': 'polite', text: t('enc.audit_posting') });
    result.append(posted);
    publish()
      .then(({ data }) => {
        posted.textContent = t('enc.audit_posted', { seq: data.seq });
        posted.dataset.posted = 'true';
      })
      .catch((err) => {
        posted.textContent = t('enc.audit_not_posted', { detail: err?.message || '' });
        posted.dataset.posted = 'false';
      });
  });
  backButton.addEventListener('click', onDone);
  return card;
}

/* ------------------------------------------------------------------ check my ballot */

/** What the board says of a tracker: 'counted', 'latest' (open), 'superseded', 'spoiled' or null. */
export function trackerStatus(board, tracker) {
  const wanted = tracker.trim().toUpperCase();
  let found = null;
  let superseded = false;
  let closed = false;
  for (const { seq, event } of board.lines) {
    if ((event.type === 'ballot' || event.type === 'spoiled') && event.tracker === wanted) found = { seq, type: event.type };
    if (event.type === 'ballot' && event.supersedes === wanted) superseded = true;
    if (event.type === 'close') closed = true;
  }
  if (!found) return null;
  if (found.type === 'spoiled') return { ...found, status: 'spoiled' };
  if (superseded) return { ...found, status: 'superseded' };
  return { ...found, status: closed ? 'counted' : 'latest' };
}

export async function renderCheck(slug, shell) {
  const { data: election } = await api.election(slug, shell.token());
  shell.setTitle(t('enc.check_title', { title: election.title }));
  const back = h('p', {}, h('a', { href: `/elections/${election.slug}`, 'data-link': true, text: t('results.back_to_election') }));
  if (!isEncrypted(election)) {
    put(shell.view, h('p', { className: 'notice', id: 'check-not-encrypted', text: t('enc.check_not_encrypted') }), back);
    return;
  }
  const input = h('input', { id: 'check-tracker', name: 'tracker', type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', 'aria-describedby': 'check-tracker-hint check-error', value: new URLSearchParams(window.location.search).get('tracker') || '' });
  const error = h('p', { id: 'check-error', className: 'field-error', 'aria-live': 'polite', hidden: true });
  const submit = h('button', { type: 'submit', id: 'check-submit', className: 'button button-primary', text: t('enc.check_submit') });
  const outcome = h('div', { id: 'check-outcome', 'aria-live': 'polite' });
  const form = h(
    'form',
    { className: 'form', id: 'check-form', novalidate: true, 'aria-labelledby': 'check-heading' },
    h('div', { className: 'field' }, h('label', { for: 'check-tracker', text: t('enc.tracker_field') }), h('p', { id: 'check-tracker-hint', className: 'hint', text: t('enc.check_hint') }), input, error),
    h('div', { className: 'actions' }, submit),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const tracker = input.value.trim().toUpperCase();
    if (!/^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/.test(tracker)) {
      input.setAttribute('aria-invalid', 'true');
      setError(error, t('enc.check_invalid'));
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    setError(error, '');
    setBusy(submit, true, t('enc.check_searching'));
    try {
      const board = await readBoard(election.id);
      const found = trackerStatus(board, tracker);
      put(
        outcome,
        h(
          'section',
          { className: `card ${found && found.status !== 'superseded' ? 'card-success' : ''}`, id: 'check-result', dataset: { status: found ? found.status : 'missing' }, 'aria-labelledby': 'check-result-heading' },
          h('h2', { id: 'check-result-heading', tabindex: '-1', text: found ? t('enc.check_found', { tracker }) : t('enc.check_missing', { tracker }) }),
          h('p', { id: 'check-status', text: found ? t(`enc.status.${found.status}`, { seq: found.seq }) : t('enc.check_missing_hint') }),
          board.head ? h('p', { className: 'muted' }, t('enc.head_label'), ' ', h('code', { className: 'hash', text: board.head.hash })) : null,
        ),
      );
      outcome.querySelector('h2').focus();
    } catch (err) {
      setError(error, err instanceof ApiError ? err.message : unavailableMessage());
    } finally {
      setBusy(submit, false);
    }
  });
  put(
    shell.view,
    h('section', { className: 'card', 'aria-labelledby': 'check-heading' }, h('h2', { id: 'check-heading', tabindex: '-1', text: t('enc.check_heading') }), h('p', { text: t('enc.check_intro') }), form),
    outcome,
    back,
  );
}

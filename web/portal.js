// The election portal: the list of elections, an election's ballot with its review step and
// receipt, and the results pages.

import { api, ApiError, newIdempotencyKey, unavailableMessage } from './api.js';
import { h, put, setError, setBusy, markInvalid, newId } from './dom.js';
import { t, formatDateTime, ownTimeZone, formatNumber } from './i18n.js';
import { rankedControl } from './ranked.js';
import { resultsView, methodName } from './results-view.js';
import { isEncrypted, boardHeadNode, renderCheck, voterContext, valuesOf, encryptValues, auditCard } from './encrypted.js';

const RECEIPTS_KEY = 'securevote.receipts';

export async function render(route, shell) {
  if (route.name === 'elections') return renderList(shell);
  if (route.name === 'election') return renderElection(route.params[0], shell);
  if (route.name === 'results') return renderResults(route.params[0], shell);
  if (route.name === 'check') return renderCheck(route.params[0], shell);
  if (route.name === 'magic') return renderMagic(route.params[0], shell);
  if (route.name === 'request-link') return renderRequestLink(shell);
  return undefined;
}

/* ------------------------------------------------------------------ shared bits */

function formForMethod(method) {
  if (method === 'plurality' || method === 'approval') return 'choices';
  if (method === 'score' || method === 'star') return 'scores';
  return 'ranking';
}

function stateLabel(state) {
  return t(`state.${state}`);
}

/** A time in the election's zone, and in the visitor's when that is another zone. */
export function timeBoth(iso, zone) {
  const own = ownTimeZone();
  const main = h('time', { datetime: iso, text: formatDateTime(iso, zone) });
  if (!zone || zone === own) return [main];
  return [main, ' ', h('span', { className: 'muted', text: t('time.yours', { time: formatDateTime(iso, own) }) })];
}

function readReceipts() {
  try {
    return JSON.parse(window.sessionStorage.getItem(RECEIPTS_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

function saveReceipt(electionId, receipt) {
  try {
    const all = readReceipts();
    all[electionId] = receipt;
    window.sessionStorage.setItem(RECEIPTS_KEY, JSON.stringify(all));
  } catch {
    // storage unavailable: the receipt is shown once
  }
}

async function votedIn(shell) {
  const token = shell.token();
  if (!token) return null;
  const { data } = await api.me(token);
  const voted = new Map();
  for (const e of data?.elections || []) voted.set(e.election_id, Boolean(e.has_voted));
  // Encrypted elections take a new ballot from a voter who has voted (the last one counts).
  voted.encrypted = new Set((data?.elections || []).filter((e) => e.encrypted).map((e) => e.election_id));
  return voted;
}

function choiceLabel(c) {
  return c.party ? `${c.name} (${c.party})` : c.name;
}

/* ------------------------------------------------------------------ list */

async function renderList(shell) {
  shell.setTitle(t('list.title'));
  const [{ data }, voted] = await Promise.all([api.elections(shell.token()), votedIn(shell)]);
  const all = (Array.isArray(data) ? data : []).filter((e) => e.state !== 'draft' && e.state !== 'archived');
  const time = (e, key) => (e[key] ? Date.parse(e[key]) : Infinity);
  const open = all.filter((e) => e.state === 'open').sort((a, b) => time(a, 'closes_at') - time(b, 'closes_at'));
  const scheduled = all.filter((e) => e.state === 'scheduled').sort((a, b) => time(a, 'opens_at') - time(b, 'opens_at'));
  const past = all
    .filter((e) => e.state === 'closed' || e.state === 'published')
    .sort((a, b) => (Date.parse(b.closes_at || b.created_at) || 0) - (Date.parse(a.closes_at || a.created_at) || 0));

  const item = (e) => {
    const hasVoted = voted?.get(e.id) === true;
    const again = hasVoted && voted.encrypted.has(e.id);
    const lines = [];
    if (e.state === 'open' && e.closes_at) lines.push(h('p', {}, t('list.closes'), ' ', ...timeBoth(e.closes_at, e.timezone)));
    if (e.state === 'scheduled') {
      lines.push(
        e.opens_at
          ? h('p', {}, t('list.opens'), ' ', ...timeBoth(e.opens_at, e.timezone))
          : h('p', { className: 'muted', text: t('list.opens_by_hand') }),
      );
    }
    if ((e.state === 'closed' || e.state === 'published') && e.closes_at) {
      lines.push(h('p', {}, t('list.closed_at'), ' ', ...timeBoth(e.closes_at, e.timezone)));
    }
    const links = [];
    if (e.state === 'open' && (!hasVoted || again)) links.push(h('a', { href: `/elections/${e.slug}`, 'data-link': true, className: `button ${again ? 'button-secondary' : 'button-primary'} button-small`, text: t(again ? 'enc.vote_again' : 'list.vote_now') }));
    if (e.state === 'closed' || e.state === 'published' || e.results === 'live') {
      links.push(h('a', { href: `/elections/${e.slug}/results`, 'data-link': true, className: 'button button-secondary button-small', text: t('list.view_results') }));
    }
    return h(
      'li',
      { className: 'card election-item', dataset: { slug: e.slug, state: e.state } },
      h('h3', { className: 'election-item-title' }, h('a', { href: `/elections/${e.slug}`, 'data-link': true, text: e.title })),
      h(
        'p',
        { className: 'badges' },
        h('span', { className: `badge badge-${e.state}`, text: stateLabel(e.state) }),
        hasVoted ? h('span', { className: 'badge badge-voted', dataset: { voted: again ? 'again' : 'true' } }, h('span', { 'aria-hidden': 'true', text: '✓ ' }), t(again ? 'list.voted_again' : 'list.voted')) : null,
      ),
      lines,
      links.length ? h('p', { className: 'actions' }, links) : null,
    );
  };

  const group = (id, title, list, emptyKey) =>
    h(
      'section',
      { className: 'election-group', 'aria-labelledby': id, id: `${id}-section` },
      h('h2', { id, text: title }),
      list.length ? h('ul', { className: 'election-list' }, list.map(item)) : h('p', { className: 'muted', text: t(emptyKey) }),
    );

  put(shell.view, 
    shell.token() ? null : h('p', { className: 'notice' }, t('list.login_hint'), ' ', h('button', { type: 'button', className: 'link-button', onclick: () => shell.requireLogin(), text: t('auth.login') })),
    group('group-open', t('list.open'), open, 'list.none_open'),
    group('group-scheduled', t('list.scheduled'), scheduled, 'list.none_scheduled'),
    group('group-past', t('list.past'), past, 'list.none_past'),
  );
}

/* ------------------------------------------------------------------ ballot */

function contestHint(contest) {
  const form = formForMethod(contest.method);
  const { min_choices: min, max_choices: max } = contest;
  const count = min === max ? t('ballot.exactly', { n: max }) : min === 0 ? t('ballot.up_to', { n: max }) : t('ballot.between', { min, max });
  if (form === 'scores') return t('ballot.score_hint', { max: contest.max_score ?? 0 });
  if (form === 'ranking') return t('ballot.rank_hint', { count });
  if (contest.method === 'approval') return t('ballot.approval_hint', { count });
  return count;
}

/** Encoders turn the voter's selections into the body of a ballot. Encrypted elections add theirs. */
const BALLOT_ENCODERS = {
  plain: async (selections) => selections,
};

function contestControl(contest, index) {
  const form = formForMethod(contest.method);
  const base = `contest-${index}`;
  const hintId = `${base}-hint`;
  const errorId = `${base}-error`;
  const describedBy = `${hintId} ${errorId}`;
  const error = h('p', { id: errorId, className: 'field-error', 'aria-live': 'polite' });
  let fieldsetNode = null;
  const clearError = () => {
    setError(error, '');
    if (fieldsetNode) fieldsetNode.classList.remove('has-error');
  };
  const hint = h('p', { id: hintId, className: 'hint', text: contestHint(contest) });
  let body;
  let value;
  let words;

  if (form === 'choices') {
    const single = contest.method === 'plurality' && contest.max_choices === 1;
    const type = single ? 'radio' : 'checkbox';
    const items = contest.choices.map((c, i) => {
      const inputId = `${base}-choice-${i}`;
      return h(
        'li',
        { className: 'candidate', dataset: { choiceId: c.id } },
        h('input', { type, name: base, id: inputId, value: c.id, 'aria-describedby': c.description ? `${inputId}-desc ${errorId}` : errorId }),
        h(
          'label',
          { for: inputId, className: 'candidate-card' },
          h('span', { className: 'candidate-heading' }, h('span', { className: 'candidate-name', text: c.name }), c.party ? h('span', { className: 'candidate-party', text: c.party }) : null),
          c.description ? h('span', { id: `${inputId}-desc`, className: 'candidate-description', text: c.description }) : null,
        ),
      );
    });
    body = h('ul', { className: 'candidate-list' }, items);
    value = () => [...body.querySelectorAll('input:checked')].map((i) => i.value);
    words = (ids) => ids.map((id) => choiceLabel(contest.choices.find((c) => c.id === id)));
  } else if (form === 'ranking') {
    const control = rankedControl({ choices: contest.choices, describedBy, onChange: () => clearError() });
    body = control.node;
    value = () => control.value();
    words = (ids) => ids.map((id, i) => t('review.ranked_item', { position: i + 1, name: choiceLabel(contest.choices.find((c) => c.id === id)) }));
  } else {
    const max = contest.max_score ?? 0;
    const rows = contest.choices.map((c, i) => {
      const selectId = `${base}-score-${i}`;
      const options = [h('option', { value: '', text: t('ballot.no_score') })];
      for (let s = 0; s <= max; s += 1) options.push(h('option', { value: String(s), text: formatNumber(s) }));
      return h(
        'li',
        { className: 'score-row', dataset: { choiceId: c.id } },
        h('label', { for: selectId, className: 'score-label' }, h('span', { className: 'candidate-name', text: c.name }), c.party ? h('span', { className: 'candidate-party', text: ` ${c.party}` }) : null),
        h('select', { id: selectId, 'data-choice-id': c.id, 'aria-describedby': describedBy }, options),
      );
    });
    body = h('ul', { className: 'score-list' }, rows);
    value = () => {
      const scores = {};
      for (const select of body.querySelectorAll('select')) if (select.value !== '') scores[select.dataset.choiceId] = Number(select.value);
      return scores;
    };
    words = (scores) =>
      contest.choices
        .filter((c) => Object.hasOwn(scores, c.id))
        .map((c) => t('review.score_item', { name: choiceLabel(c), score: scores[c.id], max }));
  }

  const fieldset = h(
    'fieldset',
    { className: 'contest', id: base, 'aria-describedby': describedBy, dataset: { contestId: contest.id, method: contest.method } },
    h('legend', { className: 'contest-title', text: contest.title }),
    h('p', { className: 'muted contest-method', text: methodName(contest.method) }),
    hint,
    error,
    body,
  );
  fieldsetNode = fieldset;
  if (form !== 'ranking') fieldset.addEventListener('change', clearError);

  const check = () => {
    const v = value();
    if (form === 'scores') return null;
    const n = v.length;
    if (n < contest.min_choices || n > contest.max_choices) {
      return contest.min_choices === contest.max_choices
        ? t('ballot.error_exactly', { n: contest.max_choices })
        : n < contest.min_choices
          ? t('ballot.error_too_few', { n: contest.min_choices })
          : t('ballot.error_too_many', { n: contest.max_choices });
    }
    return null;
  };
  const selection = () => {
    const v = value();
    if (form === 'ranking') return { ranking: v };
    if (form === 'scores') return { scores: v };
    return v;
  };
  const focusFirst = () => {
    const target = fieldset.querySelector('input, select, button:not([disabled])');
    if (target) target.focus();
  };
  return { contest, fieldset, error, check, selection, words: () => words(value()), focusFirst };
}

async function renderElection(slug, shell, again = false) {
  const { data: election } = await api.election(slug, shell.token());
  shell.setTitle(election.title);
  const encrypted = isEncrypted(election);
  const voted = await votedIn(shell);
  const hasVoted = voted?.get(election.id) === true && !again;
  const receipt = readReceipts()[election.id];

  const info = h(
    'section',
    { className: 'card election-info', 'aria-label': t('election.about') },
    h('p', { className: 'badges' }, h('span', { className: `badge badge-${election.state}`, id: 'election-state', text: stateLabel(election.state) })),
    election.description ? h('p', { className: 'election-description', text: election.description }) : null,
    election.opens_at ? h('p', {}, t(election.state === 'scheduled' ? 'election.opens' : 'election.opened'), ' ', ...timeBoth(election.opens_at, election.timezone)) : null,
    election.closes_at ? h('p', {}, t(election.state === 'scheduled' || election.state === 'open' ? 'election.closes' : 'election.closed'), ' ', ...timeBoth(election.closes_at, election.timezone)) : null,
    h('p', {}, h('a', { href: `/elections/${election.slug}/results`, 'data-link': true, text: t('election.results_link') })),
    encrypted ? h('p', { className: 'notice', id: 'encrypted-notice', text: t('enc.notice') }) : null,
    boardHeadNode(election),
  );
  const errorBox = h('div', { id: 'ballot-errors', className: 'notice notice-error', role: 'alert', hidden: true });
  const parts = [info, errorBox];

  if (election.state !== 'open') {
    parts.push(h('p', { className: 'card', id: 'ballot-closed', text: t(`election.not_open.${election.state}`) }));
    put(shell.view, ...parts);
    return;
  }
  if (!shell.token()) {
    parts.push(
      h(
        'section',
        { className: 'card', 'aria-labelledby': 'login-to-vote' },
        h('h2', { id: 'login-to-vote', text: t('election.login_to_vote') }),
        election.eligibility === 'roll' ? h('p', { text: t('election.invited_hint') }) : null,
        h('button', { type: 'button', className: 'button button-primary', id: 'login-to-vote-button', onclick: () => shell.requireLogin(), text: t('auth.login') }),
        election.eligibility === 'roll' ? h('p', {}, h('a', { href: `/link?election=${encodeURIComponent(election.slug)}`, 'data-link': true, id: 'request-link-link', text: t('magic.request_title') })) : null,
      ),
    );
    put(shell.view, ...parts);
    return;
  }
  if (hasVoted) {
    parts.push(receiptCard(election, receipt, shell));
    put(shell.view, ...parts);
    return;
  }
  if (election.eligibility === 'roll') {
    parts.push(h('p', { className: 'notice', text: t('election.roll_only') }));
  }

  const controls = election.contests.map((c, i) => contestControl(c, i));
  const form = h(
    'form',
    { id: 'election-ballot', className: 'form', novalidate: true, 'aria-labelledby': 'ballot-heading' },
    h('h2', { id: 'ballot-heading', tabindex: '-1', text: t('ballot.title') }),
    controls.map((c) => c.fieldset),
    h('div', { className: 'actions' }, h('button', { type: 'submit', id: 'ballot-review', className: 'button button-primary', text: t('ballot.review') })),
  );
  const ballotCard = h('section', { className: 'card', id: 'election-ballot-card', 'aria-labelledby': 'ballot-heading' }, form);
  const reviewList = h('dl', { className: 'review-list', id: 'review-list' });
  const castButton = h('button', { type: 'button', id: 'ballot-cast', className: 'button button-primary', text: t('review.cast') });
  const backButton = h('button', { type: 'button', id: 'ballot-back', className: 'button button-secondary', text: t('review.back') });
  const auditButton = encrypted ? h('button', { type: 'button', id: 'ballot-audit', className: 'button button-secondary', text: t('enc.audit_button') }) : null;
  const progress = h('p', { id: 'ballot-progress', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const review = h(
    'section',
    { className: 'card card-emphasis', id: 'ballot-review-card', 'aria-labelledby': 'review-heading', hidden: true },
    h('h2', { id: 'review-heading', tabindex: '-1', text: t('review.title') }),
    h('p', { text: t(encrypted ? 'enc.review_intro' : 'review.intro') }),
    reviewList,
    encrypted ? h('p', { className: 'muted', id: 'audit-hint', text: t('enc.audit_hint') }) : null,
    h('div', { className: 'actions' }, castButton, auditButton, backButton),
    progress,
  );
  const auditSlot = h('div', { id: 'audit-slot' });
  parts.push(ballotCard, review, auditSlot);
  put(shell.view, ...parts);

  let pendingKey = null;
  let pendingBody = null;
  // Encrypted elections: a ballot sent without an answer (a retryable failure) is sent again as
  // it is, so the server recognises the retry by its tracker and stores it once.
  let unsent = null;

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setError(errorBox, '');
    const problems = [];
    for (const c of controls) {
      const message = c.check();
      setError(c.error, message || '');
      c.fieldset.classList.toggle('has-error', Boolean(message));
      if (message) problems.push(c);
    }
    if (problems.length) {
      put(errorBox, 
        h('p', { text: t('ballot.fix', { n: problems.length }) }),
        h('ul', {}, problems.map((c) => h('li', {}, h('a', { href: `#${c.fieldset.id}`, onclick: (e) => { e.preventDefault(); c.focusFirst(); }, text: `${c.contest.title}: ${c.error.textContent}` })))),
      );
      errorBox.hidden = false;
      problems[0].focusFirst();
      return;
    }
    const selections = {};
    for (const c of controls) selections[c.contest.id] = c.selection();
    const body = JSON.stringify(selections);
    if (body !== pendingBody) {
      pendingBody = body;
      pendingKey = newIdempotencyKey();
      unsent = null;
    }
    put(reviewList, 
      ...controls.flatMap((c) => {
        const words = c.words();
        return [
          h('dt', { text: c.contest.title }),
          h('dd', {}, words.length ? h('ul', { className: 'plain-list' }, words.map((w) => h('li', { text: w }))) : t('review.blank')),
        ];
      }),
    );
    ballotCard.hidden = true;
    review.hidden = false;
    review.querySelector('h2').focus();
  });

  backButton.addEventListener('click', () => {
    review.hidden = true;
    ballotCard.hidden = false;
    setError(errorBox, '');
    form.querySelector('h2').focus();
  });

  // Encrypted elections: the context is fetched once per page, each ballot is encrypted afresh
  // (but one sent without an answer, kept in `unsent`).
  let voter = null;
  const encryptNow = async () => {
    progress.textContent = t('enc.encrypting');
    await new Promise((resolve) => window.requestAnimationFrame(() => window.setTimeout(resolve, 0)));
    if (!voter) voter = await voterContext(election, shell.token());
    const values = valuesOf(election, JSON.parse(pendingBody));
    const encryptedBallot = await encryptValues(voter, values);
    progress.textContent = t('enc.encrypted', { ms: encryptedBallot.ms });
    progress.dataset.ms = String(encryptedBallot.ms);
    return { encryptedBallot, values };
  };

  if (auditButton) {
    auditButton.addEventListener('click', async () => {
      setBusy(auditButton, true, t('enc.encrypting'));
      castButton.disabled = true;
      backButton.disabled = true;
      setError(errorBox, '');
      try {
        unsent = null;
        const { encryptedBallot, values } = await encryptNow();
        review.hidden = true;
        put(
          auditSlot,
          auditCard(
            election,
            voter,
            encryptedBallot,
            values,
            () => {
              put(auditSlot);
              progress.textContent = t('enc.audit_again');
              review.hidden = false;
              review.querySelector('h2').focus();
            },
            () => api.spoil(shell.token(), election.id, encryptedBallot.ballot, encryptedBallot.reveal),
          ),
        );
        document.getElementById('audit-heading').focus();
      } catch (err) {
        if (shell.handleSessionError(err)) return;
        progress.textContent = '';
        setError(errorBox, err instanceof ApiError ? err.message : err.message || unavailableMessage());
        auditButton.focus();
      } finally {
        setBusy(auditButton, false);
        castButton.disabled = false;
        backButton.disabled = false;
      }
    });
  }

  castButton.addEventListener('click', async () => {
    setBusy(castButton, true, encrypted ? t('enc.encrypting') : t('review.casting'));
    backButton.disabled = true;
    if (auditButton) auditButton.disabled = true;
    setError(errorBox, '');
    try {
      let data;
      if (encrypted) {
        const encryptedBallot = unsent || (await encryptNow()).encryptedBallot;
        unsent = encryptedBallot;
        progress.textContent = t('review.casting');
        ({ data } = await api.castEncrypted(shell.token(), election.id, encryptedBallot.ballot, pendingKey));
        data = { ...data, encrypt_ms: encryptedBallot.ms, cast_at: new Date().toISOString() };
        pendingKey = newIdempotencyKey();
        unsent = null;
      } else {
        const selections = await BALLOT_ENCODERS.plain(JSON.parse(pendingBody));
        ({ data } = await api.castBallot(shell.token(), election.id, selections, pendingKey));
      }
      saveReceipt(election.id, data);
      shell.setStatus(t('receipt.status'));
      const head = info.querySelector('#board-head-hash');
      if (head && data.hash) head.textContent = data.hash;
      put(shell.view, info, receiptCard(election, data, shell, true));
      const heading = document.getElementById('receipt-heading');
      if (heading) heading.focus();
    } catch (err) {
      if (shell.handleSessionError(err)) return;
      if (err instanceof ApiError && err.code === 'already_voted') {
        put(shell.view, info, h('p', { className: 'notice notice-error', role: 'alert', text: err.message }), receiptCard(election, readReceipts()[election.id], shell));
        return;
      }
      if (!(err instanceof ApiError) || !err.retryable) {
        pendingKey = newIdempotencyKey();
        unsent = null;
      }
      const message = err instanceof ApiError ? (err.retryable ? t('review.not_confirmed_retry') : err.message) : encrypted && err?.message ? err.message : unavailableMessage();
      progress.textContent = '';
      setError(errorBox, message);
      castButton.focus();
    } finally {
      setBusy(castButton, false);
      backButton.disabled = false;
      if (auditButton) auditButton.disabled = false;
    }
  });
}

function receiptCard(election, receipt, shell, fresh = false) {
  const status = h('p', { className: 'muted', id: 'receipt-copy-status', 'aria-live': 'polite' });
  const parts = [h('h2', { id: 'receipt-heading', tabindex: '-1', text: fresh ? t('receipt.title') : t('receipt.already') })];
  if (isEncrypted(election)) {
    parts.push(...trackerReceipt(election, receipt, status, shell));
  } else if (receipt?.receipt) {
    parts.push(
      h('p', { text: t('receipt.intro') }),
      h('p', { className: 'receipt' }, h('span', { className: 'receipt-label', text: t('receipt.label') }), ' ', h('code', { id: 'receipt-code', text: receipt.receipt })),
      receipt.cast_at ? h('p', {}, t('receipt.cast_at'), ' ', h('time', { datetime: receipt.cast_at, text: formatDateTime(receipt.cast_at) })) : null,
      h(
        'div',
        { className: 'actions no-print' },
        h('button', {
          type: 'button',
          id: 'receipt-copy',
          className: 'button button-secondary',
          text: t('receipt.copy'),
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(receipt.receipt);
              status.textContent = t('receipt.copied');
            } catch {
              const range = document.createRange();
              range.selectNodeContents(document.getElementById('receipt-code'));
              const sel = window.getSelection();
              sel.removeAllRanges();
              sel.addRange(range);
              status.textContent = t('receipt.copy_manually');
            }
          },
        }),
        h('button', { type: 'button', id: 'receipt-print', className: 'button button-secondary', text: t('receipt.print'), onclick: () => window.print() }),
      ),
      status,
    );
  } else {
    parts.push(h('p', { text: t('receipt.not_here') }));
  }
  parts.push(h('p', { className: 'no-print' }, h('a', { href: `/elections/${election.slug}/results`, 'data-link': true, text: t('election.results_link') }), ' · ', h('a', { href: '/elections', 'data-link': true, text: t('receipt.back_to_list') })));
  return h('section', { className: 'card card-success', id: 'receipt-card', 'aria-labelledby': 'receipt-heading' }, parts);
}

/** The receipt of an encrypted ballot: its tracker (copy, print), where to check it, voting again. */
function trackerReceipt(election, receipt, status, shell) {
  const out = [];
  if (receipt?.tracker) {
    out.push(
      h('p', { text: t('enc.receipt_intro') }),
      h('p', { className: 'receipt' }, h('span', { className: 'receipt-label', text: t('enc.tracker_label') }), ' ', h('code', { id: 'receipt-code', dataset: receipt.encrypt_ms === undefined ? {} : { encryptMs: String(receipt.encrypt_ms) }, text: receipt.tracker })),
      receipt.cast_at ? h('p', {}, t('receipt.cast_at'), ' ', h('time', { datetime: receipt.cast_at, text: formatDateTime(receipt.cast_at) })) : null,
      receipt.hash ? h('p', { className: 'muted' }, t('enc.receipt_event', { seq: receipt.seq ?? 0 }), ' ', h('code', { className: 'hash', id: 'receipt-event-hash', text: receipt.hash })) : null,
      h(
        'div',
        { className: 'actions no-print' },
        h('button', {
          type: 'button',
          id: 'receipt-copy',
          className: 'button button-secondary',
          text: t('enc.copy'),
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(receipt.tracker);
              status.textContent = t('enc.copied');
            } catch {
              const range = document.createRange();
              range.selectNodeContents(document.getElementById('receipt-code'));
              const sel = window.getSelection();
              sel.removeAllRanges();
              sel.addRange(range);
              status.textContent = t('receipt.copy_manually');
            }
          },
        }),
        h('button', { type: 'button', id: 'receipt-print', className: 'button button-secondary', text: t('receipt.print'), onclick: () => window.print() }),
      ),
      status,
    );
  } else {
    out.push(h('p', { text: t('enc.receipt_not_here') }));
  }
  out.push(
    h('p', { className: 'no-print' }, h('a', { href: `/elections/${election.slug}/check${receipt?.tracker ? `?tracker=${encodeURIComponent(receipt.tracker)}` : ''}`, 'data-link': true, id: 'receipt-check-link', text: t('enc.check_link') })),
  );
  if (election.state === 'open') {
    out.push(
      h('p', { className: 'muted no-print', text: t('enc.revote_hint') }),
      h('div', { className: 'actions no-print' }, h('button', { type: 'button', id: 'vote-again', className: 'button button-secondary', text: t('enc.vote_again'), onclick: () => renderElection(election.slug, shell, true).then(() => document.getElementById('ballot-heading')?.focus()) })),
    );
  }
  return out;
}

/* ------------------------------------------------------------------ results */

export function embargoText(election) {
  if (election.state === 'scheduled' || election.state === 'draft') return t('results.embargo.not_started');
  return t(`results.embargo.${election.results}`);
}

async function renderResults(slug, shell) {
  const { data: election } = await api.election(slug, shell.token());
  shell.setTitle(t('results.title', { title: election.title }));
  let results;
  try {
    ({ data: results } = await api.electionResults(election.id));
  } catch (err) {
    if (err instanceof ApiError && err.code === 'results_embargoed') {
      put(shell.view, 
        h('section', { className: 'card', id: 'results-embargoed', 'aria-labelledby': 'embargo-heading' }, h('h2', { id: 'embargo-heading', text: t('results.embargoed') }), h('p', { text: embargoText(election) })),
        boardHeadNode(election),
        h('p', {}, h('a', { href: `/elections/${election.slug}`, 'data-link': true, text: t('results.back_to_election') })),
      );
      return;
    }
    throw err;
  }
  put(shell.view, 
    h('p', { className: 'badges' }, h('span', { className: `badge badge-${election.state}`, text: stateLabel(election.state) })),
    resultsView(results),
    boardHeadNode(election),
    h('p', {}, h('a', { href: `/elections/${election.slug}`, 'data-link': true, text: t('results.back_to_election') })),
  );
}


/* ------------------------------------------------------------------ invitation links */

/**
 * `#/magic/<token>`: the token is exchanged for a session of that election only, taken out of
 * the address bar at once, and the voter lands on the ballot.
 */
async function renderMagic(linkToken, shell) {
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  shell.setTitle(t('magic.signing_in'));
  put(shell.view, h('p', { className: 'card muted', id: 'magic-progress', text: t('magic.signing_in_text') }));
  let data;
  try {
    ({ data } = await api.magicSignIn(linkToken));
  } catch (err) {
    if (err instanceof ApiError && err.code === 'already_voted') return renderMagicVoted(shell);
    if (err instanceof ApiError && err.code === 'election_not_open') return renderMagicProblem(shell, 'closed');
    if (err instanceof ApiError && err.status === 401) return renderMagicProblem(shell, 'invalid');
    throw err;
  }
  shell.signIn({ token: data.token, expiresIn: Number(data.expires_in) });
  const [{ data: me }, { data: election }] = await Promise.all([api.me(data.token), api.election(data.election_id, data.token)]);
  shell.setEmail(me?.email);
  shell.setStatus(t('magic.signed_in', { email: me?.email ?? '' }));
  shell.navigate(`/elections/${election.slug}`, { replace: true });
  return undefined;
}

function renderMagicVoted(shell) {
  shell.setTitle(t('magic.voted_title'));
  put(
    shell.view,
    h(
      'section',
      { className: 'card card-success', id: 'magic-voted', 'aria-labelledby': 'magic-voted-heading' },
      h('h2', { id: 'magic-voted-heading', text: t('magic.voted_heading') }),
      h('p', { text: t('magic.voted_text') }),
      h('p', {}, h('a', { href: '/elections', 'data-link': true, text: t('receipt.back_to_list') })),
    ),
  );
}

async function renderMagicProblem(shell, kind) {
  shell.setTitle(t(`magic.${kind}_title`));
  const form = kind === 'invalid' ? await requestLinkForm(shell, '') : null;
  put(
    shell.view,
    h(
      'section',
      { className: 'card', id: `magic-${kind}`, 'aria-labelledby': 'magic-problem-heading' },
      h('h2', { id: 'magic-problem-heading', text: t(`magic.${kind}_heading`) }),
      h('p', { text: t(`magic.${kind}_text`) }),
      kind === 'closed' ? h('p', {}, h('a', { href: '/elections', 'data-link': true, text: t('receipt.back_to_list') })) : null,
    ),
    form,
  );
}

async function renderRequestLink(shell) {
  shell.setTitle(t('magic.request_title'));
  const wanted = new URLSearchParams(window.location.search).get('election') || '';
  put(shell.view, await requestLinkForm(shell, wanted));
}

/** "Request a new link": an election open for voting (or about to be) and the voter's email. */
async function requestLinkForm(shell, wanted) {
  const { data } = await api.elections(shell.token());
  const elections = (Array.isArray(data) ? data : []).filter((e) => (e.state === 'open' || e.state === 'scheduled') && e.eligibility === 'roll');
  const heading = h('h2', { id: 'request-link-heading', tabindex: '-1', text: t('magic.request_title') });
  const card = h('section', { className: 'card', id: 'request-link', 'aria-labelledby': 'request-link-heading' }, heading);
  if (!elections.length) {
    card.append(h('p', { className: 'muted', id: 'request-link-none', text: t('magic.request_none') }));
    return card;
  }
  const electionId = newId('link-election');
  const emailId = newId('link-email');
  const errorId = `${emailId}-error`;
  const select = h(
    'select',
    { id: electionId, name: 'election' },
    elections.map((e) => h('option', { value: e.slug, text: e.title, selected: e.slug === wanted || e.id === wanted })),
  );
  const email = h('input', { id: emailId, name: 'email', type: 'email', autocomplete: 'email', inputmode: 'email', autocapitalize: 'off', spellcheck: 'false', required: true, 'aria-describedby': `${emailId}-hint ${errorId}` });
  const error = h('p', { id: errorId, className: 'field-error', 'aria-live': 'polite', hidden: true });
  const submit = h('button', { type: 'submit', id: 'request-link-submit', className: 'button button-primary', text: t('magic.request_submit') });
  const done = h('p', { className: 'notice notice-success', id: 'request-link-done', role: 'status', hidden: true });
  email.addEventListener('input', () => {
    markInvalid(email, false);
    setError(error, '');
  });
  const form = h(
    'form',
    { className: 'form', id: 'request-link-form', novalidate: true, 'aria-labelledby': 'request-link-heading' },
    h('div', { className: 'field' }, h('label', { for: electionId, text: t('magic.request_election') }), select),
    h('div', { className: 'field' }, h('label', { for: emailId, text: t('auth.email') }), h('p', { id: `${emailId}-hint`, className: 'hint', text: t('magic.request_email_hint') }), email, error),
    h('div', { className: 'actions' }, submit),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const address = email.value.trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(address)) {
      markInvalid(email, true);
      setError(error, address ? t('error.invalid_email') : t('auth.enter_email'));
      email.focus();
      return;
    }
    setBusy(submit, true, t('magic.request_sending'));
    try {
      await api.requestLink(select.value, address);
      const title = elections.find((e) => e.slug === select.value)?.title ?? '';
      form.hidden = true;
      done.textContent = t('magic.request_done', { title });
      done.hidden = false;
      heading.focus();
    } catch (err) {
      markInvalid(email, err instanceof ApiError && err.code === 'invalid_email');
      setError(error, err instanceof ApiError ? err.message : unavailableMessage());
      email.focus();
    } finally {
      setBusy(submit, false);
    }
  });
  card.append(h('p', { text: t('magic.request_intro') }), form, done);
  return card;
}

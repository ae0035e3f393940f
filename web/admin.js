// The admin console: elections (create and edit drafts by form or by importing JSON, every state
// change behind a confirmation), turnout, and the audit log. The API refuses non-admins; this
// page only shows them a plain sentence.

import { api, ApiError, unavailableMessage } from './api.js';
import { h, put, $, setError, setBusy, markInvalid, newId } from './dom.js';
import { t, formatDateTime, formatPercent, ownTimeZone } from './i18n.js';
import { timeBoth } from './portal.js';
import { methodName } from './results-view.js';
import { rollSection, renderRoll, stopRollTimer } from './rolls.js';
import { exportsSection } from './exports.js';
import { encryptionSection, trusteesSection } from './trustees.js';

const METHODS = ['plurality', 'approval', 'irv', 'stv-scottish', 'stv-meek', 'schulze', 'ranked-pairs', 'copeland', 'borda', 'score', 'star'];
const TURNOUT_INTERVAL_MS = 5000;
let turnoutTimer = 0;

/**
 * Sections further features add to an election's console page (voter roll, invitations, trustees,
 * exports): each `(election, shell) => Node | null`.
 */
export const ELECTION_SECTIONS = [rollSection, encryptionSection, trusteesSection, exportsSection];

export async function render(route, shell) {
  window.clearInterval(turnoutTimer);
  stopRollTimer();
  if (!(await shell.isAdmin())) {
    shell.setTitle(t('admin.title'));
    put(shell.view, h('p', { className: 'notice notice-error', id: 'admin-forbidden', text: t('admin.forbidden') }));
    return;
  }
  if (route.name === 'admin') return renderConsole(shell);
  if (route.name === 'admin-new') return renderForm(shell, null);
  if (route.name === 'admin-edit') return renderEdit(route.params[0], shell);
  if (route.name === 'admin-election') return renderDetail(route.params[0], shell);
  if (route.name === 'admin-audit') return renderAudit(shell);
  if (route.name === 'admin-roll') return renderRoll(route.params[0], shell);
  return undefined;
}

const stateLabel = (state) => t(`state.${state}`);

/* ------------------------------------------------------------------ console home */

async function renderConsole(shell) {
  shell.setTitle(t('admin.title'));
  const { data } = await api.elections(shell.token());
  const elections = Array.isArray(data) ? data : [];
  const rows = elections.map((e) =>
    h(
      'tr',
      { dataset: { slug: e.slug } },
      h('th', { scope: 'row' }, h('a', { href: `/admin/elections/${e.slug}`, 'data-link': true, text: e.title }), e.is_default ? h('span', { className: 'badge', text: t('admin.default') }) : null),
      h('td', {}, h('span', { className: `badge badge-${e.state}`, text: stateLabel(e.state) })),
      h('td', {}, e.opens_at ? timeBoth(e.opens_at, e.timezone) : '–'),
      h('td', {}, e.closes_at ? timeBoth(e.closes_at, e.timezone) : '–'),
    ),
  );
  put(shell.view, 
    h(
      'p',
      { className: 'actions' },
      h('a', { href: '/admin/elections/new', 'data-link': true, className: 'button button-primary', id: 'admin-new', text: t('admin.new') }),
      h('a', { href: '/admin/audit', 'data-link': true, className: 'button button-secondary', id: 'admin-audit-link', text: t('admin.audit') }),
    ),
    h(
      'section',
      { className: 'card', 'aria-labelledby': 'admin-elections' },
      h('h2', { id: 'admin-elections', text: t('admin.elections') }),
      h(
        'div',
        { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'admin-elections' },
        h(
          'table',
          { className: 'data-table', id: 'admin-election-table' },
          h('thead', {}, h('tr', {}, ['admin.col_title', 'admin.col_state', 'admin.col_opens', 'admin.col_closes'].map((k) => h('th', { scope: 'col', text: t(k) })))),
          h('tbody', {}, rows),
        ),
      ),
    ),
  );
}

/* ------------------------------------------------------------------ times in an election's zone */

/** The UTC instant of a wall-clock time (`YYYY-MM-DDTHH:MM`) in the IANA zone `zone`. */
export function zonedToUtc(local, zone) {
  const [date, time] = local.split('T');
  const [y, mo, d] = date.split('-').map(Number);
  const [hh, mm] = time.split(':').map(Number);
  const wanted = Date.UTC(y, mo - 1, d, hh, mm);
  let guess = wanted;
  for (let i = 0; i < 3; i += 1) {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
        .formatToParts(new Date(guess))
        .map((p) => [p.type, p.value]),
    );
    const shown = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour) % 24, Number(parts.minute));
    guess += wanted - shown;
  }
  return new Date(guess).toISOString();
}

/** An instant as `YYYY-MM-DDTHH:MM` in `zone`, for a datetime-local input. */
export function utcToZoned(iso, zone) {
  if (!iso) return '';
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${String(Number(parts.hour) % 24).padStart(2, '0')}:${parts.minute}`;
}

function timeZones() {
  try {
    const zones = Intl.supportedValuesOf('timeZone');
    return zones.includes('UTC') ? zones : ['UTC', ...zones];
  } catch {
    return ['UTC', ownTimeZone()];
  }
}

/* ------------------------------------------------------------------ election form */

function emptyDocument() {
  return {
    slug: '',
    title: '',
    description: '',
    timezone: ownTimeZone(),
    opens_at: null,
    closes_at: null,
    eligibility: 'open',
    results: 'after_publish',
    contests: [{ title: '', method: 'plurality', seats: 1, choices: [{ name: '' }, { name: '' }] }],
  };
}

function documentOf(election) {
  return {
    slug: election.slug,
    title: election.title,
    description: election.description ?? '',
    timezone: election.timezone,
    opens_at: election.opens_at,
    closes_at: election.closes_at,
    eligibility: election.eligibility,
    results: election.results,
    live_min_ballots: election.live_min_ballots,
    contests: election.contests.map((c) => ({
      title: c.title,
      method: c.method,
      seats: c.seats,
      min_choices: c.min_choices,
      max_choices: c.max_choices,
      max_score: c.max_score ?? undefined,
      choices: c.choices.map((ch) => ({ name: ch.name, party: ch.party ?? '', description: ch.description ?? '' })),
    })),
  };
}

function slugify(text) {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
}

/** A labelled input with its hint and error, addressed by `path` (the API's field path). */
function field({ path, label, type = 'text', value = '', hint, required = false, options, attrs = {} }) {
  const id = newId('f');
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ');
  let input;
  if (options) {
    input = h('select', { id, 'data-path': path, 'aria-describedby': describedBy, ...attrs }, options.map(([v, text]) => h('option', { value: v, text, selected: String(v) === String(value) })));
  } else if (type === 'textarea') {
    input = h('textarea', { id, 'data-path': path, rows: 3, 'aria-describedby': describedBy, ...attrs });
    input.value = value ?? '';
  } else {
    input = h('input', { id, type, 'data-path': path, 'aria-describedby': describedBy, required, ...attrs });
    input.value = value ?? '';
  }
  input.addEventListener('input', () => {
    markInvalid(input, false);
    setError(document.getElementById(errorId), '');
  });
  return h(
    'div',
    { className: 'field' },
    h('label', { for: id }, label, required ? h('span', { className: 'muted', text: ` ${t('form.required')}` }) : null),
    hint ? h('p', { id: hintId, className: 'hint', text: hint }) : null,
    input,
    h('p', { id: errorId, className: 'field-error', 'aria-live': 'polite', hidden: true }),
  );
}

function renderForm(shell, election) {
  const editing = Boolean(election);
  shell.setTitle(editing ? t('form.edit_title', { title: election.title }) : t('form.new_title'));
  let doc = editing ? documentOf(election) : emptyDocument();
  const summary = h('div', { id: 'form-errors', className: 'notice notice-error', role: 'alert', hidden: true });
  const formHost = h('div');
  const submit = h('button', { type: 'submit', id: 'election-save', className: 'button button-primary', text: editing ? t('form.save') : t('form.create') });
  const form = h('form', { id: 'election-form', className: 'form', novalidate: true, 'aria-labelledby': 'page-title' }, formHost, h('div', { className: 'actions' }, submit));

  function readForm() {
    const get = (path) => form.querySelector(`[data-path="${CSS.escape(path)}"]`);
    const val = (path) => get(path)?.value ?? '';
    const int = (path) => {
      const v = val(path).trim();
      return v === '' ? undefined : Number(v);
    };
    const zone = val('timezone') || 'UTC';
    const when = (path) => (val(path) ? zonedToUtc(val(path), zone) : null);
    const next = {
      slug: val('slug').trim(),
      title: val('title').trim(),
      description: val('description').trim() || null,
      timezone: zone,
      opens_at: when('opens_at'),
      closes_at: when('closes_at'),
      eligibility: val('eligibility'),
      results: val('results'),
      contests: doc.contests.map((c, i) => {
        const p = `contests[${i}]`;
        const method = val(`${p}.method`);
        const contest = {
          title: val(`${p}.title`).trim(),
          method,
          seats: int(`${p}.seats`),
          min_choices: int(`${p}.min_choices`),
          max_choices: int(`${p}.max_choices`),
          choices: c.choices.map((_, j) => ({
            name: val(`${p}.choices[${j}].name`).trim(),
            party: val(`${p}.choices[${j}].party`).trim() || null,
            description: val(`${p}.choices[${j}].description`).trim() || null,
          })),
        };
        if (method === 'score' || method === 'star') contest.max_score = int(`${p}.max_score`);
        return contest;
      }),
    };
    if (next.results === 'live') next.live_min_ballots = int('live_min_ballots');
    return next;
  }

  function contestBlock(c, i) {
    const p = `contests[${i}]`;
    const legendId = newId('contest');
    const isScore = c.method === 'score' || c.method === 'star';
    return h(
      'fieldset',
      { className: 'contest-editor', 'aria-labelledby': legendId, dataset: { index: String(i) } },
      h('legend', { id: legendId, text: t('form.contest_n', { n: i + 1 }) }),
      field({ path: `${p}.title`, label: t('form.contest_title'), value: c.title, required: true }),
      field({
        path: `${p}.method`,
        label: t('form.method'),
        value: c.method ?? 'plurality',
        options: METHODS.map((m) => [m, methodName(m)]),
        attrs: { dataset: { rerender: 'true' } },
      }),
      h(
        'div',
        { className: 'field-row' },
        field({ path: `${p}.seats`, label: t('form.seats'), type: 'number', value: c.seats ?? 1, attrs: { min: 1, inputmode: 'numeric' } }),
        field({ path: `${p}.min_choices`, label: t('form.min_choices'), type: 'number', value: c.min_choices ?? '', hint: t('form.default_hint'), attrs: { min: 0, inputmode: 'numeric' } }),
        field({ path: `${p}.max_choices`, label: t('form.max_choices'), type: 'number', value: c.max_choices ?? '', hint: t('form.default_hint'), attrs: { min: 1, inputmode: 'numeric' } }),
        isScore ? field({ path: `${p}.max_score`, label: t('form.max_score'), type: 'number', value: c.max_score ?? 5, attrs: { min: 1, max: 100, inputmode: 'numeric' } }) : null,
      ),
      h(
        'div',
        { className: 'choice-editor' },
        h('p', { className: 'ranked-label', text: t('form.choices') }),
        h(
          'ol',
          { className: 'choice-rows' },
          c.choices.map((ch, j) =>
            h(
              'li',
              { className: 'choice-row' },
              field({ path: `${p}.choices[${j}].name`, label: t('form.choice_name', { n: j + 1 }), value: ch.name, required: true }),
              field({ path: `${p}.choices[${j}].party`, label: t('form.choice_party', { n: j + 1 }), value: ch.party ?? '' }),
              field({ path: `${p}.choices[${j}].description`, label: t('form.choice_description', { n: j + 1 }), value: ch.description ?? '' }),
              h('button', { type: 'button', className: 'button button-secondary button-small', text: t('form.remove_choice'), 'aria-label': t('form.remove_choice_n', { n: j + 1, contest: i + 1 }), disabled: c.choices.length <= 1, onclick: () => change((d) => d.contests[i].choices.splice(j, 1), `${p}.choices[${Math.max(0, j - 1)}].name`) }),
            ),
          ),
        ),
        h('button', { type: 'button', className: 'button button-secondary button-small', 'data-action': 'add-choice', text: t('form.add_choice'), 'aria-label': t('form.add_choice_to', { n: i + 1 }), onclick: () => change((d) => d.contests[i].choices.push({ name: '' }), `${p}.choices[${c.choices.length}].name`) }),
      ),
      h('button', { type: 'button', className: 'button button-secondary button-small', text: t('form.remove_contest'), 'aria-label': t('form.remove_contest_n', { n: i + 1 }), disabled: doc.contests.length <= 1, onclick: () => change((d) => d.contests.splice(i, 1), 'contests[0].title') }),
    );
  }

  /** Applies an edit to the document (after reading what was typed) and draws the form again. */
  function change(edit, focusPath) {
    doc = readForm();
    edit(doc);
    draw();
    const target = focusPath && form.querySelector(`[data-path="${CSS.escape(focusPath)}"]`);
    if (target) target.focus();
  }

  function draw() {
    const zone = doc.timezone || 'UTC';
    const zones = timeZones();
    put(formHost, 
      h(
        'fieldset',
        { className: 'form-section' },
        h('legend', { text: t('form.election') }),
        field({ path: 'title', label: t('form.title'), value: doc.title, required: true }),
        field({ path: 'slug', label: t('form.slug'), value: doc.slug, required: true, hint: t('form.slug_hint'), attrs: { autocapitalize: 'off', spellcheck: 'false' } }),
        field({ path: 'description', label: t('form.description'), type: 'textarea', value: doc.description ?? '' }),
        field({ path: 'timezone', label: t('form.timezone'), value: zone, options: (zones.includes(zone) ? zones : [zone, ...zones]).map((z) => [z, z]), attrs: { dataset: { rerender: 'true' } } }),
        h(
          'div',
          { className: 'field-row' },
          field({ path: 'opens_at', label: t('form.opens_at'), type: 'datetime-local', value: utcToZoned(doc.opens_at, zone), hint: t('form.time_hint', { zone }) }),
          field({ path: 'closes_at', label: t('form.closes_at'), type: 'datetime-local', value: utcToZoned(doc.closes_at, zone), hint: t('form.time_hint', { zone }) }),
        ),
        field({ path: 'eligibility', label: t('form.eligibility'), value: doc.eligibility ?? 'open', options: [['open', t('form.eligibility_open')], ['roll', t('form.eligibility_roll')]] }),
        field({
          path: 'results',
          label: t('form.results'),
          value: doc.results ?? 'after_publish',
          options: ['after_publish', 'after_close', 'live'].map((r) => [r, t(`form.results_${r}`)]),
          attrs: { dataset: { rerender: 'true' } },
        }),
        doc.results === 'live' ? field({ path: 'live_min_ballots', label: t('form.live_min_ballots'), type: 'number', value: doc.live_min_ballots ?? 10, attrs: { min: 0, inputmode: 'numeric' } }) : null,
      ),
      doc.contests.map(contestBlock),
      h('button', { type: 'button', id: 'add-contest', className: 'button button-secondary', text: t('form.add_contest'), onclick: () => change((d) => d.contests.push({ title: '', method: 'plurality', seats: 1, choices: [{ name: '' }, { name: '' }] }), `contests[${doc.contests.length}].title`) }),
    );
    const title = form.querySelector('[data-path="title"]');
    const slug = form.querySelector('[data-path="slug"]');
    let slugTouched = Boolean(doc.slug);
    slug.addEventListener('input', () => {
      slugTouched = true;
    });
    title.addEventListener('input', () => {
      if (!slugTouched) slug.value = slugify(title.value);
    });
  }

  // Selects that change what the form shows (method, time zone, results policy) redraw it.
  form.addEventListener('change', (event) => {
    const target = event.target;
    if (target instanceof HTMLSelectElement && target.dataset.rerender) {
      const path = target.dataset.path;
      if (path === 'timezone') {
        // Keep the wall-clock times as typed, in the new zone.
        const opens = form.querySelector('[data-path="opens_at"]').value;
        const closes = form.querySelector('[data-path="closes_at"]').value;
        doc = readForm();
        doc.opens_at = opens ? zonedToUtc(opens, target.value) : null;
        doc.closes_at = closes ? zonedToUtc(closes, target.value) : null;
        draw();
      } else {
        change(() => {}, null);
      }
      const again = form.querySelector(`[data-path="${CSS.escape(path)}"]`);
      if (again) again.focus();
    }
  });

  function showErrors(list) {
    for (const node of form.querySelectorAll('[aria-invalid]')) markInvalid(node, false);
    for (const node of form.querySelectorAll('.field-error')) setError(node, '');
    if (!list.length) {
      setError(summary, '');
      return;
    }
    put(summary, 
      h('p', { text: t('form.fix', { n: list.length }) }),
      h('ul', {}, list.map(({ input, message }) => h('li', {}, input ? h('a', { href: `#${input.id}`, onclick: (e) => { e.preventDefault(); input.focus(); }, text: message }) : message))),
    );
    summary.hidden = false;
    for (const { input, message } of list) {
      if (!input) continue;
      markInvalid(input, true);
      setError(document.getElementById(`${input.id}-error`), message);
    }
    const first = list.find((e) => e.input)?.input;
    if (first) first.focus();
    else summary.focus?.();
  }

  function localCheck(next) {
    const errors = [];
    const at = (path) => form.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (!next.title) errors.push({ input: at('title'), message: t('form.error_title') });
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(next.slug)) errors.push({ input: at('slug'), message: t('form.error_slug') });
    if (next.opens_at && next.closes_at && Date.parse(next.closes_at) <= Date.parse(next.opens_at)) {
      errors.push({ input: at('closes_at'), message: t('form.error_closes') });
    }
    next.contests.forEach((c, i) => {
      if (!c.title) errors.push({ input: at(`contests[${i}].title`), message: t('form.error_contest_title', { n: i + 1 }) });
      c.choices.forEach((ch, j) => {
        if (!ch.name) errors.push({ input: at(`contests[${i}].choices[${j}].name`), message: t('form.error_choice_name', { n: j + 1, contest: i + 1 }) });
      });
    });
    return errors;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const next = readForm();
    const local = localCheck(next);
    showErrors(local);
    if (local.length) return;
    setBusy(submit, true, t('form.saving'));
    try {
      const { data } = editing
        ? await api.updateElection(shell.token(), election.id, next)
        : await api.createElection(shell.token(), next);
      shell.setStatus(editing ? t('form.saved', { title: data.title }) : t('form.created', { title: data.title }));
      shell.navigate(`/admin/elections/${data.slug}`);
    } catch (err) {
      if (shell.handleSessionError(err)) return;
      showErrors([serverError(err, form)]);
    } finally {
      setBusy(submit, false);
    }
  });

  // Import: a JSON document (the body of POST /api/elections) fills the form for review.
  const importId = newId('import');
  const importText = h('textarea', { id: importId, rows: 8, className: 'code-input', 'aria-describedby': `${importId}-hint ${importId}-error`, spellcheck: 'false' });
  const importFile = h('input', { type: 'file', id: `${importId}-file`, accept: 'application/json,.json' });
  const importError = h('p', { id: `${importId}-error`, className: 'field-error', 'aria-live': 'polite', hidden: true });
  importFile.addEventListener('change', async () => {
    const file = importFile.files?.[0];
    if (file) importText.value = await file.text();
  });
  const importButton = h('button', {
    type: 'button',
    id: 'import-load',
    className: 'button button-secondary',
    text: t('import.load'),
    onclick: () => {
      let parsed;
      try {
        parsed = JSON.parse(importText.value);
      } catch (e) {
        markInvalid(importText, true);
        setError(importError, t('import.error_json', { detail: e.message }));
        importText.focus();
        return;
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Array.isArray(parsed.contests)) {
        markInvalid(importText, true);
        setError(importError, t('import.error_shape'));
        importText.focus();
        return;
      }
      markInvalid(importText, false);
      setError(importError, '');
      doc = { ...emptyDocument(), ...parsed, contests: parsed.contests.map((c) => ({ ...c, choices: Array.isArray(c.choices) && c.choices.length ? c.choices : [{ name: '' }] })) };
      draw();
      shell.setStatus(t('import.loaded'));
      form.querySelector('[data-path="title"]').focus();
    },
  });
  const importSection = h(
    'details',
    { className: 'card import', id: 'import-section' },
    h('summary', { text: t('import.title') }),
    h(
      'div',
      { className: 'field' },
      h('label', { for: importId, text: t('import.label') }),
      h('p', { id: `${importId}-hint`, className: 'hint', text: t('import.hint') }),
      importText,
      importError,
    ),
    h('div', { className: 'field' }, h('label', { for: importFile.id, text: t('import.file') }), importFile),
    importButton,
  );

  draw();
  put(shell.view, 
    h('p', {}, h('a', { href: editing ? `/admin/elections/${election.slug}` : '/admin', 'data-link': true, text: t('admin.back') })),
    summary,
    editing ? null : importSection,
    h('section', { className: 'card' }, form),
  );
}

/** The server names the field at fault in its error (`field`: `contests[1].max_choices`). */
function serverError(err, form) {
  if (!(err instanceof ApiError)) return { input: null, message: unavailableMessage() };
  const message = err.code === 'invalid_request' && err.detail ? t('form.server_error', { detail: err.detail }) : err.message;
  if (err.field) {
    let input = form.querySelector(`[data-path="${CSS.escape(err.field)}"]`);
    // contests[1].choices: ... → the contest's first choice; contests[1]: ... → its title.
    if (!input) input = form.querySelector(`[data-path^="${CSS.escape(err.field)}"]`);
    return { input, message };
  }
  return { input: null, message };
}

async function renderEdit(slug, shell) {
  const { data: election } = await api.election(slug, shell.token());
  if (election.state !== 'draft') {
    shell.setTitle(election.title);
    put(shell.view, h('p', { className: 'notice notice-error', text: t('error.election_frozen') }));
    return;
  }
  renderForm(shell, election);
}

/* ------------------------------------------------------------------ confirmations */

/**
 * Asks for confirmation in a modal dialog. `extra` (optional) is a node with more fields, and
 * `validate()` returns an error message or null. Resolves true when confirmed.
 */
export function confirmDialog({ title, text, ok, extra = null, validate = () => null }) {
  const dialog = $('confirm-dialog');
  $('confirm-dialog-title').textContent = title;
  $('confirm-dialog-text').textContent = text;
  $('confirm-dialog-ok').textContent = ok;
  $('confirm-dialog-extra').replaceChildren(...(extra ? [extra] : []));
  const error = $('confirm-dialog-error');
  setError(error, '');
  const form = $('confirm-dialog-form');
  return new Promise((resolve) => {
    const onSubmit = (event) => {
      if (event.submitter?.value !== 'confirm') return;
      const message = validate();
      if (message) {
        event.preventDefault();
        setError(error, message);
        const input = dialog.querySelector('#confirm-dialog-extra input');
        if (input) input.focus();
      }
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener(
      'close',
      () => {
        form.removeEventListener('submit', onSubmit);
        resolve(dialog.returnValue === 'confirm');
      },
      { once: true },
    );
    dialog.returnValue = '';
    dialog.showModal();
    $('confirm-dialog-cancel').focus();
  });
}

/* ------------------------------------------------------------------ one election */

const ACTIONS = {
  draft: ['schedule'],
  scheduled: ['open'],
  open: ['close', 'extend'],
  closed: ['publish', 'archive'],
  published: ['archive'],
  archived: [],
};

/** Draws an election's page again (after a change made by one of its cards) and focuses `focusId`. */
export async function reloadDetail(slug, shell, focusId) {
  window.clearInterval(turnoutTimer);
  stopRollTimer();
  await renderDetail(slug, shell);
  const target = focusId && document.getElementById(focusId);
  if (target) target.focus();
}

async function renderDetail(slug, shell) {
  const { data: election } = await api.election(slug, shell.token());
  shell.setTitle(election.title);
  const turnoutValue = h('p', { className: 'turnout-figure', id: 'turnout-figure', text: '…' });
  const turnoutUpdated = h('p', { className: 'muted', id: 'turnout-updated' });
  const actionError = h('p', { className: 'notice notice-error', id: 'admin-action-error', role: 'alert', hidden: true });

  async function refreshTurnout() {
    try {
      const { data } = await api.turnout(shell.token(), election.id);
      const parts = [t('turnout.ballots', { n: Number(data.ballots_cast) || 0 })];
      if (data.eligible !== null && data.eligible !== undefined) {
        parts.push(t('turnout.of_eligible', { n: Number(data.eligible), percent: formatPercent((Number(data.percentage) || 0) / 100) }));
      }
      turnoutValue.textContent = parts.join(' ');
      turnoutUpdated.textContent = t('home.last_updated', { time: new Intl.DateTimeFormat(document.documentElement.lang, { timeStyle: 'medium' }).format(new Date()) });
    } catch (err) {
      if (shell.handleSessionError(err)) window.clearInterval(turnoutTimer);
    }
  }

  async function run(action) {
    let extra = null;
    let validate = () => null;
    let body;
    if (action === 'extend') {
      const id = newId('extend');
      const input = h('input', { id, type: 'datetime-local', required: true, 'aria-describedby': `${id}-hint confirm-dialog-error` });
      input.value = utcToZoned(election.closes_at || new Date(Date.now() + 3600e3).toISOString(), election.timezone);
      extra = h('div', { className: 'field' }, h('label', { for: id, text: t('admin.extend_label') }), h('p', { id: `${id}-hint`, className: 'hint', text: t('form.time_hint', { zone: election.timezone }) }), input);
      validate = () => {
        if (!input.value) return t('admin.extend_required');
        const at = zonedToUtc(input.value, election.timezone);
        if (election.closes_at && Date.parse(at) <= Date.parse(election.closes_at)) return t('admin.extend_later');
        body = { closes_at: at };
        return null;
      };
    }
    const confirmed = await confirmDialog({ title: t(`action.${action}.title`), text: t(`action.${action}.text`), ok: t(`action.${action}.ok`), extra, validate });
    if (!confirmed) return;
    setError(actionError, '');
    try {
      if (action === 'delete') {
        await api.deleteElection(shell.token(), election.id);
        shell.setStatus(t('action.delete.done', { title: election.title }));
        shell.navigate('/admin');
        return;
      }
      await api.transition(shell.token(), election.id, action, body);
      shell.setStatus(t(`action.${action}.done`, { title: election.title }));
      await renderDetail(election.slug, shell);
      const heading = document.getElementById('admin-state-heading');
      if (heading) heading.focus();
    } catch (err) {
      if (shell.handleSessionError(err)) return;
      if (!(err instanceof ApiError)) console.error(err);
      setError(actionError, err instanceof ApiError ? err.message : unavailableMessage());
    }
  }

  const actionButtons = (ACTIONS[election.state] || []).map((action) =>
    h('button', { type: 'button', className: 'button button-primary', id: `action-${action}`, text: t(`action.${action}.button`), onclick: () => run(action) }),
  );
  if (election.state === 'draft') {
    actionButtons.push(
      h('a', { href: `/admin/elections/${election.slug}/edit`, 'data-link': true, className: 'button button-secondary', id: 'action-edit', text: t('admin.edit') }),
      h('button', { type: 'button', className: 'button button-secondary', id: 'action-delete', text: t('action.delete.button'), onclick: () => run('delete') }),
    );
  }
  if (!election.is_default && election.state !== 'draft' && election.state !== 'archived') {
    actionButtons.push(h('button', { type: 'button', className: 'button button-secondary', id: 'action-default', text: t('action.default.button'), onclick: () => run('default') }));
  }

  const sections = ELECTION_SECTIONS.map((section) => section(election, shell)).filter(Boolean);
  put(shell.view, 
    h('p', {}, h('a', { href: '/admin', 'data-link': true, text: t('admin.back') })),
    actionError,
    h(
      'section',
      { className: 'card', 'aria-labelledby': 'admin-state-heading' },
      h('h2', { id: 'admin-state-heading', tabindex: '-1', text: t('admin.state_heading') }),
      h('p', { className: 'badges' }, h('span', { className: `badge badge-${election.state}`, id: 'admin-state', text: stateLabel(election.state) }), election.is_default ? h('span', { className: 'badge', text: t('admin.default') }) : null),
      h('p', { className: 'muted', text: t(`admin.state_help.${election.state}`) }),
      h(
        'dl',
        { className: 'facts' },
        h('dt', { text: t('form.slug') }), h('dd', {}, h('code', { text: election.slug })),
        h('dt', { text: t('form.timezone') }), h('dd', { text: election.timezone }),
        h('dt', { text: t('form.opens_at') }), h('dd', {}, election.opens_at ? timeBoth(election.opens_at, election.timezone) : t('admin.by_hand')),
        h('dt', { text: t('form.closes_at') }), h('dd', {}, election.closes_at ? timeBoth(election.closes_at, election.timezone) : t('admin.by_hand')),
        h('dt', { text: t('form.eligibility') }), h('dd', { text: t(`form.eligibility_${election.eligibility}`) }),
        h('dt', { text: t('form.results') }), h('dd', { text: t(`form.results_${election.results}`) }),
      ),
      actionButtons.length ? h('div', { className: 'actions' }, actionButtons) : null,
    ),
    h(
      'section',
      { className: 'card', 'aria-labelledby': 'turnout-heading' },
      h('h2', { id: 'turnout-heading', text: t('turnout.title') }),
      turnoutValue,
      turnoutUpdated,
      h('p', { className: 'muted', text: t('turnout.private') }),
    ),
    h(
      'section',
      { className: 'card', 'aria-labelledby': 'ballot-overview' },
      h('h2', { id: 'ballot-overview', text: t('admin.ballot') }),
      election.contests.map((c) =>
        h('div', { className: 'contest-summary' }, h('h3', { text: c.title }), h('p', { className: 'muted', text: t('results.method_line', { method: methodName(c.method), seats: c.seats, n: c.seats }) }), h('ul', {}, c.choices.map((ch) => h('li', { text: ch.party ? `${ch.name} (${ch.party})` : ch.name })))),
      ),
      h('p', {}, h('a', { href: `/elections/${election.slug}/results`, 'data-link': true, text: t('election.results_link') })),
    ),
    ...sections,
  );
  await refreshTurnout();
  turnoutTimer = window.setInterval(() => {
    if (!document.getElementById('turnout-figure')) window.clearInterval(turnoutTimer);
    else if (document.visibilityState === 'visible') refreshTurnout();
  }, TURNOUT_INTERVAL_MS);
}

/* ------------------------------------------------------------------ audit log */

async function renderAudit(shell) {
  shell.setTitle(t('audit.title'));
  const wanted = Number(new URLSearchParams(window.location.search).get('per_page'));
  const PAGE = Number.isInteger(wanted) && wanted >= 1 && wanted <= 200 ? wanted : 50;
  /** Cursors of the pages seen: cursors[i] is the `before` of page i (undefined for the first). */
  const cursors = [undefined];
  let page = 0;
  let entries = [];
  let next = null;
  const filter = h('select', { id: 'audit-filter' });
  const body = h('tbody');
  const info = h('p', { className: 'muted', id: 'audit-page-info', 'aria-live': 'polite' });
  const newer = h('button', { type: 'button', className: 'button button-secondary', id: 'audit-newer', text: t('audit.newer') });
  const older = h('button', { type: 'button', className: 'button button-secondary', id: 'audit-older', text: t('audit.older') });
  /** Every action the service records, grouped by what it changes (the server filters). */
  const ACTIONS = [
    'candidate.', 'candidate.create', 'candidate.update', 'candidate.delete', 'candidate.import',
    'election.', 'election.create', 'election.update', 'election.delete', 'election.schedule', 'election.open',
    'election.close', 'election.extend', 'election.publish', 'election.archive', 'election.make_default',
    'roll.import', 'mail.queue',
    'user.', 'user.promote', 'user.create_admin', 'user.logout_everywhere',
  ];
  put(filter, h('option', { value: '', text: t('audit.all_actions') }), ...ACTIONS.map((a) => h('option', { value: a, text: a.endsWith('.') ? `${a}*` : a })));

  function draw() {
    put(body, 
      ...entries.map((e) =>
        h(
          'tr',
          { dataset: { action: e.action } },
          h('td', {}, h('time', { datetime: e.at, text: formatDateTime(e.at) })),
          h('td', { text: e.actor_email || t('audit.cli') }),
          h('td', {}, h('code', { text: e.action })),
          h('td', { text: `${e.target_type}${e.target_id ? ` ${e.target_id}` : ''}` }),
          h('td', {}, e.before || e.after ? h('details', {}, h('summary', { text: t('audit.change') }), e.before ? h('pre', { className: 'code-block', text: `${t('audit.before')}\n${JSON.stringify(e.before, null, 2)}` }) : null, e.after ? h('pre', { className: 'code-block', text: `${t('audit.after')}\n${JSON.stringify(e.after, null, 2)}` }) : null) : '–'),
        ),
      ),
    );
    info.textContent = t('audit.page_info', { page: page + 1, n: entries.length });
    body.dataset.filter = filter.value;
    newer.disabled = page === 0;
    older.disabled = !next;
  }

  async function load() {
    const { data } = await api.audit(shell.token(), { limit: PAGE, before: cursors[page], action: filter.value || undefined });
    entries = data.entries || [];
    next = data.next_before ?? null;
    draw();
  }

  filter.addEventListener('change', async () => {
    page = 0;
    cursors.length = 1;
    await load();
  });
  newer.addEventListener('click', async () => {
    if (page === 0) return;
    page -= 1;
    await load();
  });
  older.addEventListener('click', async () => {
    if (!next) return;
    page += 1;
    cursors[page] = next;
    await load();
  });

  put(shell.view, 
    h('p', {}, h('a', { href: '/admin', 'data-link': true, text: t('admin.back') })),
    h(
      'section',
      { className: 'card', 'aria-labelledby': 'audit-heading' },
      h('h2', { id: 'audit-heading', text: t('audit.entries') }),
      h('div', { className: 'field' }, h('label', { for: 'audit-filter', text: t('audit.filter') }), h('p', { className: 'hint', id: 'audit-filter-hint', text: t('audit.filter_hint') }), filter),
      h(
        'div',
        { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'audit-heading' },
        h('table', { className: 'data-table', id: 'audit-table' }, h('thead', {}, h('tr', {}, ['audit.at', 'audit.actor', 'audit.action', 'audit.target', 'audit.details'].map((k) => h('th', { scope: 'col', text: t(k) })))), body),
      ),
      info,
      h('div', { className: 'actions' }, newer, older),
    ),
  );
  filter.setAttribute('aria-describedby', 'audit-filter-hint');
  await load();
}



// The voter roll of a roll election in the admin console: import a CSV file (a dry run names
// every rejected line before anything is imported), page and search the entries with each
// voter's participation and invitation status, send invitations and reminders or resend one
// voter's link (each behind a confirmation), turnout per group, and the CSV exports.

import { api, ApiError, unavailableMessage, download } from './api.js';
import { h, put, setError, setBusy, newId } from './dom.js';
import { t, formatNumber, formatPercent, formatTime } from './i18n.js';
import { confirmDialog } from './admin.js';

const REFRESH_MS = 5000;
const PAGE = 25;
let timer = 0;

export function stopRollTimer() {
  window.clearInterval(timer);
  timer = 0;
}

function fingerprintLine(fingerprint, id = null) {
  return h('p', { className: 'fingerprint-line' }, h('span', { text: t('roll.fingerprint') }), ' ', h('code', { className: 'fingerprint', id, text: fingerprint }));
}

/** The roll's card on an election's console page (roll elections only). */
export function rollSection(election) {
  if (election.eligibility !== 'roll') return null;
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'roll-summary-heading', id: 'roll-summary' },
    h('h2', { id: 'roll-summary-heading', text: t('roll.title') }),
    h('p', { className: 'muted', text: t(election.state === 'draft' ? 'roll.summary_draft' : 'roll.summary_frozen') }),
    election.roll_fingerprint ? fingerprintLine(election.roll_fingerprint) : null,
    h('p', { className: 'actions' }, h('a', { href: `/admin/elections/${election.slug}/roll`, 'data-link': true, className: 'button button-primary', id: 'roll-link', text: t('roll.manage') })),
  );
}

/** Admins read the server's own message (it names the line or column). */
function adminMessage(err) {
  if (!(err instanceof ApiError)) return unavailableMessage();
  if ((err.code === 'invalid_request' || err.code === 'invalid_roll' || err.code === 'unsupported_media_type') && err.detail) return t('roll.server_said', { detail: err.detail });
  return err.message;
}

function deliveryText(delivery) {
  if (!delivery) return t('roll.delivery.none');
  const state = t(`roll.delivery.${delivery.state}`);
  return delivery.kind === 'reminder' ? t('roll.delivery.reminder', { state }) : state;
}

export async function renderRoll(slug, shell) {
  const { data: election } = await api.election(slug, shell.token());
  shell.setTitle(t('roll.page_title', { title: election.title }));
  const back = h('p', {}, h('a', { href: `/admin/elections/${election.slug}`, 'data-link': true, id: 'roll-back', text: t('roll.back') }));
  if (election.eligibility !== 'roll') {
    put(shell.view, back, h('p', { className: 'notice', id: 'roll-not-roll', text: t('roll.not_roll') }));
    return;
  }
  const token = () => shell.token();
  const sending = election.state === 'scheduled' || election.state === 'open';
  const actionError = h('p', { className: 'notice notice-error', id: 'roll-action-error', role: 'alert', hidden: true });

  /* ---------------------------------------------------------------- import */

  let importCard;
  if (election.state === 'draft') {
    const fileId = 'roll-file';
    const fileError = h('p', { id: `${fileId}-error`, className: 'field-error', 'aria-live': 'polite', hidden: true });
    const file = h('input', { id: fileId, type: 'file', accept: '.csv,text/csv', 'aria-describedby': `${fileId}-hint ${fileId}-error` });
    const check = h('button', { type: 'submit', id: 'roll-check', className: 'button button-primary', text: t('roll.check') });
    const report = h('div', { id: 'roll-report' });
    let checked = null;
    file.addEventListener('change', () => {
      checked = null;
      setError(fileError, '');
      file.removeAttribute('aria-invalid');
      put(report);
    });

    const showReport = (data) => {
      const rejected = Array.isArray(data.rejected) ? data.rejected : [];
      const importButton = h('button', {
        type: 'button',
        id: 'roll-import',
        className: 'button button-primary',
        text: t('roll.import'),
        disabled: rejected.length > 0,
        'aria-describedby': 'roll-import-hint',
      });
      importButton.addEventListener('click', async () => {
        if (rejected.length || checked === null) return;
        setBusy(importButton, true, t('roll.importing'));
        try {
          const { data: done } = await api.importRoll(token(), election.id, checked, false);
          put(
            report,
            h(
              'div',
              { className: 'notice notice-success', id: 'roll-imported', role: 'status' },
              h('p', { text: t('roll.imported', { added: done.added, updated: done.updated, unchanged: done.unchanged, removed: done.removed }) }),
              done.fingerprint ? fingerprintLine(done.fingerprint, 'roll-draft-fingerprint') : null,
              h('p', { text: t('roll.imported_next') }),
            ),
          );
          file.value = '';
          checked = null;
          await entries.reload();
          await refreshTurnout();
        } catch (err) {
          if (shell.handleSessionError(err)) return;
          setBusy(importButton, false);
          setError(fileError, adminMessage(err));
        }
      });
      const counts = h(
        'dl',
        { className: 'facts', id: 'roll-counts' },
        ['added', 'updated', 'unchanged', 'removed'].flatMap((k) => [h('dt', { text: t(`roll.count.${k}`) }), h('dd', { dataset: { count: k }, text: formatNumber(Number(data[k]) || 0) })]),
      );
      put(
        report,
        h('h3', { id: 'roll-report-heading', tabindex: '-1', text: t('roll.report_title') }),
        counts,
        rejected.length
          ? [
              h('p', { className: 'notice notice-error', id: 'roll-rejected-summary', text: t('roll.rejected_summary', { n: rejected.length }) }),
              h(
                'div',
                { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'roll-rejected-caption' },
                h(
                  'table',
                  { className: 'data-table', id: 'roll-rejected' },
                  h('caption', { id: 'roll-rejected-caption', text: t('roll.rejected_caption') }),
                  h('thead', {}, h('tr', {}, h('th', { scope: 'col', className: 'num', text: t('roll.col_line') }), h('th', { scope: 'col', text: t('roll.col_reason') }))),
                  h('tbody', {}, rejected.map((r) => h('tr', { dataset: { line: String(r.line) } }, h('td', { className: 'num', text: formatNumber(Number(r.line)) }), h('td', { text: r.reason })))),
                ),
              ),
            ]
          : h('p', { className: 'muted', id: 'roll-no-rejected', text: t('roll.no_rejected') }),
        h('p', { className: 'hint', id: 'roll-import-hint', text: rejected.length ? t('roll.import_blocked') : t('roll.import_hint') }),
        h('div', { className: 'actions' }, importButton),
      );
      document.getElementById('roll-report-heading').focus();
    };

    const form = h(
      'form',
      { className: 'form', id: 'roll-upload', novalidate: true, 'aria-labelledby': 'roll-import-heading' },
      h(
        'div',
        { className: 'field' },
        h('label', { for: fileId, text: t('roll.file') }),
        h('p', { id: `${fileId}-hint`, className: 'hint', text: t('roll.file_hint') }),
        file,
        fileError,
      ),
      h('div', { className: 'actions' }, check),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      setError(fileError, '');
      file.removeAttribute('aria-invalid');
      const chosen = file.files && file.files[0];
      if (!chosen) {
        file.setAttribute('aria-invalid', 'true');
        setError(fileError, t('roll.choose_file'));
        file.focus();
        return;
      }
      setBusy(check, true, t('roll.checking'));
      try {
        const text = await chosen.text();
        const { data } = await api.importRoll(token(), election.id, text, true);
        checked = text;
        showReport(data);
      } catch (err) {
        if (shell.handleSessionError(err)) return;
        put(report);
        file.setAttribute('aria-invalid', 'true');
        setError(fileError, adminMessage(err));
        file.focus();
      } finally {
        setBusy(check, false);
      }
    });
    importCard = h(
      'section',
      { className: 'card', 'aria-labelledby': 'roll-import-heading', id: 'roll-import-card' },
      h('h2', { id: 'roll-import-heading', text: t('roll.import_title') }),
      h('p', { text: t('roll.import_intro') }),
      h('pre', { className: 'code-block', id: 'roll-format', text: 'email,name,external_id,weight,groups\nada@example.org,Ada Lovelace,M-001,1,North;Board' }),
      form,
      report,
    );
  } else {
    importCard = h(
      'section',
      { className: 'card', 'aria-labelledby': 'roll-frozen-heading', id: 'roll-frozen' },
      h('h2', { id: 'roll-frozen-heading', text: t('roll.frozen_title') }),
      h('p', { text: t('roll.frozen_text') }),
      election.roll_fingerprint ? fingerprintLine(election.roll_fingerprint, 'roll-fingerprint') : null,
    );
  }

  /* ---------------------------------------------------------------- invitations */

  async function queue(kind, email) {
    const texts = {
      invitations: { title: t('roll.send.title'), text: t('roll.send.text'), ok: t('roll.send.ok') },
      reminders: { title: t('roll.remind.title'), text: t('roll.remind.text'), ok: t('roll.remind.ok') },
      resend: { title: t('roll.resend.title', { email }), text: t('roll.resend.text'), ok: t('roll.resend.ok') },
    }[kind];
    if (!(await confirmDialog(texts))) return false;
    setError(actionError, '');
    try {
      const { data } =
        kind === 'invitations'
          ? await api.sendInvitations(token(), election.id)
          : kind === 'reminders'
            ? await api.sendReminders(token(), election.id)
            : await api.resendInvitation(token(), election.id, email);
      const n = Number(data?.queued) || 0;
      shell.setStatus(kind === 'resend' ? t('roll.resend.done', { email }) : t(`roll.${kind === 'invitations' ? 'send' : 'remind'}.done`, { n }));
      await refreshDeliveries();
      return true;
    } catch (err) {
      if (shell.handleSessionError(err)) return false;
      setError(actionError, err instanceof ApiError && err.code === 'not_found' ? t('roll.resend.not_on_roll', { email }) : adminMessage(err));
      return false;
    }
  }

  const invitationsCard = h(
    'section',
    { className: 'card', 'aria-labelledby': 'roll-invitations-heading', id: 'roll-invitations' },
    h('h2', { id: 'roll-invitations-heading', text: t('roll.invitations_title') }),
    sending
      ? [
          h('p', { text: t('roll.invitations_intro') }),
          h(
            'div',
            { className: 'actions' },
            h('button', { type: 'button', id: 'roll-send', className: 'button button-primary', text: t('roll.send.button'), onclick: () => queue('invitations') }),
            h('button', { type: 'button', id: 'roll-remind', className: 'button button-secondary', text: t('roll.remind.button'), onclick: () => queue('reminders') }),
          ),
        ]
      : h('p', { className: 'muted', id: 'roll-invitations-later', text: t(election.state === 'draft' ? 'roll.invitations_after_schedule' : 'roll.invitations_over') }),
  );

  /* ---------------------------------------------------------------- turnout per group */

  const turnoutSummary = h('p', { className: 'turnout-figure', id: 'roll-turnout-figure', text: '…' });
  const turnoutUpdated = h('p', { className: 'muted', id: 'roll-turnout-updated' });
  const chart = h('div', { className: 'bars', id: 'roll-turnout-chart', 'aria-hidden': 'true' });
  const turnoutBody = h('tbody');
  const turnoutCard = h(
    'section',
    { className: 'card', 'aria-labelledby': 'roll-turnout-heading', id: 'roll-turnout' },
    h('h2', { id: 'roll-turnout-heading', text: t('roll.turnout_title') }),
    turnoutSummary,
    chart,
    h(
      'div',
      { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'roll-turnout-caption' },
      h(
        'table',
        { className: 'data-table', id: 'roll-turnout-table' },
        h('caption', { id: 'roll-turnout-caption', text: t('roll.turnout_caption') }),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t('roll.col_group') }), ['roll.col_eligible', 'roll.col_voted', 'roll.col_turnout'].map((k) => h('th', { scope: 'col', className: 'num', text: t(k) })))),
        turnoutBody,
      ),
    ),
    h('p', { className: 'muted', text: t('roll.turnout_private') }),
    turnoutUpdated,
  );

  async function refreshTurnout() {
    const { data } = await api.turnout(token(), election.id);
    const eligible = Number(data.eligible) || 0;
    const voted = Number(data.voted) || 0;
    turnoutSummary.textContent = t('roll.turnout_summary', { n: voted, eligible, percent: formatPercent((Number(data.percentage) || 0) / 100) });
    const groups = Array.isArray(data.groups) ? data.groups : [];
    const rows = [...groups, { group: null, eligible, voted, percentage: Number(data.percentage) || 0 }];
    const label = (g) => (g.group === null ? t('roll.all_voters') : g.group);
    put(
      chart,
      rows.map((g) => {
        const fill = h('span', { className: 'bar-fill' });
        fill.style.setProperty('width', `${Math.min(100, Math.max(0, Number(g.percentage) || 0)).toFixed(1)}%`);
        return h('div', { className: 'bar-row' }, h('span', { className: 'bar-label', text: label(g) }), h('span', { className: 'bar-track' }, fill), h('span', { className: 'bar-value', text: formatPercent((Number(g.percentage) || 0) / 100) }));
      }),
    );
    put(
      turnoutBody,
      rows.map((g) =>
        h(
          'tr',
          { dataset: { group: g.group ?? '' } },
          h('th', { scope: 'row', text: label(g) }),
          h('td', { className: 'num', text: formatNumber(Number(g.eligible) || 0) }),
          h('td', { className: 'num', text: formatNumber(Number(g.voted) || 0) }),
          h('td', { className: 'num', text: formatPercent((Number(g.percentage) || 0) / 100) }),
        ),
      ),
    );
    turnoutUpdated.textContent = t('home.last_updated', { time: formatTime(new Date()) });
  }

  /* ---------------------------------------------------------------- entries */

  const searchInput = h('input', { id: 'roll-search', type: 'search', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'roll-search-hint' });
  const tableBody = h('tbody');
  const pageInfo = h('p', { className: 'muted', id: 'roll-page-info', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', id: 'roll-prev', className: 'button button-secondary', text: t('roll.prev') });
  const next = h('button', { type: 'button', id: 'roll-next', className: 'button button-secondary', text: t('roll.next') });
  let deliveries = new Map();
  const entries = {
    cursors: [undefined],
    page: 0,
    next: null,
    search: '',
    rows: new Map(),
    async load() {
      const { data } = await api.roll(token(), election.id, { search: this.search, after: this.cursors[this.page], limit: PAGE });
      const list = Array.isArray(data.entries) ? data.entries : [];
      this.next = data.next_after ?? null;
      this.rows = new Map();
      put(
        tableBody,
        list.map((e) => {
          const voted = h('td', { dataset: { voted: String(Boolean(e.voted)) }, text: e.voted ? t('roll.voted_yes') : t('roll.voted_no') });
          const status = h('td', { className: 'delivery' });
          const row = h(
            'tr',
            { dataset: { email: e.email } },
            h('th', { scope: 'row', text: e.email }),
            h('td', { text: e.name || '–' }),
            h('td', { text: (e.groups || []).join(', ') || '–' }),
            h('td', { className: 'num', text: e.weight }),
            voted,
            status,
            sending
              ? h('td', {}, h('button', { type: 'button', className: 'button button-secondary button-small', dataset: { resend: e.email }, 'aria-label': t('roll.resend.label', { email: e.email }), text: t('roll.resend.button'), onclick: () => queue('resend', e.email) }))
              : null,
          );
          this.rows.set(e.email, { voted, status });
          return row;
        }),
      );
      if (!list.length) put(tableBody, h('tr', {}, h('td', { colspan: sending ? 7 : 6, className: 'muted', id: 'roll-empty', text: this.search ? t('roll.no_match') : t('roll.empty') })));
      paintDeliveries();
      pageInfo.textContent = t('roll.page_info', { page: this.page + 1, n: list.length });
      prev.disabled = this.page === 0;
      next.disabled = !this.next;
    },
    async reload() {
      this.cursors = [undefined];
      this.page = 0;
      await this.load();
    },
    /** The current page again, changing only the participation cells (focus stays where it is). */
    async refreshVoted() {
      const { data } = await api.roll(token(), election.id, { search: this.search, after: this.cursors[this.page], limit: PAGE });
      for (const e of data.entries || []) {
        const row = this.rows.get(e.email);
        if (!row) continue;
        const text = e.voted ? t('roll.voted_yes') : t('roll.voted_no');
        if (row.voted.textContent !== text) {
          row.voted.textContent = text;
          row.voted.dataset.voted = String(Boolean(e.voted));
        }
      }
    },
  };

  function paintDeliveries() {
    for (const [email, row] of entries.rows) {
      const d = deliveries.get(email);
      const text = deliveryText(d);
      const reply = d?.state === 'failed' && d.last_error ? d.last_error : '';
      if (row.status.dataset.state === (d?.state ?? 'none') && row.status.dataset.text === text + reply) continue;
      row.status.dataset.state = d?.state ?? 'none';
      row.status.dataset.text = text + reply;
      put(row.status, h('span', { className: `badge badge-delivery-${d?.state ?? 'none'}`, text }), reply ? h('span', { className: 'delivery-reply', text: t('roll.delivery.reply', { reply }) }) : null);
    }
  }

  async function refreshDeliveries() {
    const { data } = await api.deliveries(token(), election.id);
    const map = new Map();
    // Latest first per voter: the first one seen is the one that counts.
    for (const d of Array.isArray(data) ? data : []) if (!map.has(d.email)) map.set(d.email, d);
    deliveries = map;
    paintDeliveries();
  }

  const searchForm = h(
    'form',
    { className: 'form search-form', id: 'roll-search-form', role: 'search', 'aria-labelledby': 'roll-entries-heading' },
    h('div', { className: 'field' }, h('label', { for: 'roll-search', text: t('roll.search') }), h('p', { className: 'hint', id: 'roll-search-hint', text: t('roll.search_hint') }), searchInput),
    h('div', { className: 'actions' }, h('button', { type: 'submit', id: 'roll-search-submit', className: 'button button-secondary', text: t('roll.search_submit') })),
  );
  searchForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    entries.search = searchInput.value.trim();
    await entries.reload();
  });
  prev.addEventListener('click', async () => {
    if (entries.page === 0) return;
    entries.page -= 1;
    await entries.load();
  });
  next.addEventListener('click', async () => {
    if (!entries.next) return;
    entries.page += 1;
    entries.cursors[entries.page] = entries.next;
    await entries.load();
  });

  const columns = ['roll.col_email', 'roll.col_name', 'roll.col_groups', 'roll.col_weight', 'roll.col_participation', 'roll.col_invitation'];
  const entriesCard = h(
    'section',
    { className: 'card', 'aria-labelledby': 'roll-entries-heading', id: 'roll-entries' },
    h('h2', { id: 'roll-entries-heading', text: t('roll.entries_title') }),
    h('p', { className: 'muted', text: t('roll.entries_private') }),
    searchForm,
    h(
      'div',
      { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'roll-entries-heading' },
      h(
        'table',
        { className: 'data-table', id: 'roll-table' },
        h('thead', {}, h('tr', {}, columns.map((k) => h('th', { scope: 'col', className: k === 'roll.col_weight' ? 'num' : null, text: t(k) })), sending ? h('th', { scope: 'col', text: t('roll.col_actions') }) : null)),
        tableBody,
      ),
    ),
    pageInfo,
    h('div', { className: 'actions' }, prev, next),
  );

  /* ---------------------------------------------------------------- exports */

  const exportStatus = h('p', { className: 'muted', id: 'roll-export-status', 'aria-live': 'polite' });
  const exporter = (id, path, filename, label) =>
    h('button', {
      type: 'button',
      id,
      className: 'button button-secondary',
      text: label,
      onclick: async () => {
        exportStatus.textContent = '';
        try {
          await download(path, token(), filename);
          exportStatus.textContent = t('roll.export_done', { file: filename });
        } catch (err) {
          if (shell.handleSessionError(err)) return;
          exportStatus.textContent = err instanceof ApiError ? err.message : unavailableMessage();
        }
      },
    });
  const exportsCard = h(
    'section',
    { className: 'card', 'aria-labelledby': 'roll-exports-heading', id: 'roll-exports' },
    h('h2', { id: 'roll-exports-heading', text: t('roll.exports_title') }),
    h(
      'div',
      { className: 'actions' },
      exporter('export-turnout', `/api/elections/${encodeURIComponent(election.id)}/turnout.csv`, `${election.slug}-turnout.csv`, t('roll.export_turnout')),
      exporter('export-failures', `/api/elections/${encodeURIComponent(election.id)}/invitations/failures.csv`, `${election.slug}-failures.csv`, t('roll.export_failures')),
    ),
    exportStatus,
  );

  put(shell.view, back, actionError, importCard, invitationsCard, turnoutCard, entriesCard, exportsCard);
  await Promise.all([entries.load(), refreshTurnout(), refreshDeliveries()]);

  stopRollTimer();
  timer = window.setInterval(async () => {
    if (!document.getElementById('roll-turnout')) {
      stopRollTimer();
      return;
    }
    if (document.visibilityState !== 'visible') return;
    try {
      await Promise.all([refreshTurnout(), refreshDeliveries(), entries.refreshVoted()]);
    } catch (err) {
      if (shell.handleSessionError(err)) stopRollTimer();
    }
  }, REFRESH_MS);
}

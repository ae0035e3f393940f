// The console's side of encrypted elections (docs/election-record.md): the Encryption card makes
// a draft roll election encrypted (trustees and threshold), and the Trustees card runs the key
// ceremony and the decryption without any other tool than the trustees' own offline commands:
// each trustee's public key in, keys.json out, the encrypted shares in, each trustee's
// shares-j.json out, after the close the record out and the partial decryptions in, with the
// status of every step. Downloads are fetched and saved as files (api.js `download`), so the
// strict CSP holds.

import { download, request, ApiError, unavailableMessage } from './api.js';
import { h, put, setError, setBusy, markInvalid } from './dom.js';
import { t } from './i18n.js';
import { isEncrypted, readBoard } from './encrypted.js';
import { confirmDialog, reloadDetail } from './admin.js';

const enc = encodeURIComponent;
/** securevote_crypto::MAX_TRUSTEES */
const MAX_TRUSTEES = 1000;

/** The server's words for a refusal (it names the field), or a plain sentence. */
function refusal(err) {
  if (!(err instanceof ApiError)) return unavailableMessage();
  if (err.status === 422 || err.status === 409 || err.status === 400) return t('trustees.refused', { detail: err.detail || err.message });
  return err.message;
}

function command(id, text) {
  return h('pre', { className: 'code-block command', id }, h('code', { text }));
}

/* ------------------------------------------------------------------ encryption settings */

/**
 * The form that makes the election encrypted (or changes its settings while no trustee key is
 * in): trustees and threshold, behind a confirmation saying what it means. Errors of the API are
 * tied to the field they name (`field` of the error body).
 */
function encryptionForm(election, shell, current) {
  const summary = h('div', { className: 'notice notice-error', id: 'encryption-error', role: 'alert', hidden: true });
  const numberField = (name, value, hint) => {
    const id = `encryption-${name}`;
    const input = h('input', { id, type: 'number', inputmode: 'numeric', min: 1, max: MAX_TRUSTEES, required: true, 'data-path': `encryption.${name}`, 'aria-describedby': `${id}-hint ${id}-error` });
    input.value = String(value);
    const error = h('p', { id: `${id}-error`, className: 'field-error', 'aria-live': 'polite', hidden: true });
    input.addEventListener('input', () => {
      markInvalid(input, false);
      setError(error, '');
    });
    return {
      input,
      error,
      node: h('div', { className: 'field' }, h('label', { for: id, text: t(`trustees.${name}_label`) }), h('p', { id: `${id}-hint`, className: 'hint', text: hint }), input, error),
    };
  };
  const trustees = numberField('trustees', current.trustees, t('trustees.trustees_hint'));
  const threshold = numberField('threshold', current.threshold, t('trustees.threshold_hint'));
  const byField = { 'encryption.trustees': trustees, 'encryption.threshold': threshold };
  const submit = h('button', { type: 'submit', id: 'encryption-save', className: 'button button-primary', text: t(isEncrypted(election) ? 'trustees.encryption_change' : 'trustees.encryption_save') });
  const form = h(
    'form',
    { className: 'form', id: 'encryption-form', novalidate: true, 'aria-labelledby': isEncrypted(election) ? 'encryption-change-heading' : 'encryption-heading' },
    summary,
    h('div', { className: 'field-row' }, trustees.node, threshold.node),
    h('div', { className: 'actions' }, submit),
  );

  const clear = () => {
    setError(summary, '');
    for (const f of [trustees, threshold]) {
      markInvalid(f.input, false);
      setError(f.error, '');
    }
  };
  const fail = (where, message) => {
    if (where) {
      markInvalid(where.input, true);
      setError(where.error, message);
      where.input.focus();
    } else {
      put(summary, h('p', { text: message }), h('p', {}, h('a', { href: `/admin/elections/${election.slug}/edit`, 'data-link': true, id: 'encryption-edit-link', text: t('trustees.encryption_edit') })));
      summary.hidden = false;
      summary.setAttribute('tabindex', '-1');
      summary.focus();
    }
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear();
    const n = Number(trustees.input.value);
    const k = Number(threshold.input.value);
    // Whole numbers here; the ranges are the API's to check (its error names the field).
    if (!Number.isInteger(n) || trustees.input.value.trim() === '') return fail(trustees, t('trustees.error_number'));
    if (!Number.isInteger(k) || threshold.input.value.trim() === '') return fail(threshold, t('trustees.error_number'));
    const confirmed = await confirmDialog({
      title: t('trustees.encrypt_confirm_title'),
      text: t('trustees.encrypt_confirm_text', { t: k, n }),
      ok: t('trustees.encrypt_confirm_ok'),
    });
    if (!confirmed) {
      submit.focus();
      return undefined;
    }
    setBusy(submit, true, t('form.saving'));
    try {
      await request(`/api/elections/${enc(election.id)}/encryption`, { method: 'PUT', token: shell.token(), body: { trustees: n, threshold: k } });
      shell.setStatus(t('trustees.encrypted_done', { t: k, n }));
      await reloadDetail(election.slug, shell, 'trustees-heading');
    } catch (err) {
      setBusy(submit, false);
      if (shell.handleSessionError(err)) return undefined;
      fail(err instanceof ApiError ? byField[err.field] : null, refusal(err));
    }
    return undefined;
  });
  return form;
}

/** The Encryption card of a draft roll election that is not encrypted (ELECTION_SECTIONS). */
export function encryptionSection(election, shell) {
  if (election.state !== 'draft' || election.eligibility !== 'roll' || isEncrypted(election)) return null;
  return h(
    'section',
    { className: 'card', id: 'encryption-card', 'aria-labelledby': 'encryption-heading' },
    h('h2', { id: 'encryption-heading', text: t('trustees.encryption_title') }),
    h('p', { text: t('trustees.encryption_intro') }),
    h('ul', {}, ['trustees.encryption_point_threshold', 'trustees.encryption_point_methods', 'trustees.encryption_point_fixed'].map((key) => h('li', { text: t(key) }))),
    encryptionForm(election, shell, { trustees: 3, threshold: 2 }),
  );
}

/* ------------------------------------------------------------------ uploads */

/**
 * A file input and a textarea for the JSON a trustee's command printed, and a button that sends
 * it with `send(value)` (which resolves to the message to announce). A refusal is shown under
 * the textarea, tied to it.
 */
function uploadForm(kind, { legend, hint, submitLabel, send }) {
  const id = `trustees-${kind}`;
  const file = h('input', { type: 'file', id: `${id}-file`, accept: 'application/json,.json' });
  const text = h('textarea', { id: `${id}-text`, rows: 5, className: 'code-input', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': `${id}-hint ${id}-error` });
  const error = h('p', { id: `${id}-error`, className: 'field-error', 'aria-live': 'polite', hidden: true });
  const button = h('button', { type: 'submit', id: `${id}-submit`, className: 'button button-primary', text: submitLabel });
  const clear = () => {
    markInvalid(text, false);
    setError(error, '');
  };
  const fail = (message) => {
    markInvalid(text, true);
    setError(error, message);
    text.focus();
  };
  text.addEventListener('input', clear);
  file.addEventListener('change', async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    text.value = await chosen.text();
    clear();
  });
  const form = h(
    'form',
    { className: 'form upload-form', id: `${id}-form`, novalidate: true },
    h(
      'fieldset',
      {},
      h('legend', { text: legend }),
      h('div', { className: 'field' }, h('label', { for: file.id, text: t('trustees.file') }), file),
      h('div', { className: 'field' }, h('label', { for: text.id, text: t('trustees.paste') }), h('p', { id: `${id}-hint`, className: 'hint', text: hint }), text, error),
      h('div', { className: 'actions' }, button),
    ),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear();
    if (!text.value.trim()) return fail(t('trustees.error_empty'));
    let value;
    try {
      value = JSON.parse(text.value);
    } catch (e) {
      return fail(t('trustees.error_json', { detail: e.message }));
    }
    setBusy(button, true, t('trustees.uploading'));
    try {
      await send(value);
    } catch (err) {
      setBusy(button, false);
      if (err?.sessionHandled) return undefined;
      fail(err instanceof ApiError || !err?.message ? refusal(err) : err.message);
    }
    return undefined;
  });
  return form;
}

/* ------------------------------------------------------------------ the Trustees card */

/** The Trustees card of an encrypted election's console page (ELECTION_SECTIONS). */
export function trusteesSection(election, shell) {
  if (!isEncrypted(election)) return null;
  const body = h('div', { id: 'trustees-body' }, h('p', { className: 'muted', text: t('enc.loading') }));
  const status = h('p', { className: 'muted', id: 'trustees-status', role: 'status' });
  const card = h(
    'section',
    { className: 'card', id: 'trustees-card', 'aria-labelledby': 'trustees-heading' },
    h('h2', { id: 'trustees-heading', tabindex: '-1', text: t('enc.trustees_title') }),
    body,
    status,
  );
  fillTrustees(election, shell, body, status);
  return card;
}

/** A step of the ceremony: its heading with a state badge ('done', 'todo', 'later'), then its content. */
function step(name, n, state, ...content) {
  return h(
    'li',
    { className: 'ceremony-step', id: `step-${name}`, dataset: { step: name, state } },
    h('h3', { id: `step-${name}-heading`, tabindex: '-1' }, t('trustees.step_n', { n }), ' ', t(`trustees.step_${name}`), ' ', h('span', { className: `badge badge-step-${state}`, id: `step-${name}-state`, text: t(`trustees.state_${state}`) })),
    content,
  );
}

async function fillTrustees(election, shell, body, status) {
  const token = shell.token();
  const id = election.id;
  const refill = async (message, focusIds) => {
    status.textContent = message;
    await fillTrustees(election, shell, body, status);
    const target = focusIds.map((f) => document.getElementById(f)).find(Boolean);
    if (target) target.focus();
  };
  /** A button saving `path` as `filename`. */
  const downloader = (buttonId, path, filename, label) => {
    const button = h('button', {
      type: 'button',
      id: buttonId,
      className: 'button button-secondary',
      text: label,
      onclick: async () => {
        setBusy(button, true, t('enc.downloading'));
        try {
          await download(path, token, filename);
          status.textContent = t('trustees.downloaded', { file: filename });
        } catch (err) {
          if (!shell.handleSessionError(err)) status.textContent = err instanceof ApiError ? err.message : unavailableMessage();
        } finally {
          setBusy(button, false);
        }
      },
    });
    return button;
  };
  const post = async (path, value) => {
    try {
      return await request(`/api/elections/${enc(id)}/${path}`, { method: 'POST', token, body: value });
    } catch (err) {
      if (shell.handleSessionError(err)) err.sessionHandled = true;
      throw err;
    }
  };

  try {
    const { data: ceremony } = await request(`/api/elections/${enc(id)}/ceremony`, { token });
    const n = ceremony.trustees;
    const threshold = ceremony.threshold;
    const keys = new Set(ceremony.keys || []);
    const keysDone = keys.size >= n;
    const sharesDone = keysDone && ceremony.shares >= ceremony.shares_expected;
    const draft = election.state === 'draft';
    let board = null;
    if (!draft) board = await readBoard(id);
    const lines = board?.lines || [];
    const decrypted = new Set(lines.filter((l) => l.event.type === 'partial_decryption').map((l) => l.event.trustee));
    const closed = lines.some((l) => l.event.type === 'close');
    const combined = lines.some((l) => l.event.type === 'result');

    const rows = [];
    for (let i = 1; i <= n; i += 1) {
      rows.push(
        h(
          'tr',
          { dataset: { trustee: String(i) } },
          h('th', { scope: 'row', text: t('enc.trustee_n', { n: i }) }),
          h('td', { dataset: { key: String(keys.has(i)) }, text: keys.has(i) ? t('enc.key_in') : t('enc.key_missing') }),
          closed ? h('td', { dataset: { decrypted: String(decrypted.has(i)) }, text: decrypted.has(i) ? t('enc.decryption_in') : t('enc.decryption_missing') }) : null,
        ),
      );
    }
    const facts = [
      h('p', { id: 'trustees-threshold', text: t('enc.threshold', { t: threshold, n }) }),
      h('p', {}, h('span', { className: 'receipt-label', text: t('trustees.election_id') }), ' ', h('code', { id: 'trustees-election-id', className: 'hash', text: id })),
    ];
    if (ceremony.public_key) facts.push(h('p', {}, h('span', { className: 'receipt-label', text: t('enc.public_key') }), ' ', h('code', { className: 'hash', id: 'trustees-public-key', text: ceremony.public_key })));
    if (ceremony.board_head) facts.push(h('p', {}, h('span', { className: 'receipt-label', text: t('enc.head_label') }), ' ', h('code', { className: 'hash', id: 'trustees-head', text: ceremony.board_head })));

    // 1. Public keys.
    const keyForm = draft && !keysDone
      ? uploadForm('key', {
          legend: t('trustees.key_legend'),
          hint: t('trustees.key_hint'),
          submitLabel: t('trustees.key_submit'),
          send: async (value) => {
            const { data } = await post('trustees', value);
            const index = Number(value?.index);
            const got = (data.keys || []).length;
            await refill(t('trustees.key_done', { i: index, got, n }), got >= n ? ['keys-download', 'step-shares-heading'] : ['trustees-key-text']);
          },
        })
      : null;
    const stepKeys = step(
      'keys',
      1,
      keysDone ? 'done' : 'todo',
      h('p', { id: 'trustees-keys', text: t('trustees.keys_in', { got: keys.size, n }) }),
      keysDone ? null : h('p', { text: t('trustees.keys_help') }),
      keysDone ? null : command('command-keygen', `securevote trustee keygen --election ${id} --index I --trustees ${n} --threshold ${threshold} --secret tI.secret`),
      keyForm,
      !draft || keysDone ? null : h('p', { className: 'muted', text: t('trustees.keys_fixed') }),
    );

    // 2. Encrypted shares: keys.json out, each trustee's shares in.
    const shareForm = keysDone && !sharesDone
      ? uploadForm('shares', {
          legend: t('trustees.shares_legend'),
          hint: t('trustees.shares_hint'),
          submitLabel: t('trustees.shares_submit'),
          send: async (value) => {
            const list = Array.isArray(value) ? value : [value];
            if (!list.length) throw new Error(t('trustees.error_empty'));
            let added = 0;
            let already = 0;
            let latest = null;
            for (const share of list) {
              try {
                latest = (await post('shares', share)).data;
                added += 1;
              } catch (err) {
                if (!(err instanceof ApiError && err.code === 'share_exists')) throw err;
                already += 1;
              }
            }
            const done = latest ? latest.shares >= latest.shares_expected : false;
            const from = Number(list[0]?.from);
            await refill(t('trustees.shares_done', { i: from, n: added, already }), done ? ['shares-download-1', 'step-finish-heading'] : ['trustees-shares-text']);
          },
        })
      : null;
    const stepShares = step(
      'shares',
      2,
      sharesDone ? 'done' : keysDone ? 'todo' : 'later',
      h('p', { id: 'trustees-shares', text: t('enc.shares', { shares: ceremony.shares, expected: ceremony.shares_expected }) }),
      keysDone
        ? [
            sharesDone ? null : h('p', { text: t('trustees.shares_help') }),
            h('div', { className: 'actions' }, downloader('keys-download', `/api/elections/${enc(id)}/trustees`, 'keys.json', t('trustees.keys_download'))),
            sharesDone ? null : command('command-shares', 'securevote trustee shares --secret tI.secret --keys keys.json'),
            shareForm,
          ]
        : h('p', { className: 'muted', text: t('trustees.shares_later') }),
    );

    // 3. Each trustee's key share, made offline from shares-j.json.
    const shareDownloads = [];
    for (let j = 1; j <= n; j += 1) {
      shareDownloads.push(downloader(`shares-download-${j}`, `/api/elections/${enc(id)}/shares?to=${j}`, `shares-${j}.json`, t('trustees.shares_download', { j })));
    }
    const stepFinish = step(
      'finish',
      3,
      sharesDone ? (draft ? 'todo' : 'done') : 'later',
      sharesDone
        ? (() => {
            const files = [
              h('p', { text: t('trustees.finish_help') }),
              h('div', { className: 'actions', id: 'shares-downloads' }, shareDownloads),
              command('command-finish', 'securevote trustee finish --secret tJ.secret --keys keys.json --shares shares-J.json --key-share tJ.key'),
            ];
            // Once scheduled, the files stay at hand (a trustee may still need theirs) but folded.
            if (!draft) return [h('p', { className: 'muted', text: t('trustees.finish_done') }), h('details', { className: 'ceremony-files' }, h('summary', { text: t('trustees.finish_files') }), files)];
            return [...files, h('p', { className: 'muted', id: 'trustees-schedule-hint', text: t('trustees.finish_schedule') })];
          })()
        : h('p', { className: 'muted', text: t('trustees.finish_later') }),
    );

    // 4. After the close: the record out, the partial decryptions in, the result.
    const decryptionForm = closed && !combined
      ? uploadForm('decryption', {
          legend: t('trustees.decryption_legend'),
          hint: t('trustees.decryption_hint'),
          submitLabel: t('trustees.decryption_submit'),
          send: async (value) => {
            await post('decryptions', value);
            const got = decrypted.size + 1;
            await refill(t('trustees.decryption_done', { i: Number(value?.trustee), n: got, t: threshold }), got >= threshold ? ['trustees-result', 'step-decrypt-heading'] : ['trustees-decryption-text']);
          },
        })
      : null;
    const recordButton = downloader('board-download', `/api/elections/${enc(id)}/board/archive`, `${election.slug}-record.jsonl`, t('enc.download'));
    const stepDecrypt = step(
      'decrypt',
      4,
      combined ? 'done' : closed ? 'todo' : 'later',
      closed
        ? [
            h('p', { id: 'trustees-decryptions', text: t('enc.decryptions', { got: decrypted.size, t: threshold, n }) }),
            h('p', { id: 'trustees-result', tabindex: '-1', className: combined ? 'notice notice-success' : 'muted', text: t(combined ? 'enc.result_combined' : 'enc.result_waiting') }),
            combined ? h('p', { text: t('trustees.publish_hint') }) : h('p', { text: t('trustees.decrypt_help', { t: threshold }) }),
            combined ? null : command('command-decrypt', `securevote trustee decrypt --key-share tJ.key --record ${election.slug}-record.jsonl`),
            decryptionForm,
          ]
        : h('p', { className: 'muted', text: t('trustees.decrypt_later') }),
      draft ? null : h('div', { className: 'actions' }, recordButton),
    );

    const settings = draft && keys.size === 0
      ? h(
          'details',
          { className: 'encryption-change', id: 'encryption-change' },
          h('summary', { id: 'encryption-change-heading', text: t('trustees.encryption_change_summary') }),
          h('p', { className: 'muted', text: t('trustees.encryption_point_fixed') }),
          encryptionForm(election, shell, { trustees: n, threshold }),
        )
      : null;

    put(
      body,
      facts,
      settings,
      h(
        'div',
        { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'trustees-heading' },
        h(
          'table',
          { className: 'data-table', id: 'trustees-table' },
          h('caption', { text: t(closed ? 'enc.trustees_caption' : 'enc.trustees_caption_keys') }),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t('enc.trustee') }), h('th', { scope: 'col', text: t('enc.public_key_col') }), closed ? h('th', { scope: 'col', text: t('enc.decryption_col') }) : null)),
          h('tbody', {}, rows),
        ),
      ),
      h('ol', { className: 'ceremony-steps', id: 'ceremony-steps' }, stepKeys, stepShares, stepFinish, stepDecrypt),
    );
  } catch (err) {
    if (shell.handleSessionError(err)) return;
    put(body, h('p', { className: 'notice notice-error', role: 'alert', text: err instanceof ApiError ? err.message : unavailableMessage() }));
  }
}

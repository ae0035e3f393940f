// The exports card on an election's console page, once voting is over: the results as JSON (the
// full count of every contest) and, for each ranked contest, its ballots as a BLT file, which
// `securevote tally` or other counting programs (OpenSTV, OpaVote) count again.

import { ApiError, unavailableMessage, download } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';

const RANKED = new Set(['irv', 'stv-scottish', 'stv-meek', 'schulze', 'ranked-pairs', 'copeland', 'borda']);
const OVER = new Set(['closed', 'published', 'archived']);

/** `(election, shell) => Node | null` for the console's ELECTION_SECTIONS. */
export function exportsSection(election, shell) {
  if (!OVER.has(election.state)) return null;
  const id = encodeURIComponent(election.id);
  const status = h('p', { className: 'muted', id: 'election-export-status', 'aria-live': 'polite' });
  const exporter = (buttonId, path, filename, label) =>
    h('button', {
      type: 'button',
      id: buttonId,
      className: 'button button-secondary',
      text: label,
      onclick: async () => {
        status.textContent = '';
        try {
          await download(path, shell.token(), filename);
          status.textContent = t('exports.done', { file: filename });
        } catch (err) {
          if (shell.handleSessionError(err)) return;
          status.textContent = err instanceof ApiError && err.status === 403 ? t('exports.embargoed') : err instanceof ApiError ? err.message : unavailableMessage();
        }
      },
    });
  const ranked = (election.contests || []).filter((c) => RANKED.has(c.method));
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'election-exports-heading', id: 'election-exports' },
    h('h2', { id: 'election-exports-heading', text: t('exports.title') }),
    h('p', { className: 'muted', text: t('exports.help') }),
    h(
      'div',
      { className: 'actions' },
      exporter('export-results', `/api/elections/${id}/results`, `${election.slug}-results.json`, t('exports.results')),
      ranked.map((contest, index) =>
        exporter(
          `export-blt-${index}`,
          `/api/elections/${id}/contests/${encodeURIComponent(contest.id)}/ballots.blt`,
          `${election.slug}-${index + 1}.blt`,
          t('exports.blt', { contest: contest.title }),
        ),
      ),
    ),
    status,
  );
}

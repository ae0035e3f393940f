// Results of one election, per contest: bars with the same numbers as a table for the methods
// counted per choice (plurality, approval), and the count's rounds as a table when the server
// sends the method's full count: for IRV/STV a chart of the rounds (the table carries the same
// numbers), for the Condorcet methods the pairwise matrix. Further parts plug into COUNT_PARTS.

import { h } from './dom.js';
import { t, formatNumber, formatPercent } from './i18n.js';

const num = (value) => {
  const n = Number(value);
  return Number.isFinite(n) ? formatNumber(n, { maximumFractionDigits: 5 }) : String(value ?? '');
};

export function methodName(method) {
  return t(`method.${method}`);
}

function choiceTable(contest, ballots) {
  const rows = contest.results.map((r) =>
    h(
      'tr',
      { dataset: { choiceId: r.choice_id } },
      h('th', { scope: 'row' }, r.party ? `${r.name} (${r.party})` : r.name),
      h('td', { className: 'num', text: formatNumber(Number(r.votes) || 0) }),
      h('td', { className: 'num', text: formatPercent(ballots > 0 ? (Number(r.votes) || 0) / ballots : 0) }),
    ),
  );
  return h(
    'table',
    { className: 'data-table' },
    h('caption', { text: t('results.table_caption', { contest: contest.title }) }),
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col', text: t('results.choice') }), h('th', { scope: 'col', className: 'num', text: t('results.votes') }), h('th', { scope: 'col', className: 'num', text: t('results.share') })),
    ),
    h('tbody', {}, rows),
  );
}

function bars(contest, ballots) {
  const top = Math.max(1, ...contest.results.map((r) => Number(r.votes) || 0));
  // The table after the chart carries the same numbers for assistive technology.
  return h(
    'div',
    { className: 'bars', 'aria-hidden': 'true' },
    contest.results.map((r) => {
      const votes = Number(r.votes) || 0;
      const fill = h('span', { className: 'bar-fill' });
      fill.style.setProperty('width', `${((votes / top) * 100).toFixed(2)}%`);
      return h(
        'div',
        { className: 'bar-row' },
        h('span', { className: 'bar-label', text: r.name }),
        h('span', { className: 'bar-track' }, fill),
        h('span', { className: 'bar-value', text: `${formatNumber(votes)} · ${formatPercent(ballots > 0 ? votes / ballots : 0)}` }),
      );
    }),
  );
}

function roundsTable(contest, count) {
  const rounds = Array.isArray(count.rounds) ? count.rounds : [];
  const names = Array.isArray(count.choices) ? count.choices.map((c) => c.name) : [];
  const cell = (round, name) => {
    const row = (round.votes || []).find((v) => v.choice === name);
    if (!row) return h('td', { className: 'num muted', text: '–' });
    const parts = [row.votes !== undefined ? num(row.votes) : ''];
    const transfer = Number(row.transfer);
    if (row.transfer !== undefined && transfer !== 0) parts.push(` (${transfer > 0 ? '+' : ''}${num(row.transfer)})`);
    return h('td', { className: 'num', text: parts.join('') });
  };
  const decided = (round) => {
    const bits = [];
    for (const d of round.elected || []) bits.push(t('results.round_elected', { name: d.choice }));
    for (const d of round.excluded || []) bits.push(t('results.round_excluded', { name: d.choice }));
    return bits.join(' ');
  };
  return h(
    'div',
    { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('results.rounds_caption', { contest: contest.title }) },
    h(
      'table',
      { className: 'data-table rounds-table' },
      h('caption', { text: t('results.rounds_caption', { contest: contest.title }) }),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col', text: t('results.choice') }), rounds.map((r) => h('th', { scope: 'col', className: 'num', text: t('results.round', { n: r.round }) }))),
      ),
      h(
        'tbody',
        {},
        names.map((name) => h('tr', {}, h('th', { scope: 'row', text: name }), rounds.map((r) => cell(r, name)))),
        rounds.some((r) => r.exhausted !== undefined)
          ? h('tr', {}, h('th', { scope: 'row', text: t('results.exhausted') }), rounds.map((r) => h('td', { className: 'num', text: r.exhausted !== undefined ? num(r.exhausted) : '–' })))
          : null,
        h('tr', {}, h('th', { scope: 'row', text: t('results.decision') }), rounds.map((r) => h('td', { text: decided(r) || '–' }))),
      ),
    ),
  );
}

/** The votes of each choice in each round, as bars (hidden from assistive technology: the rounds
 * table has the same numbers). Only for counts that transfer votes between rounds. */
function roundsChart(contest, count) {
  const rounds = Array.isArray(count.rounds) ? count.rounds : [];
  const transfers = rounds.some((r) => (r.votes || []).some((v) => v.transfer !== undefined));
  if (rounds.length < 2 || !transfers) return null;
  const votesOf = (round, name) => Number((round.votes || []).find((v) => v.choice === name)?.votes);
  const names = Array.isArray(count.choices) ? count.choices.map((c) => c.name) : [];
  const top = Math.max(1, ...rounds.flatMap((r) => names.map((n) => votesOf(r, n) || 0)));
  return h(
    'figure',
    { className: 'rounds-chart' },
    h('figcaption', { text: t('results.rounds_chart_caption', { contest: contest.title }) }),
    h(
      'div',
      { className: 'rounds-chart-grid', 'aria-hidden': 'true' },
      rounds.map((round) =>
        h(
          'div',
          { className: 'rounds-chart-round' },
          h('p', { className: 'rounds-chart-title', text: t('results.round', { n: round.round }) }),
          h(
            'div',
            { className: 'bars' },
            names
              .filter((name) => Number.isFinite(votesOf(round, name)))
              .map((name) => {
                const votes = votesOf(round, name);
                const fill = h('span', { className: 'bar-fill' });
                fill.style.setProperty('width', `${((votes / top) * 100).toFixed(2)}%`);
                return h(
                  'div',
                  { className: 'bar-row' },
                  h('span', { className: 'bar-label', text: name }),
                  h('span', { className: 'bar-track' }, fill),
                  h('span', { className: 'bar-value', text: num(votes) }),
                );
              }),
          ),
        ),
      ),
    ),
  );
}

/** The pairwise matrix of a Condorcet count (its last round that has one): the ballots that
 * prefer the row's choice to the column's; a win is marked in words, not only by colour. */
function pairwiseMatrix(contest, count) {
  const rounds = Array.isArray(count.rounds) ? count.rounds : [];
  const round = [...rounds].reverse().find((r) => Array.isArray(r.pairwise));
  if (!round) return null;
  const names = Array.isArray(count.choices) ? count.choices.map((c) => c.name) : [];
  const d = round.pairwise;
  const cell = (a, b) => {
    if (a === b) return h('td', { className: 'num muted', text: '–' });
    const mine = Number(d[a]?.[b]);
    const theirs = Number(d[b]?.[a]);
    const outcome = mine > theirs ? 'win' : mine < theirs ? 'loss' : 'tie';
    return h(
      'td',
      { className: `num pairwise-${outcome}`, dataset: { outcome } },
      num(d[a]?.[b]),
      h('span', { className: 'pairwise-outcome', text: ` ${t(`results.pairwise_${outcome}`)}` }),
    );
  };
  return h(
    'div',
    { className: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('results.pairwise_caption', { contest: contest.title }) },
    h(
      'table',
      { className: 'data-table pairwise-table' },
      h('caption', {}, t('results.pairwise_caption', { contest: contest.title }), h('span', { className: 'caption-note', text: t('results.pairwise_help') })),
      h('thead', {}, h('tr', {}, h('td', {}), names.map((name) => h('th', { scope: 'col', text: t('results.pairwise_over', { name }) })))),
      h('tbody', {}, names.map((name, a) => h('tr', {}, h('th', { scope: 'row', text: name }), names.map((_, b) => cell(a, b))))),
    ),
  );
}

/** Further parts of a count, each `(contest, count) => Node | null`. */
export const COUNT_PARTS = [roundsChart, pairwiseMatrix];

function countView(contest, count) {
  const parts = [];
  if (Array.isArray(count.elected) && count.elected.length) {
    parts.push(h('p', { className: 'elected' }, h('strong', { text: t('results.elected', { n: count.elected.length }) }), ' ', count.elected.join(', ')));
  }
  if (count.quota !== undefined && count.quota !== null) parts.push(h('p', { text: t('results.quota', { quota: num(count.quota) }) }));
  // A single round of a method counted per choice says no more than the table above.
  const perChoice = Array.isArray(contest.results) && contest.results.length > 0;
  // A count whose rounds hold no votes (a Condorcet count: its pairwise matrix follows) has no table.
  const withVotes = Array.isArray(count.rounds) && count.rounds.some((r) => (r.votes || []).length > 0);
  if (withVotes && (count.rounds.length > 1 || !perChoice)) parts.push(roundsTable(contest, count));
  if (Array.isArray(count.ties) && count.ties.length) {
    parts.push(
      h('ul', { className: 'tie-notes' }, count.ties.map((tie) => h('li', { text: t('results.tie', { tied: (tie.tied || []).join(', '), chosen: tie.chosen, how: tie.resolved_by }) }))),
    );
  }
  for (const part of COUNT_PARTS) {
    const node = part(contest, count);
    if (node) parts.push(node);
  }
  return parts;
}

/** The results of every contest; `results` is the body of GET /api/elections/{id}/results. */
export function resultsView(results) {
  const ballots = Number(results.ballots) || 0;
  return h(
    'div',
    { className: 'results-view' },
    h('p', { className: 'results-total', id: 'election-ballots', text: t('results.ballots', { n: ballots }) }),
    (results.contests || []).map((contest, index) => {
      const headingId = `result-contest-${index}`;
      const body = [];
      if (Array.isArray(contest.results) && contest.results.length) {
        body.push(bars(contest, ballots), choiceTable(contest, ballots));
      }
      if (contest.count && typeof contest.count === 'object') body.push(...countView(contest, contest.count));
      if (!body.length) body.push(h('p', { className: 'muted', text: t('results.count_pending') }));
      return h(
        'section',
        { className: 'card result-contest', 'aria-labelledby': headingId, dataset: { contestId: contest.contest_id } },
        h('h2', { id: headingId, text: contest.title }),
        h('p', { className: 'muted', text: t('results.method_line', { method: methodName(contest.method), seats: contest.seats, n: contest.seats }) }),
        body,
      );
    }),
  );
}

// A ranked-choice ballot control: the voter orders choices by drag and drop, or with the
// keyboard and a screen reader through "Add", "Move up", "Move down" and "Remove" buttons on
// every choice. Every change is announced in a polite live region.

import { h, put, newId } from './dom.js';
import { t } from './i18n.js';

/**
 * @param {{choices: Array<{id:string, name:string, party?:string|null}>, describedBy: string, onChange?: () => void}} opts
 * @returns {{node: HTMLElement, value: () => string[], set: (ids: string[]) => void}}
 */
export function rankedControl({ choices, describedBy, onChange = () => {} }) {
  const byId = new Map(choices.map((c) => [c.id, c]));
  /** @type {string[]} */
  let ranking = [];
  const rankedId = newId('ranked');
  const unrankedId = newId('unranked');
  const live = h('p', { className: 'visually-hidden', 'aria-live': 'polite' });
  const rankedList = h('ol', { className: 'ranked-list', 'aria-labelledby': `${rankedId}-label` });
  const unrankedList = h('ul', { className: 'unranked-list', 'aria-labelledby': `${unrankedId}-label` });
  const empty = h('p', { className: 'muted ranked-empty', text: t('ranked.empty') });
  let dragged = null;

  const label = (c) => (c.party ? `${c.name} (${c.party})` : c.name);

  function announce(message) {
    // Clear first so that the same message twice is read twice.
    live.textContent = '';
    window.setTimeout(() => {
      live.textContent = message;
    }, 30);
  }

  function button(text, aria, onClick, { disabled = false, action }) {
    return h(
      'button',
      { type: 'button', className: 'button button-secondary button-small', 'aria-label': aria, disabled, dataset: { action }, onclick: onClick },
      text,
    );
  }

  function focusAction(id, preferred) {
    const item = (rankedList.querySelector(`[data-choice-id="${CSS.escape(id)}"]`) || unrankedList.querySelector(`[data-choice-id="${CSS.escape(id)}"]`));
    if (!item) return;
    for (const action of preferred) {
      const target = item.querySelector(`button[data-action="${action}"]`);
      if (target && !target.disabled) {
        target.focus();
        return;
      }
    }
  }

  function move(id, delta) {
    const from = ranking.indexOf(id);
    const to = from + delta;
    if (from < 0 || to < 0 || to >= ranking.length) return;
    ranking.splice(from, 1);
    ranking.splice(to, 0, id);
    render();
    focusAction(id, delta < 0 ? ['up', 'down'] : ['down', 'up']);
    announce(t('ranked.moved', { name: byId.get(id).name, position: to + 1, n: ranking.length }));
    onChange();
  }

  function add(id) {
    if (ranking.includes(id)) return;
    const remaining = choices.filter((c) => !ranking.includes(c.id) && c.id !== id);
    ranking.push(id);
    render();
    if (remaining.length) focusAction(remaining[0].id, ['add']);
    else focusAction(id, ['up', 'remove']);
    announce(t('ranked.added', { name: byId.get(id).name, position: ranking.length }));
    onChange();
  }

  function remove(id) {
    const at = ranking.indexOf(id);
    if (at < 0) return;
    ranking.splice(at, 1);
    render();
    const next = ranking[at] ?? ranking[at - 1];
    if (next) focusAction(next, ['remove']);
    else focusAction(id, ['add']);
    announce(t('ranked.removed', { name: byId.get(id).name }));
    onChange();
  }

  function dropAt(id, index) {
    const from = ranking.indexOf(id);
    if (from >= 0) {
      ranking.splice(from, 1);
      if (from < index) index -= 1;
    }
    ranking.splice(Math.max(0, Math.min(index, ranking.length)), 0, id);
    render();
    announce(t('ranked.moved', { name: byId.get(id).name, position: ranking.indexOf(id) + 1, n: ranking.length }));
    onChange();
  }

  function dragHandlers(id) {
    return {
      draggable: 'true',
      ondragstart: (event) => {
        dragged = id;
        event.dataTransfer.effectAllowed = 'move';
        event.dataTransfer.setData('text/plain', id);
        event.currentTarget.classList.add('is-dragging');
      },
      ondragend: (event) => {
        dragged = null;
        event.currentTarget.classList.remove('is-dragging');
      },
    };
  }

  function render() {
    const total = ranking.length;
    put(rankedList, 
      ...ranking.map((id, index) => {
        const c = byId.get(id);
        return h(
          'li',
          { className: 'ranked-item', dataset: { choiceId: id }, ...dragHandlers(id) },
          h('span', { className: 'rank-number', 'aria-hidden': 'true', text: String(index + 1) }),
          h('span', { className: 'ranked-name' }, h('span', { className: 'visually-hidden', text: t('ranked.position', { position: index + 1 }) }), label(c)),
          h(
            'span',
            { className: 'ranked-actions' },
            button(t('ranked.up'), t('ranked.up_named', { name: c.name }), () => move(id, -1), { disabled: index === 0, action: 'up' }),
            button(t('ranked.down'), t('ranked.down_named', { name: c.name }), () => move(id, 1), { disabled: index === total - 1, action: 'down' }),
            button(t('ranked.remove'), t('ranked.remove_named', { name: c.name }), () => remove(id), { action: 'remove' }),
          ),
        );
      }),
    );
    empty.hidden = total > 0;
    const unranked = choices.filter((c) => !ranking.includes(c.id));
    put(unrankedList, 
      ...unranked.map((c) =>
        h(
          'li',
          { className: 'unranked-item', dataset: { choiceId: c.id }, ...dragHandlers(c.id) },
          h('span', { className: 'ranked-name', text: label(c) }),
          h('span', { className: 'ranked-actions' }, button(t('ranked.add'), t('ranked.add_named', { name: c.name }), () => add(c.id), { action: 'add' })),
        ),
      ),
    );
    unrankedSection.hidden = unranked.length === 0;
  }

  rankedList.addEventListener('dragover', (event) => {
    if (!dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'move';
  });
  rankedList.addEventListener('drop', (event) => {
    if (!dragged) return;
    event.preventDefault();
    const items = [...rankedList.children];
    let index = items.length;
    for (let i = 0; i < items.length; i += 1) {
      const box = items[i].getBoundingClientRect();
      if (event.clientY < box.top + box.height / 2) {
        index = i;
        break;
      }
    }
    dropAt(dragged, index);
  });
  unrankedList.addEventListener('dragover', (event) => {
    if (dragged && ranking.includes(dragged)) event.preventDefault();
  });
  unrankedList.addEventListener('drop', (event) => {
    if (!dragged || !ranking.includes(dragged)) return;
    event.preventDefault();
    remove(dragged);
  });

  const unrankedSection = h(
    'div',
    { className: 'ranked-section' },
    h('p', { id: `${unrankedId}-label`, className: 'ranked-label', text: t('ranked.unranked_label') }),
    unrankedList,
  );
  const node = h(
    'div',
    { className: 'ranked', 'aria-describedby': describedBy },
    h('p', { className: 'hint', text: t('ranked.how') }),
    h(
      'div',
      { className: 'ranked-section' },
      h('p', { id: `${rankedId}-label`, className: 'ranked-label', text: t('ranked.ranked_label') }),
      rankedList,
      empty,
    ),
    unrankedSection,
    live,
  );
  render();
  return {
    node,
    value: () => [...ranking],
    set(ids) {
      ranking = ids.filter((id) => byId.has(id));
      render();
    },
  };
}

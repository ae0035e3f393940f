// Messages and formats for the UI. One catalogue per language in /i18n/<code>.json; the language is
// the visitor's choice (remembered in localStorage), else the browser's preferred languages
// (navigator.languages, which is what the browser sends as Accept-Language), else English.
//
// A message is a string with {name} placeholders, or an object of plural forms keyed by
// Intl.PluralRules categories ("one", "other", ...) chosen by the parameter `n`.

export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'de', name: 'Deutsch' },
  { code: 'fr', name: 'Français' },
];
const LANG_KEY = 'securevote.lang';

let locale = 'en';
let messages = {};
let plurals = new Intl.PluralRules('en');

function stored() {
  try {
    return window.localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

/** The language to use: remembered choice, then the browser's list, then English. */
export function chooseLanguage() {
  const known = new Set(LANGUAGES.map((l) => l.code));
  const remembered = stored();
  if (remembered && known.has(remembered)) return remembered;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language || 'en'];
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (known.has(base)) return base;
  }
  return 'en';
}

export function rememberLanguage(code) {
  try {
    window.localStorage.setItem(LANG_KEY, code);
  } catch {
    // storage unavailable: the choice lasts for this page only
  }
}

export async function loadMessages(code) {
  const response = await fetch(`/i18n/${code}.json`, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`catalogue ${code}: HTTP ${response.status}`);
  return response.json();
}

export async function initI18n() {
  const code = chooseLanguage();
  try {
    messages = await loadMessages(code);
    locale = code;
  } catch {
    messages = await loadMessages('en').catch(() => ({}));
    locale = 'en';
  }
  plurals = new Intl.PluralRules(locale);
  document.documentElement.lang = locale;
  return locale;
}

export function currentLanguage() {
  return locale;
}

/** The message `key` with `params` filled in; numbers are formatted for the locale. */
export function t(key, params = {}) {
  let message = messages[key];
  if (message === undefined) return key;
  if (typeof message === 'object' && message !== null) {
    const n = Number(params.n ?? 0);
    message = message[plurals.select(n)] ?? message.other ?? '';
  }
  return String(message).replace(/\{(\w+)\}/g, (whole, name) => {
    if (!Object.hasOwn(params, name)) return whole;
    const value = params[name];
    return typeof value === 'number' ? formatNumber(value) : String(value);
  });
}

/**
 * Fills static markup: `data-i18n="key"` sets the text, `data-i18n-attr="attr:key attr2:key2"`
 * sets attributes.
 */
export function applyStatic(root = document) {
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of node.dataset.i18nAttr.split(/\s+/).filter(Boolean)) {
      const [attr, key] = pair.split(':');
      node.setAttribute(attr, t(key));
    }
  }
}

export function formatNumber(n, options = {}) {
  return new Intl.NumberFormat(locale, options).format(n);
}

export function formatPercent(fraction) {
  return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(fraction);
}

/** A date and time; in `timeZone` (an IANA name) when given, else the visitor's own zone. */
export function formatDateTime(iso, timeZone) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso ?? '');
  if (!timeZone) return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
  // dateStyle/timeStyle cannot be combined with a zone name, so the parts are named one by one.
  const options = { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZone, timeZoneName: 'short' };
  try {
    return new Intl.DateTimeFormat(locale, options).format(d);
  } catch {
    delete options.timeZone;
    return new Intl.DateTimeFormat(locale, options).format(d);
  }
}

export function formatTime(date) {
  return new Intl.DateTimeFormat(locale, { timeStyle: 'medium' }).format(date);
}

/** The visitor's own time zone. */
export function ownTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

// Building DOM without HTML strings: every text a server sends is set as text, so record
// values and error messages can never become markup.

const PROPERTIES = new Set(['value', 'checked', 'selected', 'disabled', 'indeterminate', 'multiple']);

/** An element: `h('button', {class: 'primary', onclick}, 'Save')`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === 'class') {
        el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
      } else if (key === 'dataset') {
        Object.assign(el.dataset, value);
      } else if (PROPERTIES.has(key)) {
        el[key] = value;
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, strings, numbers, nested arrays; null and false are skipped). */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces everything inside `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * Markup parsed where it can do nothing: a template's content belongs to an inert document,
 * so no script runs, no image loads and no event handler fires (a DOMParser document still
 * tries to load images, and their error handlers then trip the page's CSP).
 */
export function inertFragment(html) {
  const template = document.createElement('template');
  template.innerHTML = html;
  return template.content;
}

let idCounter = 0;
/** A document-unique id, for label/input pairs and aria references. */
export function uid(prefix = 'kb') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** An inline SVG icon from the small set below, hidden from screen readers. */
export function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', ICONS[name] || ICONS.dot);
  svg.append(path);
  return svg;
}

const ICONS = {
  dot: 'M12 10a2 2 0 1 0 0 4a2 2 0 1 0 0-4z',
  plus: 'M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z',
  close: 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z',
  table: 'M4 4h16v16H4zm2 2v3h12V6zm0 5v3h5v-3zm7 0v3h5v-3zm-7 5v2h5v-2zm7 0v2h5v-2z',
  users: 'M9 11a4 4 0 1 1 0-8 4 4 0 0 1 0 8zm-7 9c0-3.3 3.1-6 7-6s7 2.7 7 6zm15-9a3 3 0 1 0 0-6m1.5 15H22c0-2.5-1.7-4.6-4.2-5.5',
  eye: 'M12 5c5 0 9 4.5 10 7-1 2.5-5 7-10 7S3 14.5 2 12c1-2.5 5-7 10-7zm0 3a4 4 0 1 0 0 8 4 4 0 0 0 0-8z',
  gear: 'M12 8a4 4 0 1 1 0 8 4 4 0 0 1 0-8zm8.7 5.4-1.9 1.1.2 2.2-2.2 1.3-1.8-1.3-2 .8-.7 2.1h-2.6l-.7-2.1-2-.8-1.8 1.3-2.2-1.3.2-2.2-1.9-1.1V10.6l1.9-1.1-.2-2.2L5.5 6l1.8 1.3 2-.8.7-2.1h2.6l.7 2.1 2 .8L17.1 6l2.2 1.3-.2 2.2 1.9 1.1z',
  logs: 'M4 5h16v2H4zm0 6h16v2H4zm0 6h10v2H4z',
  archive: 'M3 4h18v5H3zm1 6h16v10H4zm5 2v2h6v-2z',
  logout: 'M10 4H4v16h6v-2H6V6h4zm5.6 3.4L14.2 8.8 16.4 11H9v2h7.4l-2.2 2.2 1.4 1.4L20.2 12z',
  moon: 'M14.5 3a9 9 0 1 0 6.5 13.5A7.5 7.5 0 0 1 14.5 3z',
  search: 'M10 3a7 7 0 0 1 5.6 11.2l5.1 5.1-1.4 1.4-5.1-5.1A7 7 0 1 1 10 3zm0 2a5 5 0 1 0 0 10 5 5 0 0 0 0-10z',
  trash: 'M9 3h6l1 2h4v2H4V5h4zm-3 6h12l-1 12H7z',
  edit: 'M4 17.2V20h2.8l8.3-8.3-2.8-2.8zM19.7 7.1a1 1 0 0 0 0-1.4l-1.4-1.4a1 1 0 0 0-1.4 0l-1.2 1.2 2.8 2.8z',
  refresh: 'M17.7 6.3A8 8 0 1 0 20 12h-2a6 6 0 1 1-1.8-4.2L13 11h7V4z',
  columns: 'M3 4h18v16H3zm2 2v12h4V6zm6 0v12h2V6zm4 0v12h4V6z',
  code: 'M8.6 16.6 4 12l4.6-4.6L10 8.8 6.8 12l3.2 3.2zm6.8 0L14 15.2l3.2-3.2L14 8.8l1.4-1.4L20 12z',
  up: 'M12 7l6 6-1.4 1.4L12 9.8l-4.6 4.6L6 13z',
  down: 'M12 17l-6-6 1.4-1.4 4.6 4.6 4.6-4.6L18 11z',
  live: 'M12 9a3 3 0 1 1 0 6 3 3 0 0 1 0-6zM5.6 5.6l1.4 1.4a7 7 0 0 0 0 10l-1.4 1.4a9 9 0 0 1 0-12.8zm12.8 0a9 9 0 0 1 0 12.8L17 17a7 7 0 0 0 0-10z',
};

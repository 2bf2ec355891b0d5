// The rich-text control for `editor` fields: a formatting toolbar over an editable area, and a
// switch to the HTML source.
//
// Stored HTML never reaches the live page as markup: it is parsed as inert template content
// (no scripts run, nothing loads) and only an allowlist of elements and attributes is copied into
// the editable area. A record that has not been edited is saved with its HTML untouched, so
// markup outside the allowlist is lost only when someone edits the record in the visual mode.

import { h, inertFragment, uid } from './dom.js';
import { openDialog } from './ui.js';

/** Elements kept, with the attributes each may keep. Others are unwrapped (their text stays). */
const ALLOWED = new Map(
  Object.entries({
    P: [], BR: [], DIV: [], SPAN: [], B: [], STRONG: [], I: [], EM: [], U: [], S: [], SUB: [], SUP: [],
    A: ['href', 'title'], UL: [], OL: [], LI: [], H1: [], H2: [], H3: [], H4: [], BLOCKQUOTE: [], PRE: [],
    CODE: [], HR: [], IMG: ['src', 'alt'], TABLE: [], THEAD: [], TBODY: [], TR: [], TH: [], TD: [],
  }),
);
/** Elements dropped with everything inside them. */
const DROPPED = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'IFRAME', 'OBJECT', 'EMBED', 'NOSCRIPT', 'SVG', 'MATH']);
const SAFE_URL = /^(https?:|mailto:|\/|#|data:image\/)/i;

function copyAllowed(from, to) {
  for (const node of from.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      to.append(node.textContent);
      continue;
    }
    if (node.nodeType !== Node.ELEMENT_NODE || DROPPED.has(node.tagName.toUpperCase())) continue;
    const attributes = ALLOWED.get(node.tagName.toUpperCase());
    if (!attributes) {
      copyAllowed(node, to);
      continue;
    }
    const copy = document.createElement(node.tagName.toLowerCase());
    for (const attribute of attributes) {
      const value = node.getAttribute(attribute);
      if (value === null) continue;
      if ((attribute === 'href' || attribute === 'src') && !SAFE_URL.test(value.trim())) continue;
      copy.setAttribute(attribute, value);
    }
    copyAllowed(node, copy);
    to.append(copy);
  }
}

/** The allowed part of `html`, as nodes of the live document. */
export function sanitizedFragment(html) {
  const fragment = document.createDocumentFragment();
  copyAllowed(inertFragment(html || ''), fragment);
  return fragment;
}

/** An address typed without a scheme gets https://; anything but http(s) and mailto is refused. */
function normalizeLink(text) {
  const url = text.trim();
  if (!url) return '';
  if (/^(https?:|mailto:)/i.test(url)) return url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return null;
  return `https://${url}`;
}

const COMMANDS = [
  { label: 'Bold', text: 'B', command: 'bold', state: true },
  { label: 'Italic', text: 'I', command: 'italic', state: true },
  { label: 'Heading', text: 'H', command: 'formatBlock', arg: 'h2' },
  { label: 'Bulleted list', text: '•', command: 'insertUnorderedList', state: true },
  { label: 'Numbered list', text: '1.', command: 'insertOrderedList', state: true },
  { label: 'Quote', text: '❝', command: 'formatBlock', arg: 'blockquote' },
  { label: 'Link', text: 'Link', command: 'createLink' },
  { label: 'Remove link', text: 'Unlink', command: 'unlink' },
  { label: 'Clear formatting', text: 'Tx', command: 'removeFormat' },
];

/** An `editor` field's control: `{node, value()}` as the record form expects. */
export function richTextControl({ name, value, required }) {
  const labelId = uid('rich-label');
  let html = value || '';
  let sourceMode = false;

  const area = h('div', {
    class: 'rich-area',
    contenteditable: 'true',
    role: 'textbox',
    'aria-multiline': 'true',
    'aria-labelledby': labelId,
    spellcheck: 'true',
  });
  area.append(sanitizedFragment(html));
  const source = h('textarea', { class: 'mono rich-source', rows: 10, spellcheck: 'false', hidden: true, 'aria-label': `HTML source of ${name}` });

  const run = async (item) => {
    area.focus();
    if (item.command === 'createLink') {
      await addLink();
    } else {
      document.execCommand(item.command, false, item.arg ?? null);
    }
    changed();
  };

  const addLink = async () => {
    const selection = document.getSelection();
    const range = selection.rangeCount && area.contains(selection.anchorNode) ? selection.getRangeAt(0).cloneRange() : null;
    // Plain text: a type=url input would refuse "example.com", which gets https:// here.
    const input = h('input', { type: 'text', inputmode: 'url', placeholder: 'https://…', autofocus: true });
    const error = h('p', { class: 'field-error', role: 'alert' });
    const url = await openDialog({
      title: 'Add a link',
      body: (close) =>
        h(
          'form',
          {
            class: 'stack',
            onsubmit: (event) => {
              event.preventDefault();
              const link = normalizeLink(input.value);
              if (link === null) error.textContent = 'Only http, https and mailto links are allowed.';
              else close(link);
            },
          },
          h('label', { class: 'field' }, h('span', { class: 'label' }, 'Address'), input),
          error,
          h('button', { class: 'primary', type: 'submit' }, 'Add link'),
        ),
    });
    area.focus();
    if (range) {
      selection.removeAllRanges();
      selection.addRange(range);
    }
    if (!url) return;
    if (range && !range.collapsed) document.execCommand('createLink', false, url);
    else document.execCommand('insertHTML', false, h('a', { href: url }, url).outerHTML);
  };

  const buttons = COMMANDS.map((item) =>
    h('button', {
      type: 'button',
      class: 'ghost small',
      tabindex: '-1',
      title: item.label,
      'aria-label': item.label,
      'aria-pressed': item.state ? 'false' : null,
      // Keeps the selection in the area when the button is pressed with the mouse.
      onmousedown: (event) => event.preventDefault(),
      onclick: () => run(item),
    }, item.text),
  );
  buttons[0].tabIndex = 0;
  const sourceToggle = h('button', { type: 'button', class: 'ghost small', tabindex: '-1', 'aria-pressed': 'false', onclick: () => toggleSource() }, 'HTML');
  const toolbarButtons = [...buttons, sourceToggle];

  // One tab stop for the toolbar; arrow keys move along it (the WAI-ARIA toolbar pattern).
  const toolbar = h('div', {
    class: 'rich-toolbar',
    role: 'toolbar',
    'aria-label': `Formatting of ${name}`,
    onkeydown: (event) => {
      const enabled = toolbarButtons.filter((button) => !button.disabled);
      const index = enabled.indexOf(document.activeElement);
      if (index < 0) return;
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      const target = step ? (index + step + enabled.length) % enabled.length : { Home: 0, End: enabled.length - 1 }[event.key];
      if (target === undefined) return;
      event.preventDefault();
      focusInToolbar(enabled[target]);
    },
  }, toolbarButtons);

  const focusInToolbar = (button) => {
    toolbarButtons.forEach((other) => {
      other.tabIndex = other === button ? 0 : -1;
    });
    button.focus();
  };

  const refreshStates = () => {
    if (!area.isConnected) {
      document.removeEventListener('selectionchange', refreshStates);
      return;
    }
    if (!area.contains(document.getSelection().anchorNode)) return;
    COMMANDS.forEach((item, index) => {
      if (item.state) buttons[index].setAttribute('aria-pressed', String(document.queryCommandState(item.command)));
    });
  };
  document.addEventListener('selectionchange', refreshStates);

  const changed = () => {
    // An area left with no text and no image is an empty value, not "<br>".
    html = area.textContent.trim() || area.querySelector('img,hr') ? area.innerHTML : '';
  };
  area.addEventListener('input', changed);
  area.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'k') {
      event.preventDefault();
      run(COMMANDS.find((item) => item.command === 'createLink'));
    }
  });
  area.addEventListener('focus', () => {
    document.execCommand('defaultParagraphSeparator', false, 'p');
    document.execCommand('styleWithCSS', false, false);
  });
  source.addEventListener('input', () => {
    html = source.value;
  });

  const toggleSource = () => {
    sourceMode = !sourceMode;
    if (sourceMode) source.value = html;
    else area.replaceChildren(sanitizedFragment(html));
    source.hidden = !sourceMode;
    area.hidden = sourceMode;
    buttons.forEach((button) => {
      button.disabled = sourceMode;
    });
    sourceToggle.setAttribute('aria-pressed', String(sourceMode));
    focusInToolbar(sourceToggle);
  };

  const node = h(
    'div',
    { class: 'field rich', dataset: { name } },
    h('span', { class: 'label', id: labelId }, name, required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null),
    h('div', { class: 'rich-frame' }, toolbar, area, source),
    h('p', { class: 'field-error', role: 'alert' }),
  );
  return { node, value: () => html };
}

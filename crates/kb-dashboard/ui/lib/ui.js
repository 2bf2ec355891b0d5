// Shared pieces of the interface: notices, dialogs, side panels, form fields.

import { h, icon, uid } from './dom.js';

/** A short notice in the corner; errors stay until dismissed. */
export function toast(message, kind = 'info') {
  let region = document.getElementById('toasts');
  if (!region) {
    region = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  const close = () => item.remove();
  const item = h(
    'div',
    { class: ['toast', kind] },
    h('span', null, message),
    h('button', { class: 'ghost icon-only', 'aria-label': 'Dismiss', onclick: close }, icon('close')),
  );
  region.append(item);
  // Only the latest few stay on screen.
  while (region.children.length > 3) region.firstElementChild.remove();
  if (kind !== 'error') setTimeout(close, 4000);
}

/** Shows an error from the API (or anything thrown) as a notice. */
export function toastError(error) {
  toast(error?.message || String(error), 'error');
}

/**
 * A modal dialog (native <dialog>: focus stays inside, Escape closes). `side` makes it a
 * panel along the right edge. Resolves when it closes; `close(value)` resolves to value.
 */
export function openDialog({ title, body, actions = [], side = false, wide = false, onClose }) {
  const titleId = uid('dialog-title');
  const dialog = h('dialog', { class: ['dialog', side && 'side', wide && 'wide'], 'aria-labelledby': titleId });
  let result;
  const close = (value) => {
    result = value;
    dialog.close();
  };
  const header = h(
    'header',
    null,
    h('h2', { id: titleId }, title),
    h('button', { class: 'ghost icon-only', 'aria-label': 'Close', onclick: () => close() }, icon('close')),
  );
  const content = h('div', { class: 'dialog-body' }, typeof body === 'function' ? body(close) : body);
  const footer = actions.length ? h('footer', null, actions.map((a) => (typeof a === 'function' ? a(close) : a))) : null;
  dialog.append(header, content, footer || '');
  // Focus goes back where it was when the dialog closes; if that element is gone (the view
  // re-rendered), to the main area, so keyboard users are not dropped at the page's top.
  const opener = document.activeElement;
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      dialog.remove();
      onClose?.();
      resolve(result);
      if (document.querySelector('dialog[open]')) return;
      if (opener?.isConnected && opener !== document.body) opener.focus();
      else document.getElementById('main')?.focus();
    });
  });
}

/** Asks a yes/no question; resolves to true when confirmed. */
export function confirmAction(message, { confirmLabel = 'Delete', danger = true } = {}) {
  return openDialog({
    title: 'Please confirm',
    body: h('p', null, message),
    actions: [
      (close) => h('button', { class: 'secondary', onclick: () => close(false) }, 'Cancel'),
      (close) => h('button', { class: danger ? 'danger' : 'primary', onclick: () => close(true), autofocus: true }, confirmLabel),
    ],
  }).then(Boolean);
}

/**
 * A labelled form row around `control` (an input, select, textarea or a group), with a hint
 * and a slot for the error message that `showErrors` fills.
 */
export function field(label, control, { hint, name, required } = {}) {
  const id = control.id || uid('field');
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  if (['INPUT', 'SELECT', 'TEXTAREA'].includes(control.tagName)) {
    control.id = id;
    control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  }
  return h(
    'div',
    { class: 'field', dataset: { name: name || control.name || '' } },
    h('label', { for: id }, label, required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errorId, role: 'alert' }),
  );
}

/** Puts an ApiError's per-field messages next to the fields of `form` (by data-name). */
export function showErrors(form, error) {
  clearErrors(form);
  let shown = 0;
  for (const row of form.querySelectorAll('.field[data-name]')) {
    const message = error?.fieldMessage?.(row.dataset.name);
    if (!message) continue;
    row.classList.add('invalid');
    row.querySelector('.field-error').textContent = message;
    shown += 1;
  }
  return shown;
}

export function clearErrors(form) {
  for (const row of form.querySelectorAll('.field.invalid')) {
    row.classList.remove('invalid');
    row.querySelector('.field-error').textContent = '';
  }
}

/** A button that shows it is busy while `action` runs and reports its error. */
export function actionButton(label, action, props = {}) {
  const button = h('button', { type: 'button', ...props }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.classList.add('busy');
    try {
      await action();
    } catch (error) {
      toastError(error);
    } finally {
      button.disabled = false;
      button.classList.remove('busy');
    }
  });
  return button;
}

/** A centred message for a place with nothing in it yet. */
export function emptyState(title, text, action) {
  return h('div', { class: 'empty' }, h('h3', null, title), text ? h('p', null, text) : null, action || null);
}

/** Relative or short absolute date for a PocketBase datetime string. */
export function formatDate(value) {
  if (!value) return '';
  const date = new Date(value.replace(' ', 'T'));
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

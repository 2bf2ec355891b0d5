// The record form: one control fitted to each field type, in a side panel.

import { h, icon } from '../lib/dom.js';
import { api, recordsPath, fileUrl, ApiError } from '../lib/api.js';
import { state } from '../lib/state.js';
import { richTextControl } from '../lib/rich-text.js';
import { confirmAction, field, openDialog, showErrors, clearErrors, toast, toastError } from '../lib/ui.js';

const IMAGE = /\.(png|jpe?g|gif|webp|svg)$/i;
const AUTH_MANAGED = new Set(['password', 'tokenKey']);

/** "2024-05-01 10:00:00.000Z" ⇄ the local "2024-05-01T12:00" of a datetime-local input. */
function toLocalInput(value) {
  if (!value) return '';
  const date = new Date(value.replace(' ', 'T'));
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function fromLocalInput(value) {
  if (!value) return '';
  return new Date(value).toISOString().replace('T', ' ');
}

/** Quotes text for a filter string literal. */
function quote(text) {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A control for one field: `{node, value(), files?}`. `value()` gives what to send (or
 * undefined to leave the field out).
 */
function control(collection, f, record) {
  const current = record ? record[f.name] : undefined;
  const name = f.name;
  const label = f.name;
  const required = Boolean(f.required);
  switch (f.type) {
    case 'bool': {
      const input = h('input', { type: 'checkbox', name, checked: Boolean(current) });
      const node = h('div', { class: 'field', dataset: { name } }, h('label', { class: 'check-row' }, input, label), h('p', { class: 'field-error', role: 'alert' }));
      return { node, value: () => input.checked };
    }
    case 'number': {
      const input = h('input', { type: 'number', name, step: f.onlyInt ? '1' : 'any', value: current ?? '', min: f.min ?? null, max: f.max ?? null });
      return { node: field(label, input, { name, required }), value: () => (input.value === '' ? null : Number(input.value)) };
    }
    case 'email':
    case 'url': {
      const input = h('input', { type: f.type, name, value: current ?? '' });
      return { node: field(label, input, { name, required }), value: () => input.value.trim() };
    }
    case 'date': {
      const input = h('input', { type: 'datetime-local', name, step: '1', value: toLocalInput(current) });
      return { node: field(label, input, { name, required, hint: 'Shown in your time zone, stored in UTC.' }), value: () => fromLocalInput(input.value) };
    }
    case 'autodate':
      return { node: record ? field(label, h('input', { value: current || '', readonly: true, name })) : null, value: () => undefined };
    case 'editor':
      return richTextControl({ name, value: current, required });
    case 'text': {
      const input = (f.max || 0) > 255
        ? h('textarea', { name, rows: 4 }, current ?? '')
        : h('input', { type: 'text', name, value: current ?? '', placeholder: f.autogeneratePattern ? 'Generated when left empty' : null });
      return {
        node: field(label, input, { name, required: required && !f.autogeneratePattern }),
        value: () => input.value,
      };
    }
    case 'select':
      return selectControl(f, current, required);
    case 'json': {
      const input = h('textarea', { name, rows: 6, class: 'mono', spellcheck: 'false' }, current === undefined || current === null ? '' : JSON.stringify(current, null, 2));
      const node = field(label, input, { name, required, hint: 'JSON' });
      input.addEventListener('input', () => {
        let message = '';
        if (input.value.trim()) {
          try {
            JSON.parse(input.value);
          } catch (error) {
            message = `Not valid JSON: ${error.message}`;
          }
        }
        node.classList.toggle('invalid', Boolean(message));
        node.querySelector('.field-error').textContent = message;
      });
      return {
        node,
        value: () => {
          if (!input.value.trim()) return null;
          try {
            return JSON.parse(input.value);
          } catch {
            return input.value;
          }
        },
      };
    }
    case 'geoPoint': {
      const lon = h('input', { type: 'number', step: 'any', min: -180, max: 180, value: current?.lon ?? 0, 'aria-label': `${name} longitude` });
      const lat = h('input', { type: 'number', step: 'any', min: -90, max: 90, value: current?.lat ?? 0, 'aria-label': `${name} latitude` });
      const group = h('div', { class: 'inline-inputs' }, h('label', null, 'Longitude ', lon), h('label', null, 'Latitude ', lat));
      return {
        node: h('div', { class: 'field', dataset: { name } }, h('span', { class: 'label' }, label), group, h('p', { class: 'field-error', role: 'alert' })),
        value: () => ({ lon: Number(lon.value), lat: Number(lat.value) }),
      };
    }
    case 'relation':
      return relationControl(f, current, required);
    case 'file':
      return fileControl(f, current, record, required);
    default: {
      const input = h('input', { type: 'text', name, value: current ?? '' });
      return { node: field(label, input, { name, required }), value: () => input.value };
    }
  }
}

function selectControl(f, current, required) {
  const multiple = (f.maxSelect || 1) > 1;
  const chosen = new Set(Array.isArray(current) ? current : current ? [current] : []);
  if (!multiple) {
    const select = h(
      'select',
      { name: f.name },
      h('option', { value: '' }, '—'),
      f.values.map((v) => h('option', { value: v, selected: chosen.has(v) }, v)),
    );
    return { node: field(f.name, select, { name: f.name, required }), value: () => select.value };
  }
  const boxes = f.values.map((v) => h('input', { type: 'checkbox', value: v, checked: chosen.has(v) }));
  return {
    node: h(
      'fieldset',
      { class: 'field', dataset: { name: f.name } },
      h('legend', null, f.name, required ? ' *' : ''),
      h('div', { class: 'check-grid' }, boxes.map((box) => h('label', { class: 'check-row' }, box, box.value))),
      h('p', { class: 'field-error', role: 'alert' }),
    ),
    value: () => boxes.filter((b) => b.checked).map((b) => b.value),
  };
}

function relationControl(f, current, required) {
  const multiple = (f.maxSelect || 1) > 1;
  const target = state.collection(f.collectionId);
  let chosen = Array.isArray(current) ? [...current] : current ? [current] : [];
  const chips = h('div', { class: 'chips' });
  const results = h('ul', { class: 'picker-results', role: 'listbox', 'aria-label': `Matching ${target?.name || 'records'}` });
  const search = h('input', { type: 'search', placeholder: `Search ${target?.name || 'records'}`, 'aria-label': `Search ${target?.name || 'related records'} for ${f.name}` });
  const describe = (record) => {
    const text = target?.fields.find((x) => ['text', 'email'].includes(x.type) && x.name !== 'id' && record[x.name]);
    return text ? `${record[text.name]} (${record.id})` : record.id;
  };
  const renderChips = () =>
    chips.replaceChildren(
      ...chosen.map((id) =>
        h('span', { class: 'chip' }, id, h('button', {
          type: 'button',
          class: 'ghost icon-only',
          'aria-label': `Remove ${id}`,
          onclick: () => {
            chosen = chosen.filter((x) => x !== id);
            renderChips();
          },
        }, icon('close'))),
      ),
    );
  let timer;
  const find = async () => {
    if (!target) return;
    const q = search.value.trim();
    const textFields = target.fields.filter((x) => ['text', 'email'].includes(x.type) && !x.hidden).map((x) => x.name);
    const filter = q ? [...new Set(['id', ...textFields])].map((n) => `${n} ~ ${quote(q)}`).join(' || ') : '';
    try {
      const page = await api.get(recordsPath(target.name), { filter, perPage: 10, skipTotal: 1 });
      results.replaceChildren(
        ...page.items.map((record) =>
          h('li', null, h('button', {
            type: 'button',
            class: 'option',
            role: 'option',
            onclick: () => {
              chosen = multiple ? [...new Set([...chosen, record.id])] : [record.id];
              renderChips();
            },
          }, describe(record))),
        ),
      );
      if (!page.items.length) results.replaceChildren(h('li', { class: 'muted' }, 'Nothing found.'));
    } catch (error) {
      results.replaceChildren(h('li', { class: 'field-error' }, error.message));
    }
  };
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(find, 200);
  });
  search.addEventListener('focus', find, { once: true });
  renderChips();
  return {
    node: h(
      'div',
      { class: 'field relation', dataset: { name: f.name } },
      h('span', { class: 'label' }, f.name, required ? ' *' : '', h('span', { class: 'muted' }, ` → ${target?.name || f.collectionId}`)),
      chips,
      search,
      results,
      h('p', { class: 'field-error', role: 'alert' }),
    ),
    value: () => (multiple ? chosen : chosen[0] || ''),
  };
}

function fileControl(f, current, record, required) {
  const multiple = (f.maxSelect || 1) > 1;
  const existing = Array.isArray(current) ? current : current ? [current] : [];
  const removed = new Set();
  const input = h('input', { type: 'file', name: f.name, multiple, accept: (f.mimeTypes || []).join(',') || null });
  const previews = h('div', { class: 'file-previews' });
  const renderExisting = () =>
    existing.map((name) =>
      h(
        'div',
        { class: ['file-item', removed.has(name) && 'removed'] },
        IMAGE.test(name) && record
          ? h('img', { src: fileUrl(record, name, { thumb: '100x100', token: state.fileToken }), alt: '' })
          : icon('dot'),
        record ? h('a', { href: fileUrl(record, name, { token: state.fileToken }), target: '_blank', rel: 'noopener' }, name) : h('span', null, name),
        h('button', {
          type: 'button',
          class: 'ghost small',
          onclick: (event) => {
            if (removed.has(name)) removed.delete(name);
            else removed.add(name);
            event.target.closest('.file-item').classList.toggle('removed');
            event.target.textContent = removed.has(name) ? 'Keep' : 'Remove';
          },
        }, 'Remove'),
      ),
    );
  previews.append(...renderExisting());
  input.addEventListener('change', () => {
    previews.querySelectorAll('.file-item.new').forEach((n) => n.remove());
    for (const file of input.files) {
      const item = h('div', { class: 'file-item new' });
      if (file.type.startsWith('image/')) {
        const img = h('img', { alt: '' });
        img.src = URL.createObjectURL(file);
        item.append(img);
      }
      item.append(h('span', null, `${file.name} (new)`));
      previews.append(item);
    }
  });
  return {
    node: h(
      'div',
      { class: 'field', dataset: { name: f.name } },
      h('label', { class: 'label' }, f.name, required ? ' *' : '', input),
      previews,
      h('p', { class: 'field-error', role: 'alert' }),
    ),
    value: () => undefined,
    files: () => ({ name: f.name, multiple, added: [...input.files], removed: [...removed] }),
  };
}

/** For a user: its verified state, the account emails, and signing in as it. */
function authActions(collection, record) {
  const base = `/api/collections/${encodeURIComponent(collection.name)}`;
  const send = (label, path, done) =>
    h('button', {
      type: 'button',
      class: 'secondary small',
      onclick: async () => {
        try {
          await api.post(`${base}/${path}`, { email: record.email });
          toast(done);
        } catch (error) {
          toastError(error);
        }
      },
    }, label);
  const impersonate = h('button', {
    type: 'button',
    class: 'secondary small',
    onclick: async () => {
      try {
        const auth = await api.post(`${base}/impersonate/${encodeURIComponent(record.id)}`, { duration: 3600 });
        const box = h('textarea', { class: 'mono', rows: 5, readonly: true }, auth.token);
        openDialog({
          title: `Signed in as ${record.email || record.id}`,
          body: h('div', { class: 'stack' }, h('p', null, 'A token for this user, valid for one hour and not refreshable. Send it as the Authorization header to act as them.'), field('Token', box)),
        });
        box.select();
      } catch (error) {
        toastError(error);
      }
    },
  }, 'Impersonate');
  return h(
    'div',
    { class: 'auth-actions' },
    h('span', { class: ['badge', record.verified ? 'yes' : 'no'] }, record.verified ? 'verified' : 'not verified'),
    record.verified ? null : send('Send verification email', 'request-verification', `Verification email sent to ${record.email}.`),
    send('Send password reset', 'request-password-reset', `Password reset email sent to ${record.email}.`),
    impersonate,
  );
}

/** Opens the form for `record` (null: a new one). Resolves to the saved record, or nothing. */
export function openRecordForm(collection, record) {
  const isAuth = collection.type === 'auth';
  const controls = [];
  const form = h('form', { class: 'stack record-form', novalidate: true });
  const idInput = h('input', { name: 'id', value: record?.id || '', readonly: Boolean(record), placeholder: record ? null : 'Generated when left empty', class: 'mono' });
  form.append(field('id', idInput, { name: 'id' }));
  let password;
  let passwordConfirm;
  if (isAuth) {
    password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password' });
    passwordConfirm = h('input', { type: 'password', name: 'passwordConfirm', autocomplete: 'new-password' });
    form.append(
      field('Password', password, { name: 'password', required: !record, hint: record ? 'Leave empty to keep the current password.' : null }),
      field('Repeat the password', passwordConfirm, { name: 'passwordConfirm', required: !record }),
    );
  }
  for (const f of collection.fields) {
    if (f.name === 'id' || AUTH_MANAGED.has(f.type) || AUTH_MANAGED.has(f.name)) continue;
    const c = control(collection, f, record);
    controls.push(c);
    if (c.node) form.append(c.node);
  }
  const formError = h('p', { class: 'form-error', role: 'alert' });
  form.append(formError);

  const buildBody = () => {
    const body = {};
    if (!record && idInput.value.trim()) body.id = idInput.value.trim();
    if (password?.value) {
      body.password = password.value;
      body.passwordConfirm = passwordConfirm.value;
    }
    const uploads = [];
    for (const c of controls) {
      const name = c.node?.dataset?.name;
      const value = c.value();
      if (value !== undefined && name) body[name] = value;
      if (c.files) {
        const files = c.files();
        if (files.removed.length) body[`${files.name}-`] = files.removed;
        if (files.added.length) uploads.push(files);
      }
    }
    if (!uploads.length) return body;
    const data = new FormData();
    data.append('@jsonPayload', JSON.stringify(body));
    for (const files of uploads) {
      for (const file of files.added) data.append(files.multiple ? `${files.name}+` : files.name, file);
    }
    return data;
  };

  if (isAuth && record) form.prepend(authActions(collection, record));

  return openDialog({
    title: record ? `Edit ${collection.name} record` : `New ${collection.name} record`,
    side: true,
    body: form,
    actions: [
      record && collection.type !== 'view'
        ? (close) => h('button', {
            type: 'button',
            class: 'danger ghost',
            onclick: async () => {
              if (!(await confirmAction(`Delete record ${record.id}? This cannot be undone.`))) return;
              try {
                await api.delete(recordsPath(collection.name, record.id));
                toast('Record deleted.');
                close(record);
              } catch (error) {
                toastError(error);
              }
            },
          }, icon('trash'), 'Delete')
        : null,
      h('span', { class: 'spacer' }),
      (close) => h('button', { type: 'button', class: 'secondary', onclick: () => close() }, 'Cancel'),
      collection.type === 'view'
        ? null
        : (close) => {
            const save = h('button', { type: 'submit', class: 'primary' }, record ? 'Save changes' : 'Create');
            const submit = async (event) => {
              event.preventDefault();
              save.disabled = true;
              formError.textContent = '';
              clearErrors(form);
              try {
                const body = buildBody();
                const saved = record
                  ? await api.patch(recordsPath(collection.name, record.id), body)
                  : await api.post(recordsPath(collection.name), body);
                toast(record ? 'Changes saved.' : 'Record created.');
                close(saved);
              } catch (error) {
                const shown = error instanceof ApiError ? showErrors(form, error) : 0;
                formError.textContent = shown ? 'Please fix the highlighted fields.' : error.message;
              } finally {
                save.disabled = false;
              }
            };
            form.addEventListener('submit', submit);
            save.addEventListener('click', submit);
            return save;
          },
    ].filter(Boolean),
  });
}

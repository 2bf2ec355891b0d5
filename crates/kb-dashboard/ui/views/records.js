// One collection's records: a table with paging, sorting, the filter box, column choice,
// bulk delete and live updates; rows open the record form.

import { h, icon, inertFragment, replace } from '../lib/dom.js';
import { api, recordsPath, realtime, fileUrl, ApiError } from '../lib/api.js';
import { state } from '../lib/state.js';
import { actionButton, confirmAction, emptyState, formatDate, openDialog, toast, toastError } from '../lib/ui.js';
import { openRecordForm } from './record-form.js';
import { openCollectionEditor } from './collection-editor.js';
import { openApiPreview } from './api-preview.js';

const PER_PAGE = 30;
const HIDDEN_BY_DEFAULT = new Set(['password', 'tokenKey']);
const IMAGE = /\.(png|jpe?g|gif|webp|svg)$/i;

/** The fields that can be columns (a password never leaves the server). */
function columnFields(collection) {
  return collection.fields.filter((f) => !f.hidden && !HIDDEN_BY_DEFAULT.has(f.type) && !HIDDEN_BY_DEFAULT.has(f.name));
}

function columnsKey(collection) {
  return `keelbase.dashboard.columns.${collection.id}`;
}

function chosenColumns(collection) {
  const all = columnFields(collection).map((f) => f.name);
  try {
    const saved = JSON.parse(localStorage.getItem(columnsKey(collection)) || 'null');
    if (Array.isArray(saved)) return all.filter((name) => saved.includes(name));
  } catch {
    // A broken saved choice falls back to the default.
  }
  return all.slice(0, 8);
}

/** A short rendering of one value for a table cell. */
export function cellContent(field, value, record) {
  if (value === undefined || value === null || value === '' || (Array.isArray(value) && !value.length)) {
    return h('span', { class: 'muted' }, 'N/A');
  }
  switch (field.type) {
    case 'bool':
      return h('span', { class: ['badge', value ? 'yes' : 'no'] }, value ? 'true' : 'false');
    case 'date':
    case 'autodate':
      return h('time', { datetime: value, title: value }, formatDate(value));
    case 'file': {
      const names = Array.isArray(value) ? value : [value];
      return h(
        'span',
        { class: 'files' },
        names.slice(0, 3).map((name) =>
          IMAGE.test(name)
            ? h('img', { class: 'thumb', src: fileUrl(record, name, { thumb: '100x100', token: state.fileToken }), alt: name, loading: 'lazy' })
            : h('span', { class: 'chip' }, name),
        ),
      );
    }
    case 'select':
    case 'relation': {
      const values = Array.isArray(value) ? value : [value];
      return h('span', { class: 'chips' }, values.slice(0, 3).map((v) => h('span', { class: 'chip' }, v)), values.length > 3 ? `+${values.length - 3}` : null);
    }
    case 'json':
      return h('code', null, JSON.stringify(value).slice(0, 80));
    case 'geoPoint':
      return h('span', null, `${value.lat}, ${value.lon}`);
    case 'editor': {
      const text = inertFragment(String(value)).textContent || '';
      return h('span', null, text.slice(0, 80));
    }
    default:
      return h('span', null, String(value).slice(0, 120));
  }
}

/** Shows the records of collection `name`; resolves to a function that stops its live updates. */
export async function recordsView(target, name) {
  const collection = state.collection(name);
  if (!collection) {
    replace(target, emptyState('No such collection', `There is no collection named “${name}”.`));
    return;
  }
  const view = {
    page: 1,
    sort: collection.fields.some((f) => f.name === 'created') ? '-created' : '',
    filter: '',
    selected: new Set(),
    items: [],
    totalPages: 1,
    totalItems: 0,
  };

  const filterInput = h('input', {
    type: 'search',
    class: 'filter-input',
    placeholder: 'Filter, e.g. title ~ "news" && created > "2024-01-01"',
    'aria-label': 'Filter records',
    'data-shortcut': '/',
    'aria-keyshortcuts': '/',
    spellcheck: 'false',
  });
  const filterError = h('p', { class: 'field-error', id: 'filter-error', role: 'alert' });
  filterInput.setAttribute('aria-describedby', 'filter-error');
  const tableHolder = h('div', { class: 'table-holder' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const bulkBar = h('div', { class: 'bulk-bar', hidden: true });
  const liveLabel = h('span', null, 'Connecting');
  const liveBadge = h('span', { class: 'live', role: 'status', title: 'Changes made anywhere appear here as they happen' }, icon('live'), liveLabel);

  const load = async () => {
    try {
      const page = await api.get(recordsPath(collection.name), {
        page: view.page,
        perPage: PER_PAGE,
        sort: view.sort,
        filter: view.filter,
      });
      filterError.textContent = '';
      filterInput.removeAttribute('aria-invalid');
      Object.assign(view, { items: page.items, totalPages: Math.max(page.totalPages, 1), totalItems: page.totalItems });
      if (view.page > view.totalPages) {
        view.page = view.totalPages;
        return load();
      }
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        filterError.textContent = error.message;
        filterInput.setAttribute('aria-invalid', 'true');
      } else {
        toastError(error);
      }
    }
    return undefined;
  };

  const openForm = async (listed) => {
    // The form starts from the record as it is now, not as the table last saw it.
    let record = listed;
    if (listed) {
      try {
        record = await api.get(`${recordsPath(collection.name)}/${encodeURIComponent(listed.id)}`);
      } catch (error) {
        toastError(error);
        load();
        return;
      }
    }
    const saved = await openRecordForm(collection, record);
    if (saved) load();
  };

  const toggleSort = (fieldName) => {
    view.sort = view.sort === fieldName ? `-${fieldName}` : fieldName;
    load();
  };

  const render = () => {
    const columns = chosenColumns(collection).map((n) => collection.fields.find((f) => f.name === n));
    if (!view.items.length) {
      replace(
        tableHolder,
        view.filter
          ? emptyState('No records match', 'Change the filter or clear it.', h('button', { class: 'secondary', onclick: () => { filterInput.value = ''; view.filter = ''; load(); } }, 'Clear the filter'))
          : emptyState(
              'No records yet',
              collection.type === 'view' ? 'This view collection shows records of its query.' : 'Add the first one, or create records through the API.',
              collection.type === 'view' ? null : h('button', { class: 'primary', onclick: () => openForm(null) }, icon('plus'), 'New record'),
            ),
      );
    } else {
      const allChecked = view.items.every((r) => view.selected.has(r.id));
      const header = h(
        'tr',
        null,
        collection.type === 'view'
          ? null
          : h('th', { class: 'check' }, h('input', {
              type: 'checkbox',
              'aria-label': 'Select all on this page',
              checked: allChecked,
              onchange: (e) => {
                view.items.forEach((r) => (e.target.checked ? view.selected.add(r.id) : view.selected.delete(r.id)));
                render();
              },
            })),
        h('th', { scope: 'col' }, sortButton('id')),
        columns.filter((f) => f.name !== 'id').map((f) => h('th', { scope: 'col' }, sortButton(f.name, f.type))),
      );
      const rows = view.items.map((record) =>
        h(
          'tr',
          { class: view.selected.has(record.id) ? 'selected' : null, dataset: { id: record.id } },
          collection.type === 'view'
            ? null
            : h('td', { class: 'check' }, h('input', {
                type: 'checkbox',
                'aria-label': `Select ${record.id}`,
                checked: view.selected.has(record.id),
                onchange: (e) => {
                  if (e.target.checked) view.selected.add(record.id);
                  else view.selected.delete(record.id);
                  render();
                },
              })),
          h('td', null, h('button', { class: 'link mono', onclick: () => openForm(record), 'aria-label': `Open record ${record.id}` }, record.id)),
          columns.filter((f) => f.name !== 'id').map((f) => h('td', { dataset: { field: f.name } }, cellContent(f, record[f.name], record))),
        ),
      );
      replace(tableHolder, h('table', { class: 'records' }, h('thead', null, header), h('tbody', null, rows)));
    }
    renderPager();
    renderBulkBar();
  };

  const sortButton = (fieldName) => {
    const direction = view.sort === fieldName ? 'ascending' : view.sort === `-${fieldName}` ? 'descending' : null;
    return h(
      'button',
      { class: ['sort', direction], onclick: () => toggleSort(fieldName), 'aria-label': `Sort by ${fieldName}${direction ? `, now ${direction}` : ''}` },
      fieldName,
      direction ? h('span', { 'aria-hidden': 'true' }, direction === 'ascending' ? ' ▲' : ' ▼') : null,
    );
  };

  const renderPager = () => {
    replace(
      pager,
      h('span', { class: 'muted' }, `${view.totalItems} record${view.totalItems === 1 ? '' : 's'}`),
      h('button', { class: 'secondary', disabled: view.page <= 1, onclick: () => { view.page -= 1; load(); } }, 'Previous'),
      h('span', { 'aria-live': 'polite' }, `Page ${view.page} of ${view.totalPages}`),
      h('button', { class: 'secondary', disabled: view.page >= view.totalPages, onclick: () => { view.page += 1; load(); } }, 'Next'),
    );
  };

  const renderBulkBar = () => {
    bulkBar.hidden = view.selected.size === 0;
    replace(
      bulkBar,
      h('span', null, `${view.selected.size} selected`),
      h('button', { class: 'secondary', onclick: () => { view.selected.clear(); render(); } }, 'Clear selection'),
      actionButton(`Delete selected (${view.selected.size})`, async () => {
        const ids = [...view.selected];
        if (!(await confirmAction(`Delete ${ids.length} record${ids.length === 1 ? '' : 's'}? This cannot be undone.`))) return;
        const failed = [];
        for (const id of ids) {
          try {
            await api.delete(recordsPath(collection.name, id));
            view.selected.delete(id);
          } catch (error) {
            failed.push(`${id}: ${error.message}`);
          }
        }
        if (failed.length) toast(`Not deleted: ${failed.join('; ')}`, 'error');
        else toast(`Deleted ${ids.length} record${ids.length === 1 ? '' : 's'}.`);
        load();
      }, { class: 'danger' }),
    );
  };

  const chooseColumns = () => {
    const chosen = new Set(chosenColumns(collection));
    const list = h(
      'fieldset',
      { class: 'column-choice' },
      h('legend', null, 'Columns'),
      columnFields(collection).map((f) =>
        h('label', { class: 'check-row' }, h('input', {
          type: 'checkbox',
          checked: chosen.has(f.name),
          onchange: (e) => {
            if (e.target.checked) chosen.add(f.name);
            else chosen.delete(f.name);
            localStorage.setItem(columnsKey(collection), JSON.stringify([...chosen]));
            render();
          },
        }), f.name),
      ),
    );
    openDialog({ title: 'Choose columns', body: list });
  };

  filterInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      view.filter = filterInput.value.trim();
      view.page = 1;
      load();
    }
  });
  filterInput.addEventListener('search', () => {
    if (!filterInput.value) {
      view.filter = '';
      load();
    }
  });

  replace(
    target,
    h(
      'header',
      { class: 'page-header' },
      h('div', null,
        h('p', { class: 'breadcrumb muted' }, 'Collections'),
        h('h1', null, collection.name, h('span', { class: ['badge', collection.type] }, collection.type)),
      ),
      h(
        'div',
        { class: 'actions' },
        liveBadge,
        h('button', { class: 'secondary', onclick: () => openApiPreview(collection) }, icon('code'), 'API'),
        h('button', { class: 'secondary', onclick: () => openCollectionEditor(collection) }, icon('gear'), 'Edit collection'),
        h('button', { class: 'secondary icon-only', 'aria-label': 'Reload', onclick: load }, icon('refresh')),
        collection.type === 'view' ? null : h('button', { class: 'primary', onclick: () => openForm(null), 'data-shortcut': 'n', 'aria-keyshortcuts': 'n' }, icon('plus'), 'New record'),
      ),
    ),
    h(
      'div',
      { class: 'toolbar' },
      h('div', { class: 'filter' }, icon('search'), filterInput),
      h('button', { class: 'secondary', onclick: chooseColumns }, icon('columns'), 'Columns'),
    ),
    filterError,
    bulkBar,
    tableHolder,
    pager,
  );

  await state.ensureFileToken();
  await load();

  let reloadTimer;
  const stop = realtime.subscribe(`${collection.name}/*`, () => {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 150);
  });
  const stopStatus = realtime.onStatus((status) => {
    liveLabel.textContent = status === 'live' ? 'Live' : 'Reconnecting…';
    liveBadge.classList.toggle('offline', status !== 'live');
  });
  return () => {
    clearTimeout(reloadTimer);
    stopStatus();
    stop();
  };
}


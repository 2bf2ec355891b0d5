// Request logs: requests per hour as a chart, the latest entries, and one entry in full.

import { h, icon, replace } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';
import { confirmAction, emptyState, formatDate, openDialog, toast, toastError } from '../lib/ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const LEVELS = { '-4': 'debug', 0: 'info', 4: 'warn', 8: 'error' };

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

const HOUR = 3_600_000;

/** The stats as one entry per hour of the last day (hours without requests count 0). */
function lastDay(stats) {
  const counts = new Map(stats.map((s) => [new Date(s.date.replace(' ', 'T')).getTime(), s.total]));
  const now = Math.floor(Date.now() / HOUR) * HOUR;
  return Array.from({ length: 24 }, (_, i) => {
    const time = now - (23 - i) * HOUR;
    return { date: new Date(time).toISOString(), total: counts.get(time) || 0 };
  });
}

/** Bars of requests per hour over the last day, with the busiest hour labelled. */
function chart(allStats) {
  if (!allStats.length) return emptyState('No requests logged yet', 'Requests to the API appear here.');
  const stats = lastDay(allStats);
  const width = 800;
  const height = 160;
  const max = Math.max(1, ...stats.map((s) => s.total));
  const barWidth = width / stats.length;
  const bars = stats.map((s, i) => {
    const barHeight = s.total ? Math.max(2, (s.total / max) * (height - 20)) : 0;
    const bar = svg('rect', { x: i * barWidth + 1, y: height - barHeight, width: Math.max(1, barWidth - 2), height: barHeight, class: 'bar' });
    bar.append(svg('title', null, `${formatDate(s.date)}: ${s.total} requests`));
    return bar;
  });
  const total = stats.reduce((sum, s) => sum + s.total, 0);
  return h(
    'figure',
    { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Requests per hour: ${total} in all, at most ${max} in one hour` }, ...bars),
    h('figcaption', { class: 'muted small' }, `${total} requests in the last 24 hours, ${max} in the busiest hour.`),
  );
}

function showEntry(entry) {
  return openDialog({
    title: entry.message || 'Log entry',
    side: true,
    wide: true,
    body: h(
      'dl',
      { class: 'details' },
      h('dt', null, 'id'), h('dd', { class: 'mono' }, entry.id),
      h('dt', null, 'when'), h('dd', null, formatDate(entry.created)),
      h('dt', null, 'level'), h('dd', null, LEVELS[entry.level] || entry.level),
      Object.entries(entry.data || {}).map(([k, v]) => [h('dt', null, k), h('dd', { class: 'mono' }, typeof v === 'object' ? JSON.stringify(v, null, 2) : String(v))]),
    ),
  });
}

export async function logsView(target) {
  const filterInput = h('input', { type: 'search', class: 'filter-input', placeholder: 'Filter, e.g. data.status >= 400', 'aria-label': 'Filter logs', 'data-shortcut': '/', spellcheck: 'false' });
  const filterError = h('p', { class: 'field-error', role: 'alert' });
  const chartHolder = h('div', { class: 'card' });
  const list = h('div', { class: 'table-holder' });
  let filter = '';

  const load = async () => {
    try {
      const [stats, page] = await Promise.all([
        api.get('/api/logs/stats', { filter }),
        api.get('/api/logs', { filter, perPage: 50, sort: '-created', skipTotal: 1 }),
      ]);
      filterError.textContent = '';
      replace(chartHolder, chart(stats));
      if (!page.items.length) {
        replace(list, emptyState('No log entries', filter ? 'Nothing matches the filter.' : 'Nothing has been logged yet.'));
        return;
      }
      replace(
        list,
        h(
          'table',
          { class: 'records logs' },
          h('thead', null, h('tr', null, ['When', 'Level', 'Method', 'Status', 'URL', 'Time'].map((t) => h('th', { scope: 'col' }, t)))),
          h(
            'tbody',
            null,
            page.items.map((entry) =>
              h(
                'tr',
                { class: entry.level >= 8 ? 'error-row' : null },
                h('td', null, h('button', { class: 'link', onclick: () => showEntry(entry) }, formatDate(entry.created))),
                h('td', null, h('span', { class: ['badge', LEVELS[entry.level]] }, LEVELS[entry.level] || entry.level)),
                h('td', null, entry.data?.method || ''),
                h('td', null, entry.data?.status ?? ''),
                h('td', { class: 'mono url' }, entry.data?.url || entry.message),
                h('td', null, entry.data?.execTime !== undefined ? `${Number(entry.data.execTime).toFixed(1)} ms` : ''),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) filterError.textContent = error.message;
      else toastError(error);
    }
  };

  filterInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      filter = filterInput.value.trim();
      load();
    }
  });

  replace(
    target,
    h(
      'header',
      { class: 'page-header' },
      h('div', null, h('h1', null, 'Logs')),
      h(
        'div',
        { class: 'actions' },
        h('button', { class: 'secondary icon-only', 'aria-label': 'Reload', onclick: load }, icon('refresh')),
        h('button', {
          class: 'danger ghost',
          onclick: async () => {
            if (!(await confirmAction('Delete every log entry?'))) return;
            try {
              await api.delete('/api/logs');
              toast('Logs deleted.');
              load();
            } catch (error) {
              toastError(error);
            }
          },
        }, icon('trash'), 'Delete all'),
      ),
    ),
    h('div', { class: 'toolbar' }, h('div', { class: 'filter' }, icon('search'), filterInput)),
    filterError,
    chartHolder,
    list,
  );
  await load();
}

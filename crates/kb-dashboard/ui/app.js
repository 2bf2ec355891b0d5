// The dashboard: routing between views and the frame around them (sidebar, theme, session).

import { h, icon, replace } from './lib/dom.js';
import { session } from './lib/api.js';
import { state } from './lib/state.js';
import { toastError } from './lib/ui.js';
import { go, rememberDestination } from './lib/nav.js';
import { installView } from './views/install.js';
import { loginView } from './views/login.js';
import { recordsView } from './views/records.js';
import { openCollectionEditor } from './views/collection-editor.js';
import { settingsView } from './views/settings.js';
import { logsView } from './views/logs.js';
import { backupsView } from './views/backups.js';

const root = document.getElementById('app');

const THEME_KEY = 'keelbase.dashboard.theme';

const systemDark = matchMedia('(prefers-color-scheme: dark)');

/** The chosen theme, else the system's (followed as it changes). */
function applyTheme() {
  const theme = localStorage.getItem(THEME_KEY) || (systemDark.matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = theme;
}

function toggleTheme() {
  localStorage.setItem(THEME_KEY, document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark');
  applyTheme();
}

let sidebar;
let main;
let sidebarFilter = '';

function frame() {
  if (main?.isConnected) return main;
  sidebar = h('nav', { class: 'sidebar', 'aria-label': 'Collections' });
  main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
  replace(
    root,
    h('a', { class: 'skip-link', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, 'Skip to content'),
    h('div', { class: 'layout' }, sidebar, main),
  );
  renderSidebar();
  return main;
}

function currentCollectionName() {
  const match = location.hash.match(/^#\/collections\/([^/?]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

function renderSidebar() {
  if (!sidebar) return;
  const active = currentCollectionName();
  const query = sidebarFilter.toLowerCase();
  const shown = state.collections.filter((c) => c.name.toLowerCase().includes(query));
  const item = (c) =>
    h(
      'li',
      null,
      h(
        'a',
        { href: `#/collections/${encodeURIComponent(c.name)}`, class: c.name === active ? 'active' : null, 'aria-current': c.name === active ? 'page' : null },
        icon(c.type === 'auth' ? 'users' : c.type === 'view' ? 'eye' : 'table'),
        h('span', null, c.name),
      ),
    );
  const own = shown.filter((c) => !c.system);
  const system = shown.filter((c) => c.system);
  const search = h('input', {
    type: 'search',
    class: 'sidebar-search',
    placeholder: 'Find a collection',
    'aria-label': 'Find a collection',
    value: sidebarFilter,
    oninput: (e) => {
      sidebarFilter = e.target.value;
      renderSidebar();
      sidebar.querySelector('.sidebar-search').focus();
    },
  });
  const menuOpen = sidebar.classList.contains('open');
  replace(
    sidebar,
    h(
      'div',
      { class: 'brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }),
      'Keelbase',
      // Only shown on narrow screens, where the rest of the sidebar folds away.
      h('button', {
        class: 'secondary small menu-toggle',
        'aria-expanded': String(menuOpen),
        onclick: () => {
          sidebar.classList.toggle('open');
          renderSidebar();
        },
      }, 'Menu'),
    ),
    search,
    h(
      'button',
      { class: 'primary block', onclick: () => openCollectionEditor(null) },
      icon('plus'),
      'New collection',
    ),
    h('ul', { class: 'nav-list' }, own.map(item)),
    own.length === 0 && !query ? h('p', { class: 'muted small' }, 'No collections yet.') : null,
    system.length ? h('h3', { class: 'nav-heading' }, 'System') : null,
    h('ul', { class: 'nav-list' }, system.map(item)),
    h(
      'div',
      { class: 'sidebar-footer' },
      h('a', { href: '#/logs', class: location.hash.startsWith('#/logs') ? 'active' : null }, icon('logs'), h('span', null, 'Logs')),
      h('a', { href: '#/backups', class: location.hash.startsWith('#/backups') ? 'active' : null }, icon('archive'), h('span', null, 'Backups')),
      h('a', { href: '#/settings', class: location.hash.startsWith('#/settings') ? 'active' : null }, icon('gear'), h('span', null, 'Settings')),
      h('button', { class: 'ghost', onclick: toggleTheme, 'aria-label': 'Switch between light and dark theme' }, icon('moon'), h('span', null, 'Theme')),
      h(
        'button',
        { class: 'ghost', onclick: () => session.clear() },
        icon('logout'),
        h('span', null, 'Sign out'),
      ),
      session.record ? h('p', { class: 'muted small who' }, session.record.email) : null,
    ),
  );
  search.value = sidebarFilter;
}

/** Stops what the view on screen keeps running (live updates), before the next one. */
let leaveView = null;

async function route() {
  sidebar?.classList.remove('open');
  leaveView?.();
  leaveView = null;
  const hash = location.hash || '#/';
  const install = hash.match(/^#\/install\/(.+)$/);
  if (install) return installView(root, decodeURIComponent(install[1]));
  if (!session.signedIn) {
    rememberDestination(hash);
    return loginView(root);
  }
  if (hash === '#/login') {
    go('#/');
    return undefined;
  }
  const target = frame();
  if (!state.collections.length) {
    try {
      await state.reloadCollections();
    } catch (error) {
      if (!session.signedIn) return route();
      toastError(error);
    }
  }
  renderSidebar();
  const collection = hash.match(/^#\/collections\/([^/?]+)/);
  if (collection) {
    leaveView = await recordsView(target, decodeURIComponent(collection[1]));
    return undefined;
  }
  if (hash.startsWith('#/settings')) return settingsView(target);
  if (hash.startsWith('#/logs')) return logsView(target);
  if (hash.startsWith('#/backups')) return backupsView(target);
  const first = state.collections.find((c) => !c.system);
  if (first) {
    location.replace(`#/collections/${encodeURIComponent(first.name)}`);
    return undefined;
  }
  return replace(
    target,
    h(
      'div',
      { class: 'empty hero' },
      h('h1', null, 'Welcome to Keelbase'),
      h('p', null, 'Start with a collection: a table with typed fields, its own REST API and access rules.'),
      h('button', { class: 'primary', onclick: () => openCollectionEditor(null) }, icon('plus'), 'Create your first collection'),
    ),
  );
}

state.listeners.add(renderSidebar);
session.load();
session.listeners.add(() => {
  if (!session.signedIn) {
    state.collections = [];
    main = null;
    route();
  }
});
applyTheme();
systemDark.addEventListener('change', applyTheme);
window.addEventListener('hashchange', route);
document.addEventListener('keydown', (event) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
  if (typing || event.ctrlKey || event.metaKey || event.altKey || document.querySelector('dialog[open]')) return;
  // "/" goes to the filter box, "n" starts a new record.
  const target = document.querySelector(`[data-shortcut="${CSS.escape(event.key)}"]`);
  if (target) {
    event.preventDefault();
    if (target.tagName === 'BUTTON') target.click();
    else target.focus();
  }
});
route();

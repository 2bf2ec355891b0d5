// Backups: make, upload, download, restore and delete archives of the whole back end.

import { h, icon, replace } from '../lib/dom.js';
import { api, url, ApiError } from '../lib/api.js';
import { state } from '../lib/state.js';
import { actionButton, confirmAction, emptyState, field, formatDate, openDialog, showErrors, toast, toastError } from '../lib/ui.js';

/** "1.4 MB" and the like. */
function formatSize(bytes) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < units.length - 1) {
    size /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${size} bytes` : `${size.toFixed(1)} ${units[unit]}`;
}

/** Asks for an optional name and makes a backup; resolves when it is stored. */
function makeBackup(done) {
  const name = h('input', { name: 'name', placeholder: 'Generated when left empty', spellcheck: 'false', autocomplete: 'off' });
  const form = h('form', { class: 'stack', novalidate: true }, field('Name', name, { name: 'name', hint: 'Lowercase letters, digits, _ and -, ending in .zip.' }));
  return openDialog({
    title: 'Make a backup',
    body: form,
    actions: [
      (close) => h('button', { class: 'secondary', onclick: () => close() }, 'Cancel'),
      (close) =>
        actionButton('Make the backup', async () => {
          try {
            await api.post('/api/backups', name.value.trim() ? { name: name.value.trim() } : {});
          } catch (error) {
            if (error instanceof ApiError && showErrors(form, error)) return;
            throw error;
          }
          toast('Backup made.');
          close(true);
          done();
        }, { class: 'primary' }),
    ],
  });
}

/** Waits until the server answers again after a restore, then reloads the dashboard. */
async function waitForRestart(status) {
  const started = Date.now();
  // The server answers the restore first and restarts about a second later.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  while (Date.now() - started < 120_000) {
    try {
      const response = await fetch('/api/health', { cache: 'no-store' });
      if (response.ok) {
        location.reload();
        return;
      }
    } catch {
      // Still restarting.
    }
    status.textContent = `Restarting… (${Math.round((Date.now() - started) / 1000)} s)`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  status.textContent = 'The server has not come back yet. Check its process, then reload this page.';
}

export async function backupsView(target) {
  const list = h('div', { class: 'table-holder' });
  const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const upload = h('input', { type: 'file', accept: '.zip,application/zip', class: 'visually-hidden', 'aria-label': 'Upload a backup' });

  const download = async (key) => {
    const token = await state.ensureFileToken();
    if (!token) throw new ApiError(0, { message: 'No download token could be had; try again.' });
    const link = h('a', { href: url(`/api/backups/${encodeURIComponent(key)}`, { token }), download: key });
    document.body.append(link);
    link.click();
    link.remove();
  };

  const restore = async (key) => {
    const confirmed = await confirmAction(
      `Restore ${key}? Every collection, record, file and setting is replaced by the backup's, and the server restarts. The data it replaces is kept in a folder in the data directory.`,
      { confirmLabel: 'Restore' },
    );
    if (!confirmed) return;
    await api.post(`/api/backups/${encodeURIComponent(key)}/restore`);
    replace(target, h('div', { class: 'empty hero' }, h('h1', null, `Restoring ${key}`), status));
    status.textContent = 'The server is restarting with the restored data…';
    await waitForRestart(status);
  };

  const remove = async (key) => {
    if (!(await confirmAction(`Delete the backup ${key}?`))) return;
    await api.delete(`/api/backups/${encodeURIComponent(key)}`);
    toast('Backup deleted.');
    load();
  };

  const load = async () => {
    let backups;
    try {
      backups = await api.get('/api/backups');
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        replace(list, emptyState('No backups on this server', error.message));
        return;
      }
      toastError(error);
      return;
    }
    if (!backups.length) {
      replace(list, emptyState('No backups yet', 'A backup holds the database and the uploaded files, ready to download or restore.'));
      return;
    }
    replace(
      list,
      h(
        'table',
        { class: 'records backups' },
        h('thead', null, h('tr', null, ['Name', 'Size', 'Made', h('span', { class: 'visually-hidden' }, 'Actions')].map((t) => h('th', { scope: 'col' }, t)))),
        h(
          'tbody',
          null,
          backups.map((backup) =>
            h(
              'tr',
              null,
              h('td', { class: 'mono' }, backup.key),
              h('td', null, formatSize(backup.size)),
              h('td', null, formatDate(backup.modified)),
              h(
                'td',
                { class: 'row-actions' },
                actionButton([icon('down'), 'Download'], () => download(backup.key), { class: 'ghost small', 'aria-label': `Download ${backup.key}` }),
                actionButton('Restore', () => restore(backup.key), { class: 'ghost small', 'aria-label': `Restore ${backup.key}` }),
                actionButton([icon('trash')], () => remove(backup.key), { class: 'ghost small danger', 'aria-label': `Delete ${backup.key}` }),
              ),
            ),
          ),
        ),
      ),
    );
  };

  upload.addEventListener('change', async () => {
    const [file] = upload.files;
    if (!file) return;
    const body = new FormData();
    body.append('file', file);
    try {
      await api.post('/api/backups/upload', body);
      toast(`Uploaded ${file.name}.`);
      load();
    } catch (error) {
      toastError(error.fieldMessage?.('file') || error);
    } finally {
      upload.value = '';
    }
  });

  replace(
    target,
    h(
      'header',
      { class: 'page-header' },
      h('div', null, h('h1', null, 'Backups'), h('p', { class: 'muted' }, 'Archives of the database and the uploaded files. Schedule and storage are in ', h('a', { href: '#/settings' }, 'Settings'), '.')),
      h(
        'div',
        { class: 'actions' },
        h('button', { class: 'secondary icon-only', 'aria-label': 'Reload', onclick: load }, icon('refresh')),
        h('button', { class: 'secondary', onclick: () => upload.click() }, icon('up'), 'Upload'),
        upload,
        h('button', { class: 'primary', onclick: () => makeBackup(load) }, icon('plus'), 'Make a backup'),
      ),
    ),
    list,
  );
  await load();
}

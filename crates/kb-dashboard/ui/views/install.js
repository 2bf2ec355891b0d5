// First run: the one-time link `keelbase serve` prints leads here to create the first superuser.

import { h, replace } from '../lib/dom.js';
import { api, session } from '../lib/api.js';
import { field } from '../lib/ui.js';
import { handleSubmit } from './login.js';
import { go } from '../lib/nav.js';

export function installView(root, token) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const confirm = h('input', { type: 'password', name: 'passwordConfirm', autocomplete: 'new-password', required: true });
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    field('Email', email, { name: 'email' }),
    field('Password', password, { name: 'password', hint: 'At least 8 characters.' }),
    field('Repeat the password', confirm, { name: 'passwordConfirm' }),
    h('div', { class: 'field', dataset: { name: 'token' } }, h('p', { class: 'field-error', role: 'alert' })),
    h('button', { type: 'submit', class: 'primary block' }, 'Create superuser and sign in'),
  );
  handleSubmit(form, async () => {
    const auth = await api.post('/api/install', {
      token,
      email: email.value.trim(),
      password: password.value,
      passwordConfirm: confirm.value,
    });
    session.save(auth.token, auth.record);
    go('#/');
  });
  replace(
    root,
    h(
      'div',
      { class: 'auth-page' },
      h(
        'section',
        { class: 'auth-card', 'aria-labelledby': 'install-title' },
        h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Keelbase'),
        h('h1', { id: 'install-title' }, 'Create the first superuser'),
        h('p', { class: 'muted' }, 'Superusers can change everything: collections, records, settings. This link works once.'),
        form,
      ),
    ),
  );
  email.focus();
}

// Signing in as a superuser: password, then a one-time code when MFA asks for one.

import { h, replace } from '../lib/dom.js';
import { api, session, ApiError } from '../lib/api.js';
import { field, showErrors, clearErrors } from '../lib/ui.js';
import { goAfterSignIn } from '../lib/nav.js';

const SUPERUSERS = '/api/collections/_superusers';

function card(title, subtitle, form) {
  return h(
    'div',
    { class: 'auth-page' },
    h(
      'section',
      { class: 'auth-card', 'aria-labelledby': 'auth-title' },
      h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Keelbase'),
      h('h1', { id: 'auth-title' }, title),
      subtitle ? h('p', { class: 'muted' }, subtitle) : null,
      form,
    ),
  );
}

/** Submits `form` through `action`, showing field errors and a form-level message. */
export function handleSubmit(form, action) {
  const message = h('p', { class: 'form-error', role: 'alert' });
  form.append(message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    message.textContent = '';
    clearErrors(form);
    try {
      await action();
    } catch (error) {
      const shown = error instanceof ApiError ? showErrors(form, error) : 0;
      if (!shown) message.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });
}

export function loginView(root) {
  const email = h('input', { type: 'email', name: 'identity', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    field('Email', email, { name: 'identity' }),
    field('Password', password, { name: 'password' }),
    h('button', { type: 'submit', class: 'primary block' }, 'Sign in'),
  );
  handleSubmit(form, async () => {
    try {
      const auth = await api.post(`${SUPERUSERS}/auth-with-password`, {
        identity: email.value.trim(),
        password: password.value,
      });
      session.save(auth.token, auth.record);
      goAfterSignIn();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && error.body?.mfaId) {
        return otpStep(root, email.value.trim(), error.body.mfaId);
      }
      throw error;
    }
    return undefined;
  });
  replace(root, card('Sign in', 'Superusers manage the whole back end here.', form));
  email.focus();
}

/** The second factor: a code sent by email. */
async function otpStep(root, email, mfaId) {
  const { otpId } = await api.post(`${SUPERUSERS}/request-otp`, { email });
  const code = h('input', { name: 'password', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    field('One-time code', code, { name: 'password', hint: `We sent a code to ${email}.` }),
    h('button', { type: 'submit', class: 'primary block' }, 'Verify'),
  );
  handleSubmit(form, async () => {
    const auth = await api.post(`${SUPERUSERS}/auth-with-otp`, { otpId, password: code.value.trim(), mfaId });
    session.save(auth.token, auth.record);
    goAfterSignIn();
  });
  replace(root, card('Check your email', 'Multi-factor authentication is on for superusers.', form));
  code.focus();
}

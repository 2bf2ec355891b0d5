// Creating and changing collections: fields with their options, the API rules (checked by
// the server as you type), indexes, a view's query and an auth collection's options.

import { h, icon, replace, uid } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';
import { state } from '../lib/state.js';
import { actionButton, confirmAction, field, openDialog, showErrors, toast, toastError } from '../lib/ui.js';
import { go } from '../lib/nav.js';

export const FIELD_TYPES = ['text', 'editor', 'number', 'bool', 'email', 'url', 'date', 'autodate', 'select', 'file', 'relation', 'json', 'geoPoint'];

const RULES = [
  ['listRule', 'List and search', 'Who may list records, and which ones they see.'],
  ['viewRule', 'View', 'Who may read one record by id.'],
  ['createRule', 'Create', 'Who may create records; @request.body.* is the sent data.'],
  ['updateRule', 'Update', 'Who may change records.'],
  ['deleteRule', 'Delete', 'Who may delete records.'],
];
const AUTH_RULES = [
  ['authRule', 'Authentication', 'Checked when a record signs in, e.g. verified = true.'],
  ['manageRule', 'Manage', 'Who may change other records’ email and password.'],
];

/** Comma-separated text ⇄ list. */
const toList = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);
const fromList = (list) => (list || []).join(', ');

function numberInput(value, props = {}) {
  return h('input', { type: 'number', step: 'any', value: value ?? '', ...props });
}

/**
 * Keeps `object[key]` equal to what `input` holds (through `read`), calling `changed` after
 * each edit; returns the input.
 */
function bound(input, object, key, changed = () => {}, read = (el) => el.value) {
  const update = () => {
    object[key] = read(input);
    changed();
  };
  input.addEventListener('input', update);
  input.addEventListener('change', update);
  return input;
}

const checked = (el) => el.checked;

/** The option inputs of one field type; each writes into `f` as it changes. */
function optionInputs(f) {
  const bind = (input, key, read) => bound(input, f, key, undefined, read);
  const num = (key, label, props) => field(label, bind(numberInput(f[key], props), key, (el) => (el.value === '' ? 0 : Number(el.value))));
  const text = (key, label, hint) => field(label, bind(h('input', { value: f[key] ?? '' }), key), { hint });
  const list = (key, label, hint) => field(label, bind(h('input', { value: fromList(f[key]) }), key, (el) => toList(el.value)), { hint });
  const check = (key, label) => h('label', { class: 'check-row' }, bind(h('input', { type: 'checkbox', checked: Boolean(f[key]) }), key, (el) => el.checked), label);
  switch (f.type) {
    case 'text':
      return [num('min', 'Min length'), num('max', 'Max length'), text('pattern', 'Pattern', 'A regular expression the value must match.'), text('autogeneratePattern', 'Generate with', 'e.g. [a-z0-9]{15}, for empty values.')];
    case 'editor':
      return [num('maxSize', 'Max size (bytes)'), check('convertURLs', 'Convert URLs to relative')];
    case 'number':
      return [num('min', 'Min'), num('max', 'Max'), check('onlyInt', 'Whole numbers only')];
    case 'email':
    case 'url':
      return [list('onlyDomains', 'Only domains', 'Comma-separated.'), list('exceptDomains', 'Except domains', 'Comma-separated.')];
    case 'date':
      return [text('min', 'Earliest', 'YYYY-MM-DD HH:MM:SS.sssZ'), text('max', 'Latest', 'YYYY-MM-DD HH:MM:SS.sssZ')];
    case 'autodate':
      return [check('onCreate', 'Set on create'), check('onUpdate', 'Set on update')];
    case 'select':
      return [list('values', 'Choices', 'Comma-separated.'), num('maxSelect', 'Most choices', { min: 1 })];
    case 'file':
      return [
        num('maxSelect', 'Most files', { min: 1 }),
        num('maxSize', 'Max size per file (bytes)'),
        list('mimeTypes', 'Allowed types', 'e.g. image/png, application/pdf; empty allows all.'),
        list('thumbs', 'Thumb sizes', 'e.g. 100x100, 0x300'),
        check('protected', 'Protected (needs a file token)'),
      ];
    case 'relation': {
      const select = bind(
        h('select', null, h('option', { value: '' }, 'Choose a collection'), state.collections.map((c) => h('option', { value: c.id, selected: c.id === f.collectionId }, c.name))),
        'collectionId',
      );
      return [field('Related collection', select), num('minSelect', 'Fewest'), num('maxSelect', 'Most', { min: 1 }), check('cascadeDelete', 'Delete with the related record')];
    }
    case 'json':
      return [num('maxSize', 'Max size (bytes)')];
    default:
      return [];
  }
}

/**
 * The OAuth2 providers of an auth collection: which services, with their client ids.
 * `errorsOf(index)` is the server's complaint about one provider, as text.
 */
function oauthProviders(draft, changed, errorsOf) {
  const oauth2 = (draft.oauth2 ||= { enabled: false, providers: [] });
  oauth2.providers ||= [];
  const holder = h('div', { class: 'stack' });
  let catalogue = [];
  const render = () => {
    const enabled = bound(h('input', { type: 'checkbox', checked: Boolean(oauth2.enabled) }), oauth2, 'enabled', changed, checked);
    const rows = oauth2.providers.map((provider, index) => {
      const name = bound(
        h(
          'select',
          { 'aria-label': `Provider ${index + 1}` },
          catalogue.map((p) => h('option', { value: p.name, selected: p.name === provider.name }, p.displayName || p.name)),
        ),
        provider,
        'name',
        () => {
          changed();
          // Some providers have settings of their own (Apple's secret generator).
          render();
        },
      );
      const clientId = bound(h('input', { value: provider.clientId || '', 'aria-label': `Client id of provider ${index + 1}` }), provider, 'clientId', changed, (el) => el.value.trim());
      const secret = bound(
        h('input', { type: 'password', value: provider.clientSecret || '', autocomplete: 'new-password', 'aria-label': `Client secret of provider ${index + 1}` }),
        provider,
        'clientSecret',
        changed,
      );
      return h(
        'div',
        { class: 'provider-row' },
        name,
        clientId,
        secret,
        h('button', { type: 'button', class: 'ghost icon-only', 'aria-label': `Remove provider ${index + 1}`, onclick: () => { oauth2.providers.splice(index, 1); render(); changed(); } }, icon('trash')),
        providerDetails(provider, index + 1, changed, (value) => { secret.value = value; }),
        h('p', { class: 'field-error', role: 'alert' }, errorsOf(index)),
      );
    });
    replace(
      holder,
      h('label', { class: 'check-row' }, enabled, 'Allow OAuth2 sign-in'),
      rows,
      h('button', {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          oauth2.providers.push({ name: catalogue[0]?.name || 'google', clientId: '', clientSecret: '' });
          render();
        },
      }, icon('plus'), 'Add a provider'),
      h('p', { class: 'hint' }, 'Redirect URL to register with the provider: ', h('code', null, `${location.origin}/api/oauth2-redirect`)),
      mappedFields(draft, oauth2, changed),
    );
  };
  api.get('/api/collections/meta/oauth2-providers').then((list) => {
    catalogue = list;
    render();
  }, () => render());
  render();
  return holder;
}

/**
 * A provider's less common settings: its name on the sign-in page, endpoints for self-hosted
 * services (OIDC, GitLab, Gitea...), PKCE, and provider-specific extras as JSON.
 */
/**
 * Apple wants a signed JWT as the client secret: make one from the team id, key id and
 * private key (nothing of which is stored) and put it in the provider's secret.
 */
function generateAppleSecret(provider, changed, onSecret) {
  const teamId = h('input', { maxlength: 10, autocomplete: 'off' });
  const keyId = h('input', { maxlength: 10, autocomplete: 'off' });
  const privateKey = h('textarea', { rows: 6, class: 'mono', spellcheck: 'false', placeholder: '-----BEGIN PRIVATE KEY-----' });
  const duration = h('input', { type: 'number', min: 1, max: 15777000, value: 15777000 });
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    field('Team ID', teamId, { name: 'teamId' }),
    field('Key ID', keyId, { name: 'keyId' }),
    field('Private key (.p8)', privateKey, { name: 'privateKey' }),
    field('Valid for (seconds, at most six months)', duration, { name: 'duration' }),
  );
  return openDialog({
    title: 'Apple client secret',
    body: form,
    actions: [
      (close) => h('button', { type: 'button', class: 'secondary', onclick: () => close() }, 'Cancel'),
      (close) => actionButton('Generate', async () => {
        try {
          const { secret } = await api.post('/api/settings/apple/generate-client-secret', {
            clientId: provider.clientId || '',
            teamId: teamId.value.trim(),
            keyId: keyId.value.trim(),
            privateKey: privateKey.value,
            duration: Number(duration.value),
          });
          provider.clientSecret = secret;
          changed();
          onSecret(secret);
          toast('Client secret generated; save the collection to keep it.');
          close();
        } catch (error) {
          if (error instanceof ApiError && showErrors(form, error)) return;
          throw error;
        }
      }, { class: 'primary' }),
    ],
  });
}

function providerDetails(provider, number, changed, onSecret) {
  const url = (key, label) =>
    field(label, bound(h('input', { type: 'url', value: provider[key] || '', placeholder: 'Provider default' }), provider, key, changed, (el) => el.value.trim()));
  const pkce = bound(
    h(
      'select',
      null,
      [['', 'Provider default'], ['true', 'On'], ['false', 'Off']].map(([value, label]) =>
        h('option', { value, selected: String(provider.pkce ?? '') === value }, label),
      ),
    ),
    provider,
    'pkce',
    changed,
    (el) => (el.value === '' ? null : el.value === 'true'),
  );
  const extra = h('textarea', { rows: 3, class: 'mono', spellcheck: 'false' }, provider.extra && Object.keys(provider.extra).length ? JSON.stringify(provider.extra, null, 2) : '');
  const extraField = field('Extra (JSON)', extra, { hint: 'e.g. {"jwksURL": "…", "issuers": ["…"]} for OpenID Connect.' });
  extra.addEventListener('input', () => {
    let message = '';
    try {
      const value = extra.value.trim() ? JSON.parse(extra.value) : {};
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('an object is expected');
      provider.extra = value;
      changed();
    } catch (error) {
      message = `Not a JSON object: ${error.message}`;
    }
    extraField.classList.toggle('invalid', Boolean(message));
    extraField.querySelector('.field-error').textContent = message;
  });
  const appleHelper = provider.name === 'apple'
    ? h('button', { type: 'button', class: 'secondary small', onclick: () => generateAppleSecret(provider, changed, onSecret) }, 'Generate the client secret from a private key')
    : null;
  return h(
    'details',
    { class: 'email-template provider-details' },
    h('summary', null, `More settings of provider ${number}`),
    appleHelper,
    h(
      'div',
      { class: 'settings-grid' },
      field('Display name', bound(h('input', { value: provider.displayName || '', placeholder: 'Provider default' }), provider, 'displayName', changed)),
      field('PKCE', pkce),
      url('authURL', 'Authorization URL'),
      url('tokenURL', 'Token URL'),
      url('userInfoURL', 'User info URL'),
    ),
    extraField,
  );
}

/** Which of the collection's fields are filled from the provider's profile on sign-up. */
function mappedFields(draft, oauth2, changed) {
  const mapped = (oauth2.mappedFields ||= { id: '', name: '', username: '', avatarURL: '' });
  const candidates = (types) => draft.fields.filter((f) => types.includes(f.type) && !f.system && f.name);
  const select = (key, label, types) =>
    field(
      label,
      bound(
        h(
          'select',
          null,
          h('option', { value: '' }, 'Not filled'),
          candidates(types).map((f) => h('option', { value: f.name, selected: mapped[key] === f.name }, f.name)),
        ),
        mapped,
        key,
        changed,
      ),
    );
  return h(
    'fieldset',
    { class: 'field' },
    h('legend', null, 'Fill on sign-up from the provider\'s profile'),
    h(
      'div',
      { class: 'settings-grid' },
      select('name', 'Full name into', ['text', 'editor']),
      select('username', 'Username into', ['text']),
      select('avatarURL', 'Avatar into', ['file', 'url', 'text']),
      select('id', 'Provider user id into', ['text']),
    ),
  );
}

function newField(type) {
  const base = { id: '', name: '', type, required: false, hidden: false, presentable: false, system: false };
  const defaults = {
    select: { values: [], maxSelect: 1 },
    file: { maxSelect: 1, maxSize: 0, mimeTypes: [], thumbs: [], protected: false },
    relation: { collectionId: '', maxSelect: 1, minSelect: 0, cascadeDelete: false },
    autodate: { onCreate: true, onUpdate: false },
  };
  return { ...base, ...(defaults[type] || {}) };
}

/** Opens the editor for `collection` (null: a new one). */
export function openCollectionEditor(collection) {
  const draft = collection
    ? structuredClone(collection)
    : { name: '', type: 'base', fields: [], indexes: [], listRule: null, viewRule: null, createRule: null, updateRule: null, deleteRule: null };
  if (!collection) draft.fields = [];
  const form = h('form', { class: 'stack collection-editor', novalidate: true });
  const errors = { current: null };

  const name = h('input', { name: 'name', value: draft.name, required: true, autocomplete: 'off', spellcheck: 'false' });
  name.addEventListener('input', () => {
    draft.name = name.value.trim();
    scheduleCheck();
  });
  const type = h(
    'select',
    { name: 'type', disabled: Boolean(collection) },
    ['base', 'auth', 'view'].map((t) => h('option', { value: t, selected: draft.type === t }, t)),
  );
  type.addEventListener('change', async () => {
    draft.type = type.value;
    if (draft.type === 'auth') {
      // A new auth collection starts from the server's defaults: its system fields, sign-in
      // options and email templates.
      try {
        const scaffold = structuredClone((await api.get('/api/collections/meta/scaffolds')).auth);
        const own = draft.fields.filter((f) => !scaffold.fields.some((s) => s.name === f.name));
        Object.assign(draft, scaffold, { id: undefined, name: draft.name, type: 'auth', fields: [...scaffold.fields, ...own] });
      } catch (error) {
        toastError(error);
      }
    }
    renderTabs();
  });

  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  const panel = h('div', { class: 'tab-panel', role: 'tabpanel' });
  let activeTab = draft.type === 'view' ? 'query' : 'fields';

  const fieldError = (path) => {
    let node = errors.current?.data;
    for (const key of path) node = node?.[key];
    return node?.message || '';
  };

  const errorLine = (path) => h('p', { class: 'field-error', role: 'alert' }, fieldError(path));

  const providerErrors = (index) => {
    const node = errors.current?.data?.oauth2?.providers?.[index];
    return node ? Object.entries(node).map(([key, error]) => `${key}: ${error.message}`).join('; ') : '';
  };

  /** Swaps field `index` with its neighbour (`step` -1 up, 1 down); the API keeps the order. */
  const moveButton = (index, step, direction) => {
    const other = index + step;
    const name = draft.fields[index].name || index + 1;
    return h('button', {
      type: 'button',
      class: 'ghost icon-only',
      'aria-label': `Move ${name} ${direction}`,
      disabled: other < 0 || other >= draft.fields.length,
      onclick: () => {
        [draft.fields[index], draft.fields[other]] = [draft.fields[other], draft.fields[index]];
        renderPanel();
        panel.querySelector(`[aria-label="Move ${CSS.escape(String(name))} ${direction}"]`)?.focus();
      },
    }, icon(direction === 'up' ? 'up' : 'down'));
  };

  const renderFields = () => {
    const list = h('div', { class: 'field-cards' });
    draft.fields.forEach((f, index) => {
      const nameInput = h('input', { value: f.name, 'aria-label': 'Field name', placeholder: 'name', readonly: f.system, class: 'mono' });
      nameInput.addEventListener('input', () => {
        f.name = nameInput.value.trim();
        scheduleCheck();
      });
      const flags = [
        ['required', 'Required'],
        ['hidden', 'Hidden from the API'],
        ['presentable', 'Presentable'],
      ].map(([key, label]) => {
        const box = h('input', { type: 'checkbox', checked: Boolean(f[key]) });
        box.addEventListener('change', () => {
          f[key] = box.checked;
        });
        return h('label', { class: 'check-row' }, box, label);
      });
      const optionsId = uid('options');
      const options = h('div', { class: 'field-options', id: optionsId, hidden: !f._open }, optionInputs(f), h('div', { class: 'flags' }, flags));
      list.append(
        h(
          'div',
          { class: ['field-card', f.system && 'system'], dataset: { index } },
          h(
            'div',
            { class: 'field-card-head' },
            h('span', { class: ['badge', 'type'] }, f.type),
            nameInput,
            f.system ? h('span', { class: 'muted small' }, 'system') : null,
            h('button', {
              type: 'button',
              class: 'ghost small',
              'aria-expanded': String(Boolean(f._open)),
              'aria-controls': optionsId,
              onclick: (event) => {
                f._open = !f._open;
                options.hidden = !f._open;
                event.currentTarget.setAttribute('aria-expanded', String(f._open));
              },
            }, 'Options'),
            moveButton(index, -1, 'up'),
            moveButton(index, 1, 'down'),
            f.system
              ? null
              : h('button', {
                  type: 'button',
                  class: 'ghost icon-only',
                  'aria-label': `Remove field ${f.name || index + 1}`,
                  onclick: () => {
                    draft.fields.splice(index, 1);
                    renderPanel();
                    scheduleCheck();
                  },
                }, icon('trash')),
          ),
          errorLine(['fields', String(index), 'name']),
          options,
        ),
      );
    });
    const add = h(
      'div',
      { class: 'add-field' },
      h('span', { class: 'muted' }, 'Add a field:'),
      FIELD_TYPES.map((t) =>
        h('button', {
          type: 'button',
          class: 'secondary small',
          dataset: { type: t },
          onclick: () => {
            const f = newField(t);
            f._open = true;
            draft.fields.push(f);
            renderPanel();
            panel.querySelector('.field-card:last-of-type input')?.focus();
          },
        }, t),
      ),
    );
    return [list, add, errorLine(['fields'])];
  };

  const ruleEditor = ([key, label, hint]) => {
    const locked = draft[key] === null || draft[key] === undefined;
    const area = h('textarea', { rows: 2, class: 'mono', spellcheck: 'false', disabled: locked, placeholder: locked ? 'Superusers only' : 'Empty: everyone, including guests' }, draft[key] ?? '');
    area.addEventListener('input', () => {
      draft[key] = area.value;
      scheduleCheck();
    });
    const lock = h('input', { type: 'checkbox', checked: locked });
    lock.addEventListener('change', () => {
      draft[key] = lock.checked ? null : area.value;
      area.disabled = lock.checked;
      area.placeholder = lock.checked ? 'Superusers only' : 'Empty: everyone, including guests';
      scheduleCheck();
    });
    const row = field(label, area, { name: key, hint });
    row.insertBefore(h('label', { class: 'check-row small' }, lock, 'Superusers only'), row.querySelector('.hint'));
    const message = fieldError([key]);
    if (message) {
      row.classList.add('invalid');
      row.querySelector('.field-error').textContent = message;
    }
    return row;
  };

  const renderIndexes = () => {
    const rows = (draft.indexes || []).map((sql, index) => {
      const input = h('input', { value: sql, class: 'mono', 'aria-label': `Index ${index + 1}`, spellcheck: 'false' });
      input.addEventListener('input', () => {
        draft.indexes[index] = input.value;
        scheduleCheck();
      });
      return h(
        'div',
        { class: 'index-row' },
        input,
        h('button', { type: 'button', class: 'ghost icon-only', 'aria-label': `Remove index ${index + 1}`, onclick: () => { draft.indexes.splice(index, 1); renderPanel(); scheduleCheck(); } }, icon('trash')),
        errorLine(['indexes', String(index)]),
      );
    });
    const table = draft.name || 'tableName';
    return [
      h('p', { class: 'muted' }, 'Indexes make filters and sorts on their columns fast; a unique index also forbids duplicates.'),
      rows,
      h('button', {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          draft.indexes = [...(draft.indexes || []), `CREATE INDEX idx_${table}_ ON ${table} ()`];
          renderPanel();
        },
      }, icon('plus'), 'Add index'),
      errorLine(['indexes']),
    ];
  };

  const renderQuery = () => {
    const area = h('textarea', { rows: 10, class: 'mono', spellcheck: 'false', name: 'viewQuery' }, draft.viewQuery || '');
    area.addEventListener('input', () => {
      draft.viewQuery = area.value;
      scheduleCheck();
    });
    const row = field('SELECT query', area, { name: 'viewQuery', hint: 'Read-only records from one SELECT; it must return an id column.' });
    const message = fieldError(['viewQuery']);
    if (message) {
      row.classList.add('invalid');
      row.querySelector('.field-error').textContent = message;
    }
    const preview = h('div', { class: 'table-holder view-preview', 'aria-live': 'polite' });
    const showPreview = async () => {
      try {
        const { fields, sample } = await api.post('/api/collections/meta/dry-run-view', { query: draft.viewQuery || '' });
        const names = fields.map((f) => f.name);
        replace(
          preview,
          sample.length
            ? h(
              'table',
              { class: 'records' },
              h('caption', { class: 'muted small' }, `First ${sample.length} record${sample.length === 1 ? '' : 's'}`),
              h('thead', null, h('tr', null, names.map((n) => h('th', { scope: 'col' }, n)))),
              h('tbody', null, sample.map((record) => h('tr', null, names.map((n) => h('td', null, typeof record[n] === 'object' ? JSON.stringify(record[n]) : String(record[n] ?? '')))))),
            )
            : h('p', { class: 'muted' }, `The query returns no records yet. Fields: ${names.join(', ')}.`),
        );
      } catch (error) {
        replace(preview, h('p', { class: 'field-error' }, error.message));
      }
    };
    return [row, h('div', null, h('button', { type: 'button', class: 'secondary', onclick: showPreview }, 'Preview records')), preview];
  };

  const renderAuthOptions = () => {
    const auth = (draft.passwordAuth ||= { enabled: true, identityFields: ['email'] });
    const otp = (draft.otp ||= { enabled: false, duration: 180, length: 8 });
    const mfa = (draft.mfa ||= { enabled: false, duration: 1800, rule: '' });
    const toggle = (object, key, label) =>
      h('label', { class: 'check-row' }, bound(h('input', { type: 'checkbox', checked: Boolean(object[key]) }), object, key, scheduleCheck, checked), label);
    const identity = bound(h('input', { value: fromList(auth.identityFields) }), auth, 'identityFields', scheduleCheck, (el) => toList(el.value));
    const durations = [
      ['authToken', 'Sign-in tokens'],
      ['verificationToken', 'Verification links'],
      ['passwordResetToken', 'Password reset links'],
      ['emailChangeToken', 'Email change links'],
      ['fileToken', 'File tokens'],
    ].map(([key, label]) => {
      const option = (draft[key] ||= { duration: 0 });
      const input = bound(h('input', { type: 'number', min: 1, value: option.duration }), option, 'duration', scheduleCheck, (el) => Number(el.value));
      return field(`${label} last (seconds)`, input, { name: `${key}.duration` });
    });
    const emails = [
      [draft, 'verificationTemplate', 'Verification'],
      [draft, 'resetPasswordTemplate', 'Password reset'],
      [draft, 'confirmEmailChangeTemplate', 'Email change'],
      [otp, 'emailTemplate', 'One-time code'],
      [draft.authAlert, 'emailTemplate', 'Login from a new place'],
    ].filter(([owner, key]) => owner?.[key]).map(([owner, key, label]) => {
      const template = owner[key];
      const subject = bound(h('input', { value: template.subject }), template, 'subject', scheduleCheck);
      const body = bound(h('textarea', { rows: 5, class: 'mono', spellcheck: 'false' }, template.body), template, 'body', scheduleCheck);
      return h(
        'details',
        { class: 'email-template' },
        h('summary', null, label),
        field(`${label} subject`, subject),
        field(`${label} body`, body, { hint: 'HTML. Placeholders: {APP_NAME}, {APP_URL}, {TOKEN}, {OTP}, {RECORD:field}.' }),
      );
    });
    return [
      AUTH_RULES.map(ruleEditor),
      h('h3', null, 'Emails'),
      emails,
      h('h3', null, 'Sign in with other services (OAuth2)'),
      oauthProviders(draft, scheduleCheck, providerErrors),
      h('h3', null, 'Token lifetimes'),
      h('div', { class: 'settings-grid' }, durations),
      h('h3', null, 'Sign-in methods'),
      toggle(auth, 'enabled', 'Email (or other identity) and password'),
      field('Identity fields', identity, { hint: 'Fields a user may sign in with; each needs a unique index.' }),
      toggle(otp, 'enabled', 'One-time code by email'),
      toggle(mfa, 'enabled', 'Multi-factor: a second method after the first'),
    ];
  };

  const renderPanel = () => {
    const content = {
      fields: renderFields,
      rules: () => RULES.map(ruleEditor),
      indexes: renderIndexes,
      query: renderQuery,
      auth: renderAuthOptions,
    }[activeTab];
    replace(panel, content());
  };

  const renderTabs = () => {
    const available = draft.type === 'view'
      ? [['query', 'Query'], ['rules', 'API rules']]
      : [['fields', 'Fields'], ['rules', 'API rules'], ['indexes', 'Indexes'], ...(draft.type === 'auth' ? [['auth', 'Auth options']] : [])];
    if (!available.some(([key]) => key === activeTab)) [[activeTab]] = available;
    replace(
      tabs,
      available.map(([key, label]) => {
        const failing = errors.current && tabHasError(key);
        return h('button', {
          type: 'button',
          role: 'tab',
          class: ['tab', failing && 'has-error'],
          dataset: { tab: key },
          'aria-selected': String(key === activeTab),
          onclick: () => {
            activeTab = key;
            renderTabs();
          },
        }, label);
      }),
    );
    renderPanel();
  };

  const tabHasError = (key) => {
    const data = errors.current?.data || {};
    const keys = {
      fields: ['fields'],
      rules: RULES.map(([k]) => k),
      indexes: ['indexes'],
      query: ['viewQuery'],
      auth: [...AUTH_RULES.map(([k]) => k), 'passwordAuth', 'otp', 'mfa'],
    }[key];
    return keys.some((k) => data[k]);
  };

  const payload = () => {
    const body = structuredClone(draft);
    body.fields = body.fields.map(({ _open, ...f }) => f);
    for (const key of ['created', 'updated']) delete body[key];
    return body;
  };

  const nameRow = field('Name', name, { name: 'name', hint: 'Also the path of its API: /api/collections/<name>/records.' });
  const header = h('div', { class: 'editor-head' }, nameRow, field('Type', type, { name: 'type' }));
  const formError = h('p', { class: 'form-error', role: 'alert' });
  form.append(header, tabs, panel, formError);

  let checkTimer;
  let checkSeq = 0;
  /** Asks the server to validate the draft without saving it, and shows what it says. */
  const scheduleCheck = () => {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(async () => {
      if (!draft.name) return;
      const seq = ++checkSeq;
      try {
        if (collection) await api.patch(`/api/collections/${encodeURIComponent(collection.id)}`, payload(), { dryRun: 'true' });
        else await api.post('/api/collections', payload(), { dryRun: 'true' });
        if (seq === checkSeq) showCheck(null);
      } catch (error) {
        if (seq === checkSeq && error instanceof ApiError && error.status === 400) showCheck(error);
      }
    }, 350);
  };

  const showCheck = (error) => {
    errors.current = error;
    nameRow.classList.toggle('invalid', Boolean(fieldError(['name'])));
    nameRow.querySelector('.field-error').textContent = fieldError(['name']);
    // Re-render only the error lines and tab markers, not the inputs being typed in.
    for (const row of panel.querySelectorAll('.field[data-name]')) {
      const message = fieldError([row.dataset.name]);
      row.classList.toggle('invalid', Boolean(message));
      const slot = row.querySelector('.field-error');
      if (slot) slot.textContent = message;
    }
    panel.querySelectorAll('.field-card').forEach((card) => {
      const slot = card.querySelector(':scope > .field-error');
      if (slot) slot.textContent = fieldError(['fields', card.dataset.index, 'name']);
    });
    for (const tab of tabs.querySelectorAll('.tab')) tab.classList.toggle('has-error', Boolean(error) && tabHasError(tab.dataset.tab));
    formError.textContent = '';
  };

  const save = async (close) => {
    formError.textContent = '';
    try {
      const saved = collection
        ? await api.patch(`/api/collections/${encodeURIComponent(collection.id)}`, payload())
        : await api.post('/api/collections', payload());
      await state.reloadCollections();
      toast(collection ? `Saved ${saved.name}.` : `Created ${saved.name}.`);
      close(saved);
      go(`#/collections/${encodeURIComponent(saved.name)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        errors.current = error;
        renderTabs();
        nameRow.querySelector('.field-error').textContent = fieldError(['name']);
        formError.textContent = `${error.message} See the marked tabs.`;
      } else {
        toastError(error);
      }
    }
  };

  renderTabs();
  if (!collection) setTimeout(() => name.focus());

  return openDialog({
    title: collection ? `Edit ${collection.name}` : 'New collection',
    side: true,
    wide: true,
    body: form,
    actions: [
      collection && !collection.system
        ? (close) => h('button', {
            type: 'button',
            class: 'danger ghost',
            onclick: async () => {
              if (!(await confirmAction(`Delete the collection ${collection.name} and all its records? This cannot be undone.`))) return;
              try {
                await api.delete(`/api/collections/${encodeURIComponent(collection.id)}`);
                await state.reloadCollections();
                toast(`Deleted ${collection.name}.`);
                close();
                go('#/');
              } catch (error) {
                toastError(error);
              }
            },
          }, icon('trash'), 'Delete collection')
        : null,
      collection && !collection.system && collection.type !== 'view'
        ? (close) => h('button', {
            type: 'button',
            class: 'danger ghost',
            onclick: async () => {
              if (!(await confirmAction(`Delete every record of ${collection.name}? The collection stays. This cannot be undone.`, { confirmLabel: 'Delete all records' }))) return;
              try {
                await api.delete(`/api/collections/${encodeURIComponent(collection.id)}/truncate`);
                toast(`${collection.name} is empty.`);
                close();
                go(`#/collections/${encodeURIComponent(collection.name)}`);
              } catch (error) {
                toastError(error);
              }
            },
          }, 'Delete all records')
        : null,
      h('span', { class: 'spacer' }),
      (close) => h('button', { type: 'button', class: 'secondary', onclick: () => close() }, 'Cancel'),
      (close) => {
        const button = h('button', { type: 'button', class: 'primary' }, collection ? 'Save changes' : 'Create collection');
        button.addEventListener('click', async () => {
          button.disabled = true;
          await save(close);
          button.disabled = false;
        });
        form.addEventListener('submit', (event) => {
          event.preventDefault();
          button.click();
        });
        return button;
      },
    ].filter(Boolean),
  });
}

// Application settings, one section at a time, each saved on its own.

import { h, replace } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';
import { actionButton, field, openDialog, toast, toastError } from '../lib/ui.js';

/** [path, label, kind, hint]: kind is text, number, bool, password or list. */
const SECTIONS = [
  {
    key: 'meta',
    title: 'Application',
    inputs: [
      ['meta.appName', 'Name', 'text', 'Shown in emails.'],
      ['meta.appURL', 'URL', 'text', 'Where the front end lives; links in emails point there.'],
      ['meta.senderName', 'Sender name', 'text'],
      ['meta.senderAddress', 'Sender address', 'text'],
      ['meta.hideControls', 'Hide collection controls', 'bool'],
    ],
  },
  {
    key: 'smtp',
    title: 'Mail (SMTP)',
    inputs: [
      ['smtp.enabled', 'Send through an SMTP server', 'bool'],
      ['smtp.host', 'Host', 'text'],
      ['smtp.port', 'Port', 'number'],
      ['smtp.username', 'Username', 'text'],
      ['smtp.password', 'Password', 'password', 'Left empty, the saved password stays.'],
      ['smtp.tls', 'TLS from the start (else STARTTLS when offered)', 'bool'],
      ['smtp.authMethod', 'Auth method (PLAIN or LOGIN)', 'text'],
      ['smtp.localName', 'Local name (HELO)', 'text'],
    ],
    test: { label: 'Send a test email', run: testEmail },
  },
  {
    key: 's3',
    title: 'File storage (S3)',
    inputs: s3Inputs('s3', 'Store files in S3-compatible storage'),
    test: s3Test('storage'),
  },
  {
    key: 'backups',
    title: 'Backups',
    inputs: [
      ['backups.cron', 'Automatic backups (cron, UTC)', 'text', 'e.g. 0 3 * * * for every night at 3:00; empty turns them off.'],
      ['backups.cronMaxKeep', 'Automatic backups kept', 'number'],
      ...s3Inputs('backups.s3', 'Keep backups in S3-compatible storage'),
    ],
    test: s3Test('backups'),
  },
  {
    key: 'batch',
    title: 'Batch requests',
    inputs: [
      ['batch.enabled', 'Allow /api/batch', 'bool'],
      ['batch.maxRequests', 'Most requests per batch', 'number'],
      ['batch.timeout', 'Timeout (seconds)', 'number'],
      ['batch.maxBodySize', 'Max body size (bytes, 0: default)', 'number'],
    ],
  },
  {
    key: 'rateLimits',
    title: 'Rate limits',
    inputs: [
      ['rateLimits.enabled', 'Limit requests per client', 'bool'],
      ['rateLimits.excludedIPs', 'Never limit these IPs', 'list', 'Comma-separated.'],
    ],
    rules: true,
  },
  {
    key: 'security',
    title: 'Superuser access',
    inputs: [
      ['superuserIPs', 'Only from these IPs or subnets', 'list', 'e.g. 203.0.113.7, 10.0.0.0/8; empty allows any address. Include your own address, or this dashboard locks you out.'],
    ],
  },
  {
    key: 'trustedProxy',
    title: 'Behind a proxy',
    inputs: [
      ['trustedProxy.headers', 'Client IP headers', 'list', 'e.g. X-Forwarded-For or CF-Connecting-IP; comma-separated. Only set this behind a proxy that sets them, or clients can pick their own IP.'],
      ['trustedProxy.useLeftmostIP', 'Use the leftmost IP of the header (else the rightmost)', 'bool'],
    ],
  },
  {
    key: 'logs',
    title: 'Request logs',
    inputs: [
      ['logs.maxDays', 'Keep logs for (days, 0: no logs)', 'number'],
      ['logs.minLevel', 'Lowest level kept (-4 debug, 0 info, 4 warn, 8 error)', 'number'],
      ['logs.logIP', 'Record client IPs', 'bool'],
      ['logs.logAuthId', 'Record who made each request', 'bool'],
    ],
  },
];

/** The inputs of the S3 settings object at `path` (`s3` or `backups.s3`). */
function s3Inputs(path, enableLabel) {
  return [
    [`${path}.enabled`, enableLabel, 'bool'],
    [`${path}.bucket`, 'Bucket', 'text'],
    [`${path}.region`, 'Region', 'text'],
    [`${path}.endpoint`, 'Endpoint', 'text'],
    [`${path}.accessKey`, 'Access key', 'text'],
    [`${path}.secret`, 'Secret', 'password', 'Left empty, the saved secret stays.'],
    [`${path}.forcePathStyle`, 'Path-style addressing', 'bool'],
  ];
}

/** The "test the connection" action of the S3 settings of `filesystem` (storage or backups). */
function s3Test(filesystem) {
  return {
    label: 'Test the connection',
    run: async () => {
      await api.post('/api/settings/test/s3', { filesystem });
      toast('Connected to the bucket.');
    },
  };
}

function read(object, path) {
  return path.split('.').reduce((o, k) => o?.[k], object);
}

function write(object, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  let node = object;
  for (const k of keys) node = node[k] ||= {};
  node[last] = value;
}

function input(kind, value) {
  switch (kind) {
    case 'bool':
      return h('input', { type: 'checkbox', checked: Boolean(value) });
    case 'number':
      return h('input', { type: 'number', value: value ?? 0 });
    case 'password':
      return h('input', { type: 'password', autocomplete: 'new-password', value: '' });
    case 'list':
      return h('input', { type: 'text', value: (value || []).join(', ') });
    default:
      return h('input', { type: 'text', value: value ?? '' });
  }
}

function valueOf(kind, el) {
  if (kind === 'bool') return el.checked;
  if (kind === 'number') return Number(el.value);
  if (kind === 'list') return el.value.split(',').map((item) => item.trim()).filter(Boolean);
  return el.value;
}

async function testEmail() {
  const email = h('input', { type: 'email', required: true });
  const template = h('select', null, ['verification', 'password-reset', 'email-change', 'otp', 'login-alert'].map((t) => h('option', { value: t }, t)));
  await openDialog({
    title: 'Send a test email',
    body: h('div', { class: 'stack' }, field('To', email), field('Template', template)),
    actions: [
      (close) => h('button', { class: 'secondary', onclick: () => close() }, 'Cancel'),
      (close) => actionButton('Send', async () => {
        await api.post('/api/settings/test/email', { email: email.value.trim(), template: template.value });
        toast(`Sent to ${email.value.trim()}.`);
        close();
      }, { class: 'primary' }),
    ],
  });
}

function rateLimitRules(settings, section) {
  const rules = (settings.rateLimits.rules ||= []);
  const holder = h('div', { class: 'stack' });
  const render = () => {
    replace(
      holder,
      h('p', { class: 'muted' }, 'Label: a path prefix like /api/ or an action like *:create or posts:list. Audience: @guest, @auth or empty for both.'),
      rules.length
        ? h('div', { class: 'rule-row rule-head', 'aria-hidden': 'true' }, ['Label', 'Audience', 'Most requests', 'Per seconds', ''].map((t) => h('span', null, t)))
        : null,
      rules.map((rule, index) => {
        const cell = (key, kind, label) => {
          const el = input(kind, rule[key]);
          el.setAttribute('aria-label', `${label} of rule ${index + 1}`);
          el.addEventListener('input', () => {
            rule[key] = valueOf(kind, el);
          });
          return el;
        };
        return h(
          'div',
          { class: 'rule-row', dataset: { name: `rateLimits.rules.${index}` } },
          cell('label', 'text', 'Label'),
          cell('audience', 'text', 'Audience'),
          cell('maxRequests', 'number', 'Most requests'),
          cell('duration', 'number', 'Per seconds'),
          h('button', { type: 'button', class: 'ghost small', onclick: () => { rules.splice(index, 1); render(); } }, 'Remove'),
        );
      }),
      h('button', { type: 'button', class: 'secondary', onclick: () => { rules.push({ label: '/api/', audience: '', maxRequests: 300, duration: 10 }); render(); } }, 'Add a rule'),
    );
  };
  render();
  section.rulesValue = () => rules;
  return holder;
}

export async function settingsView(target) {
  let settings;
  try {
    settings = await api.get('/api/settings');
  } catch (error) {
    toastError(error);
    return;
  }
  const sections = SECTIONS.map((section) => {
    const controls = section.inputs.map(([path, label, kind, hint]) => {
      const el = input(kind, read(settings, path));
      const row = kind === 'bool'
        ? h('div', { class: 'field', dataset: { name: path } }, h('label', { class: 'check-row' }, el, label), h('p', { class: 'field-error', role: 'alert' }))
        : field(label, el, { name: path, hint });
      return { path, kind, el, row };
    });
    const errorLine = h('p', { class: 'form-error', role: 'alert' });
    const save = actionButton('Save', async () => {
      const patch = {};
      for (const c of controls) {
        if (c.kind === 'password' && !c.el.value) continue;
        write(patch, c.path, valueOf(c.kind, c.el));
      }
      if (section.rules) write(patch, 'rateLimits.rules', section.rulesValue());
      errorLine.textContent = '';
      controls.forEach((c) => {
        c.row.classList.remove('invalid');
        c.row.querySelector('.field-error').textContent = '';
      });
      try {
        settings = await api.patch('/api/settings', patch);
        toast(`${section.title}: saved.`);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        let shown = 0;
        for (const c of controls) {
          const message = read(error.data, c.path)?.message;
          if (message) {
            c.row.classList.add('invalid');
            c.row.querySelector('.field-error').textContent = message;
            shown += 1;
          }
        }
        errorLine.textContent = shown ? 'Please fix the highlighted settings.' : error.message;
        if (!shown && error.data?.[section.key]) errorLine.textContent = JSON.stringify(error.data[section.key]);
      }
    }, { class: 'primary' });
    return h(
      'section',
      { class: 'card settings-section', id: `settings-${section.key}`, 'aria-labelledby': `settings-${section.key}-title` },
      h('h2', { id: `settings-${section.key}-title` }, section.title),
      h('div', { class: 'settings-grid' }, controls.map((c) => c.row)),
      section.rules ? rateLimitRules(settings, section) : null,
      errorLine,
      h('div', { class: 'actions' }, section.test ? actionButton(section.test.label, section.test.run, { class: 'secondary' }) : null, save),
    );
  });
  replace(
    target,
    h('header', { class: 'page-header' }, h('div', null, h('h1', null, 'Settings'))),
    h(
      'nav',
      { class: 'section-links', 'aria-label': 'Settings sections' },
      SECTIONS.map((s) => h('a', { href: `#/settings/${s.key}`, onclick: (e) => { e.preventDefault(); document.getElementById(`settings-${s.key}`).scrollIntoView({ behavior: 'smooth' }); } }, s.title)),
    ),
    sections,
  );
}

// Auth collections, sign-up, password login, auth-refresh, auth-methods, authRule, e-mail
// visibility, auth-record update rules (oldPassword / email / verified / manageRule), token
// invalidation, impersonation and non-superuser access to superuser endpoints.
// (E-mail flows live in auth-emails.test.js, OTP/MFA in auth-otp.test.js, rules in rules.test.js.)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  SUPERUSERS_COLLECTION_ID, DATETIME_RE, RECORD_ID_RE, PASSWORD,
  guestClient, suClient, expectError, assertErrorBody, raw, uniqName, uniqEmail, Collections,
  field, jwtPayload, createAuthRecord, authClient,
} from '../test/helpers.js';

let pb;
let cols;

before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
});
after(async () => {
  await cols.cleanup();
});

const nowSec = () => Math.floor(Date.now() / 1000);

/** Assert a JWT auth token payload: exact keys, ids, refreshable and exp ≈ now + duration. */
function assertAuthToken(token, { id, collectionId, refreshable = true, duration }) {
  const p = jwtPayload(token);
  assert.deepEqual(Object.keys(p).sort(), ['collectionId', 'exp', 'id', 'refreshable', 'type']);
  assert.equal(p.type, 'auth');
  assert.equal(p.id, id);
  assert.equal(p.collectionId, collectionId);
  assert.equal(p.refreshable, refreshable);
  if (duration !== undefined) {
    const delta = p.exp - nowSec();
    assert.ok(delta > duration - 10 && delta <= duration + 1, `exp - now = ${delta}, expected ≈ ${duration}`);
  }
  return p;
}

const AUTH_SYSTEM_FIELDS = {
  id: {
    autogeneratePattern: '[a-z0-9]{15}', help: '', hidden: false, id: 'text3208210256', max: 15, min: 15,
    name: 'id', pattern: '^[a-z0-9]+$', presentable: false, primaryKey: true, required: true, system: true, type: 'text',
  },
  password: {
    cost: 0, help: '', hidden: true, id: 'password901924565', max: 0, min: 8, name: 'password', pattern: '',
    presentable: false, required: true, system: true, type: 'password',
  },
  tokenKey: {
    autogeneratePattern: '[a-zA-Z0-9]{50}', help: '', hidden: true, id: 'text2504183744', max: 60, min: 30,
    name: 'tokenKey', pattern: '', presentable: false, primaryKey: false, required: true, system: true, type: 'text',
  },
  email: {
    exceptDomains: [], help: '', hidden: false, id: 'email3885137012', name: 'email', onlyDomains: [],
    presentable: false, required: true, system: true, type: 'email',
  },
  emailVisibility: {
    help: '', hidden: false, id: 'bool1547992806', name: 'emailVisibility', presentable: false, required: false,
    system: true, type: 'bool',
  },
  verified: {
    help: '', hidden: false, id: 'bool256245529', name: 'verified', presentable: false, required: false,
    system: true, type: 'bool',
  },
};

/** A custom auth collection with public list/view/create (e-mail visibility tests etc.). */
async function publicAuthCollection(extra = {}) {
  return cols.create({
    name: uniqName('acc'),
    type: 'auth',
    listRule: '',
    viewRule: '',
    createRule: '',
    updateRule: 'id = @request.auth.id',
    deleteRule: 'id = @request.auth.id',
    fields: [{ name: 'role', type: 'text' }, { name: 'secret', type: 'text', hidden: true }],
    ...extra,
  });
}

// ---------------------------------------------------------------------------------------------

describe('auth collections', () => {
  test('create {type:"auth"}: system fields, indexes and default options', async () => {
    const name = uniqName('acol');
    const c = await cols.create({ name, type: 'auth' });
    assert.equal(c.type, 'auth');
    assert.equal(c.system, false);
    for (const r of ['listRule', 'viewRule', 'createRule', 'updateRule', 'deleteRule']) assert.equal(c[r], null, r);
    // only the auth system fields, in this order (no created/updated autodates)
    assert.deepEqual(c.fields.map((f) => f.name), ['id', 'password', 'tokenKey', 'email', 'emailVisibility', 'verified']);
    for (const [n, def] of Object.entries(AUTH_SYSTEM_FIELDS)) assert.deepEqual(field(c, n), def, n);
    assert.deepEqual(c.indexes, [
      `CREATE UNIQUE INDEX \`idx_tokenKey_${c.id}\` ON \`${name}\` (\`tokenKey\`)`,
      `CREATE UNIQUE INDEX \`idx_email_${c.id}\` ON \`${name}\` (\`email\`) WHERE \`email\` != ''`,
    ]);
    assert.equal(c.authRule, '');
    assert.equal(c.manageRule, null);
    assert.deepEqual(c.passwordAuth, { enabled: true, identityFields: ['email'] });
    assert.deepEqual(c.oauth2, { providers: [], mappedFields: { id: '', name: '', username: '', avatarURL: '' }, enabled: false });
    assert.deepEqual(c.mfa, { enabled: false, duration: 600, rule: '' });
    assert.equal(c.otp.enabled, false);
    assert.equal(c.otp.duration, 180);
    assert.equal(c.otp.length, 8);
    assert.equal(c.otp.emailTemplate.subject, 'OTP for {APP_NAME}');
    assert.ok(c.otp.emailTemplate.body.includes('{OTP}'));
    // token configs: only the duration is serialized (the secret never is)
    assert.deepEqual(c.authToken, { duration: 432000 });
    assert.deepEqual(c.passwordResetToken, { duration: 1800 });
    assert.deepEqual(c.emailChangeToken, { duration: 1800 });
    assert.deepEqual(c.verificationToken, { duration: 86400 });
    assert.deepEqual(c.fileToken, { duration: 180 });
    assert.equal(c.authAlert.enabled, true);
    assert.equal(c.authAlert.emailTemplate.subject, 'Login from a new location');
    assert.ok(c.authAlert.emailTemplate.body.includes('{ALERT_INFO}'));
    assert.equal(c.verificationTemplate.subject, 'Verify your {APP_NAME} email');
    assert.ok(c.verificationTemplate.body.includes('{TOKEN}'));
    assert.equal(c.resetPasswordTemplate.subject, 'Reset your {APP_NAME} password');
    assert.ok(c.resetPasswordTemplate.body.includes('{TOKEN}'));
    assert.equal(c.confirmEmailChangeTemplate.subject, 'Confirm your {APP_NAME} new email address');
    assert.ok(c.confirmEmailChangeTemplate.body.includes('{TOKEN}'));
    // the same from GET
    const again = await pb.collections.getOne(name);
    assert.deepEqual(again.fields, c.fields);
    assert.deepEqual(again.authToken, { duration: 432000 });
  });

  test('custom fields/options: user fields first, identity field with UNIQUE index, durations', async () => {
    const name = uniqName('acol');
    const c = await cols.create({
      name,
      type: 'auth',
      fields: [{ name: 'username', type: 'text', max: 50 }, { name: 'created', type: 'autodate', onCreate: true }],
      indexes: [`CREATE UNIQUE INDEX idx_un_${name} ON ${name} (username)`],
      passwordAuth: { enabled: true, identityFields: ['email', 'username'] },
      authToken: { duration: 3600, secret: 'x'.repeat(40) },
      verificationToken: { duration: 120 },
    });
    assert.deepEqual(c.fields.map((f) => f.name),
      ['id', 'username', 'created', 'password', 'tokenKey', 'email', 'emailVisibility', 'verified']);
    assert.deepEqual(c.indexes, [
      `CREATE UNIQUE INDEX idx_un_${name} ON ${name} (username)`,
      `CREATE UNIQUE INDEX \`idx_tokenKey_${c.id}\` ON \`${name}\` (\`tokenKey\`)`,
      `CREATE UNIQUE INDEX \`idx_email_${c.id}\` ON \`${name}\` (\`email\`) WHERE \`email\` != ''`,
    ]);
    assert.deepEqual(c.passwordAuth, { enabled: true, identityFields: ['email', 'username'] });
    assert.deepEqual(c.authToken, { duration: 3600 }, 'secret is write-only');
    assert.deepEqual(c.verificationToken, { duration: 120 });
    // a system field can be re-declared with other options (password min)
    const c2 = await cols.create({
      name: uniqName('acol'), type: 'auth',
      fields: [{ name: 'password', type: 'password', min: 12, required: true, hidden: true, system: true }],
    });
    assert.equal(field(c2, 'password').min, 12);
    assert.equal(field(c2, 'password').id, 'password901924565');
    const body = await expectError(
      guestClient().collection(c2.name).create({ email: uniqEmail(), password: 'password123', passwordConfirm: 'password123' }), 403);
    assert.equal(body.message, 'Only superusers can perform this action.');
    const b2 = await expectError(
      pb.collection(c2.name).create({ email: uniqEmail(), password: 'password123', passwordConfirm: 'password123' }), 400);
    assert.deepEqual(b2.data, {
      password: { code: 'validation_min_text_constraint', message: 'Must be at least 12 character(s).' },
    });
  });

  test('auth option validation errors', async () => {
    const cases = [
      [{ fields: [{ name: 'username', type: 'text' }], passwordAuth: { enabled: true, identityFields: ['email', 'username'] } },
        { passwordAuth: { identityFields: { code: 'validation_missing_unique_constraint', message: "The field username doesn't have a UNIQUE constraint.", params: { fieldName: 'username' } } } }],
      [{ passwordAuth: { enabled: true, identityFields: ['nosuch'] } },
        { passwordAuth: { identityFields: { code: 'validation_missing_field', message: 'Invalid or missing field nosuch.', params: { fieldName: 'nosuch' } } } }],
      [{ passwordAuth: { enabled: true, identityFields: [] } },
        { passwordAuth: { identityFields: { code: 'validation_required', message: 'Cannot be blank.' } } }],
      [{ authToken: { duration: 5 } },
        { authToken: { duration: { code: 'validation_min_greater_equal_than_required', message: 'Must be no less than 10.', params: { threshold: 10 } } } }],
      [{ authToken: { duration: 999999999 } },
        { authToken: { duration: { code: 'validation_max_less_equal_than_required', message: 'Must be no greater than 94670856.', params: { threshold: 94670856 } } } }],
      [{ otp: { enabled: true, length: 2, duration: 5 } },
        { otp: {
          duration: { code: 'validation_min_greater_equal_than_required', message: 'Must be no less than 10.', params: { threshold: 10 } },
          length: { code: 'validation_min_greater_equal_than_required', message: 'Must be no less than 4.', params: { threshold: 4 } },
        } }],
      [{ mfa: { enabled: true } },
        { mfa: { enabled: { code: 'validation_mfa_not_enough_auths', message: 'MFA requires at least 2 auth methods to be enabled.' } } }],
      [{ fields: [{ name: 'passwordConfirm', type: 'text' }, { name: 'oldPassword', type: 'text' }] },
        { fields: {
          1: { name: { code: 'validation_reserved_field_name', message: 'The field name is reserved and cannot be used.' } },
          2: { name: { code: 'validation_reserved_field_name', message: 'The field name is reserved and cannot be used.' } },
        } }],
      [{ authRule: 'nosuch = 1', manageRule: 'bad ===' },
        {
          authRule: { code: 'validation_invalid_rule', message: 'Invalid rule. Raw error: invalid left operand "nosuch" - unknown field "nosuch".' },
          manageRule: { code: 'validation_invalid_rule', message: 'Invalid rule. Raw error: invalid sign operator "===".' },
        }],
    ];
    for (const [extra, data] of cases) {
      const body = await expectError(pb.collections.create({ name: uniqName('bad'), type: 'auth', ...extra }), 400);
      assertErrorBody(body, 400, 'Failed to create collection.');
      assert.deepEqual(body.data, data, JSON.stringify(extra));
    }
  });

  test('system fields and indexes cannot be removed; renames and type changes are rejected', async () => {
    const c = await cols.create({ name: uniqName('acol'), type: 'auth', fields: [{ name: 'nick', type: 'text' }] });
    // dropping a system field (or the system indexes) is silently undone; the field is re-appended at the end
    const u1 = await pb.collections.update(c.id, { fields: c.fields.filter((f) => f.name !== 'email'), indexes: [] });
    assert.deepEqual(u1.fields.map((f) => f.name), ['id', 'nick', 'password', 'tokenKey', 'emailVisibility', 'verified', 'email']);
    assert.deepEqual(u1.indexes, c.indexes);
    // renaming a system field
    const renamed = u1.fields.map((f) => (f.name === 'verified' ? { ...f, name: 'isVerified' } : f));
    const body = await expectError(pb.collections.update(c.id, { fields: renamed }), 400);
    assertErrorBody(body, 400, 'Failed to update collection.');
    assert.deepEqual(body.data, { fields: { code: 'validation_system_field_change', message: 'System fields cannot be deleted or renamed.' } });
    // auth -> base
    const b2 = await expectError(pb.collections.update(c.id, { type: 'base' }), 400);
    assert.deepEqual(b2.data, { type: { code: 'validation_collection_type_change', message: 'Collection type cannot be changed.' } });
  });

  test('default `users` collection', async () => {
    const u = await pb.collections.getOne('users');
    assert.equal(u.id, '_pb_users_auth_');
    assert.equal(u.type, 'auth');
    assert.equal(u.system, false);
    assert.equal(u.listRule, 'id = @request.auth.id');
    assert.equal(u.viewRule, 'id = @request.auth.id');
    assert.equal(u.createRule, '');
    assert.equal(u.updateRule, 'id = @request.auth.id');
    assert.equal(u.deleteRule, 'id = @request.auth.id');
    assert.equal(u.authRule, '');
    assert.equal(u.manageRule, null);
    assert.deepEqual(u.fields.map((f) => f.name),
      ['id', 'password', 'tokenKey', 'email', 'emailVisibility', 'verified', 'name', 'avatar', 'created', 'updated']);
    for (const [n, def] of Object.entries(AUTH_SYSTEM_FIELDS)) assert.deepEqual(field(u, n), def, n);
    assert.deepEqual(field(u, 'name'), {
      autogeneratePattern: '', help: '', hidden: false, id: 'text1579384326', max: 255, min: 0, name: 'name',
      pattern: '', presentable: false, primaryKey: false, required: false, system: false, type: 'text',
    });
    assert.deepEqual(field(u, 'avatar'), {
      help: '', hidden: false, id: 'file376926767', maxSelect: 1, maxSize: 0,
      mimeTypes: ['image/jpeg', 'image/png', 'image/svg+xml', 'image/gif', 'image/webp'],
      name: 'avatar', presentable: false, protected: false, required: false, system: false, thumbs: [], type: 'file',
    });
    assert.deepEqual(field(u, 'created'), {
      hidden: false, id: 'autodate2990389176', name: 'created', onCreate: true, onUpdate: false, presentable: false, system: false, type: 'autodate',
    });
    assert.deepEqual(field(u, 'updated'), {
      hidden: false, id: 'autodate3332085495', name: 'updated', onCreate: true, onUpdate: true, presentable: false, system: false, type: 'autodate',
    });
    assert.deepEqual(u.indexes, [
      'CREATE UNIQUE INDEX `idx_tokenKey__pb_users_auth_` ON `users` (`tokenKey`)',
      "CREATE UNIQUE INDEX `idx_email__pb_users_auth_` ON `users` (`email`) WHERE `email` != ''",
    ]);
    assert.deepEqual(u.passwordAuth, { enabled: true, identityFields: ['email'] });
    assert.deepEqual(u.oauth2.mappedFields, { id: '', name: 'name', username: '', avatarURL: 'avatar' });
    assert.deepEqual(u.authToken, { duration: 432000 });
    assert.equal(u.otp.enabled, false);
    assert.equal(u.mfa.enabled, false);
  });

  test('auth endpoints on a non-auth or unknown collection -> 404', async () => {
    const base = await cols.create({ name: uniqName('plain'), type: 'base', fields: [{ name: 'x', type: 'text' }] });
    const nonAuth = { data: {}, message: 'Missing or invalid auth collection context.', status: 404 };
    let r = await raw(`/api/collections/${base.name}/auth-methods`);
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, nonAuth);
    r = await raw(`/api/collections/${base.name}/auth-with-password`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ identity: 'a', password: 'b' }),
    });
    assert.deepEqual(r.json, nonAuth);
    await expectError(pb.collection(base.name).impersonate('abcdefghijklmno', 10), 404, 'Missing or invalid auth collection context.');
    r = await raw('/api/collections/nosuch_collection_x/auth-methods');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { data: {}, message: 'Missing or invalid collection context.', status: 404 });
  });
});

// ---------------------------------------------------------------------------------------------

describe('sign-up (create auth record)', () => {
  test('guest sign-up on users: 200, no email in the response, no secrets', async () => {
    const g = guestClient();
    const email = uniqEmail('signup');
    const rec = await g.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name: 'Sign Up' });
    assert.match(rec.id, RECORD_ID_RE);
    // the creator is a guest: e-mail hidden (emailVisibility false); password/tokenKey never serialized
    assert.deepEqual(Object.keys(rec).sort(),
      ['avatar', 'collectionId', 'collectionName', 'created', 'emailVisibility', 'id', 'name', 'updated', 'verified']);
    assert.equal(rec.collectionId, '_pb_users_auth_');
    assert.equal(rec.collectionName, 'users');
    assert.equal(rec.emailVisibility, false);
    assert.equal(rec.verified, false);
    assert.equal(rec.name, 'Sign Up');
    assert.match(rec.created, DATETIME_RE);
    // superuser view: e-mail visible, still no password/tokenKey
    const su = await pb.collection('users').getOne(rec.id);
    assert.equal(su.email, email);
    assert.equal('password' in su, false);
    assert.equal('tokenKey' in su, false);
    // emailVisibility:true on sign-up shows it to the guest creator
    const vis = await g.collection('users').create({ email: uniqEmail('vis'), password: PASSWORD, passwordConfirm: PASSWORD, emailVisibility: true });
    assert.equal(vis.emailVisibility, true);
    assert.match(vis.email, /^vis_/);
  });

  test('password / passwordConfirm validation', async () => {
    const g = guestClient().collection('users');
    const email = uniqEmail();
    let body = await expectError(g.create({ email, password: PASSWORD, passwordConfirm: 'password124' }), 400);
    assertErrorBody(body, 400, 'Failed to create record.');
    assert.deepEqual(body.data, { passwordConfirm: { code: 'validation_values_mismatch', message: "Values don't match." } });
    body = await expectError(g.create({ email, password: PASSWORD }), 400);
    assert.deepEqual(body.data, { passwordConfirm: { code: 'validation_required', message: 'Cannot be blank.' } });
    body = await expectError(g.create({ email, password: 'short', passwordConfirm: 'short' }), 400);
    assert.deepEqual(body.data, { password: { code: 'validation_min_text_constraint', message: 'Must be at least 8 character(s).' } });
    // password/passwordConfirm errors are reported first, record-field errors (email) only after they pass
    body = await expectError(g.create({}), 400);
    assert.deepEqual(body.data, {
      password: { code: 'validation_required', message: 'Cannot be blank.' },
      passwordConfirm: { code: 'validation_required', message: 'Cannot be blank.' },
    });
    body = await expectError(g.create({ email: 'not-an-email' }), 400);
    assert.deepEqual(Object.keys(body.data).sort(), ['password', 'passwordConfirm']);
    body = await expectError(g.create({ password: PASSWORD, passwordConfirm: PASSWORD }), 400);
    assert.deepEqual(body.data, { email: { code: 'validation_required', message: 'Cannot be blank.' } });
    body = await expectError(g.create({ email: 'not-an-email', password: PASSWORD, passwordConfirm: PASSWORD }), 400);
    assert.deepEqual(body.data, { email: { code: 'validation_is_email', message: 'Must be a valid email address.' } });
    // bcrypt limit: 71 characters is the maximum
    const p71 = 'p'.repeat(71);
    const ok = await g.create({ email: uniqEmail(), password: p71, passwordConfirm: p71 });
    assert.match(ok.id, RECORD_ID_RE);
    const p72 = 'p'.repeat(72);
    body = await expectError(g.create({ email: uniqEmail(), password: p72, passwordConfirm: p72 }), 400);
    assert.deepEqual(body.data, { password: { code: 'validation_max_text_constraint', message: 'Must be less than 71 character(s).' } });
    // whitespace-only passwords are accepted
    const ws = await g.create({ email: uniqEmail(), password: ' '.repeat(8), passwordConfirm: ' '.repeat(8) });
    assert.match(ws.id, RECORD_ID_RE);
  });

  test('duplicate e-mail -> validation_not_unique (case-sensitive)', async () => {
    const g = guestClient().collection('users');
    const email = `Mixed_${uniqEmail().slice(2)}`;
    await g.create({ email, password: PASSWORD, passwordConfirm: PASSWORD });
    const body = await expectError(g.create({ email, password: PASSWORD, passwordConfirm: PASSWORD }), 400);
    assertErrorBody(body, 400, 'Failed to create record.');
    assert.deepEqual(body.data, { email: { code: 'validation_not_unique', message: 'Value must be unique.' } });
    // the unique email index is not case-insensitive: a different case is another account
    const lower = await g.create({ email: email.toLowerCase(), password: PASSWORD, passwordConfirm: PASSWORD });
    assert.match(lower.id, RECORD_ID_RE);
  });

  test('guests cannot set verified or hidden fields; superusers can set verified', async () => {
    const c = await publicAuthCollection();
    const g = guestClient().collection(c.name);
    const body = await expectError(g.create({ email: uniqEmail(), password: PASSWORD, passwordConfirm: PASSWORD, verified: true }), 400);
    assert.deepEqual(body.data, { verified: { code: 'validation_values_mismatch', message: "Values don't match." } });
    // verified:false (= the default) is fine; hidden field values are dropped silently
    const rec = await g.create({ email: uniqEmail(), password: PASSWORD, passwordConfirm: PASSWORD, verified: false, secret: 'guest-set' });
    assert.equal(rec.verified, false);
    assert.equal('secret' in rec, false);
    assert.equal((await pb.collection(c.name).getOne(rec.id)).secret, '');
    // superuser: verified allowed, passwordConfirm still required
    const s = await pb.collection(c.name).create({ email: uniqEmail(), password: PASSWORD, passwordConfirm: PASSWORD, verified: true, secret: 'su-set' });
    assert.equal(s.verified, true);
    assert.equal(s.secret, 'su-set');
    const b2 = await expectError(pb.collection(c.name).create({ email: uniqEmail(), password: PASSWORD }), 400);
    assert.deepEqual(b2.data, { passwordConfirm: { code: 'validation_required', message: 'Cannot be blank.' } });
  });
});

// ---------------------------------------------------------------------------------------------

describe('password auth', () => {
  test('authWithPassword (users): response shape, token claims, authStore', async () => {
    const email = uniqEmail('login');
    const u = await createAuthRecord(guestClient(), 'users', { email, name: 'Lo Gin' });
    const c = guestClient();
    const res = await c.collection('users').authWithPassword(email, PASSWORD);
    assert.deepEqual(Object.keys(res).sort(), ['record', 'token']);
    // auth responses always include the e-mail (emailVisibility is false here)
    assert.deepEqual(res.record, {
      avatar: '', collectionId: '_pb_users_auth_', collectionName: 'users', created: res.record.created, email,
      emailVisibility: false, id: u.id, name: 'Lo Gin', updated: res.record.updated, verified: false,
    });
    assertAuthToken(res.token, { id: u.id, collectionId: '_pb_users_auth_', duration: 432000 });
    assert.equal(c.authStore.isValid, true);
    assert.equal(c.authStore.isSuperuser, false);
    assert.equal(c.authStore.token, res.token);
    assert.equal(c.authStore.record.id, u.id);
    // the token works: the user sees itself (users listRule id = @request.auth.id)
    const list = await c.collection('users').getList();
    assert.deepEqual(list.items.map((x) => x.id), [u.id]);
    assert.equal(list.items[0].email, email, 'owner sees own email');
    c.authStore.clear();
    assert.equal(c.authStore.isValid, false);
  });

  test('wrong password and unknown identity give the same 400; login is case-sensitive', async () => {
    const email = `Case_${uniqEmail().slice(2)}`;
    await createAuthRecord(pb, 'users', { email });
    const expected = { data: {}, message: 'Failed to authenticate.', status: 400 };
    for (const [identity, password] of [
      [email, 'wrongpass1'], ['nobody_x@compat.test', PASSWORD], [email.toLowerCase(), PASSWORD], [email.toUpperCase(), PASSWORD],
    ]) {
      const body = await expectError(guestClient().collection('users').authWithPassword(identity, password), 400);
      assert.deepEqual(body, expected, identity);
    }
    const ok = await guestClient().collection('users').authWithPassword(email, PASSWORD);
    assert.equal(ok.record.email, email);
  });

  test('input validation of auth-with-password', async () => {
    let body = await expectError(guestClient().collection('users').authWithPassword('', ''), 400);
    assert.deepEqual(body, {
      data: {
        identity: { code: 'validation_required', message: 'Cannot be blank.' },
        password: { code: 'validation_required', message: 'Cannot be blank.' },
      },
      message: 'An error occurred while validating the submitted data.',
      status: 400,
    });
    body = await expectError(guestClient().collection('users').authWithPassword('x'.repeat(256), 'p'), 400);
    assert.deepEqual(body.data, {
      identity: { code: 'validation_length_out_of_range', message: 'The length must be between 1 and 255.', params: { max: 255, min: 1 } },
    });
    const r = await raw('/api/collections/users/auth-with-password', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ identity: 'x@compat.test', password: PASSWORD, identityField: 'name' }),
    });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json.data, { identityField: { code: 'validation_in_invalid', message: 'Must be a valid value.' } });
  });

  test('extra identity field (username) via passwordAuth.identityFields', async () => {
    const name = uniqName('ident');
    const c = await cols.create({
      name, type: 'auth', listRule: '', viewRule: '', createRule: '',
      fields: [{ name: 'username', type: 'text' }],
      indexes: [`CREATE UNIQUE INDEX idx_un_${name} ON ${name} (username)`],
      passwordAuth: { enabled: true, identityFields: ['email', 'username'] },
      authToken: { duration: 3600 },
    });
    const username = uniqName('alice');
    const a = await createAuthRecord(guestClient(), name, { username });
    // by username (no identityField) and by e-mail
    const byName = await guestClient().collection(name).authWithPassword(username, PASSWORD);
    assert.equal(byName.record.id, a.id);
    assert.equal(byName.record.email, a.email);
    assertAuthToken(byName.token, { id: a.id, collectionId: c.id, duration: 3600 });
    assert.equal((await guestClient().collection(name).authWithPassword(a.email, PASSWORD)).record.id, a.id);
    // explicit identityField
    const r = await raw(`/api/collections/${name}/auth-with-password`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ identity: username, password: PASSWORD, identityField: 'username' }),
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.record.id, a.id);
    // usernames are case-sensitive too
    await expectError(guestClient().collection(name).authWithPassword(username.toUpperCase(), PASSWORD), 400, 'Failed to authenticate.');
    // unique username
    const body = await expectError(createAuthRecord(guestClient(), name, { username }), 400);
    assert.deepEqual(body.data, { username: { code: 'validation_not_unique', message: 'Value must be unique.' } });
  });

  test('authRefresh: new token for the same record; wrong collection / guest errors', async () => {
    const u = await createAuthRecord(pb, 'users');
    const c = await authClient('users', u.email);
    const first = jwtPayload(c.authStore.token);
    const res = await c.collection('users').authRefresh();
    assert.deepEqual(Object.keys(res).sort(), ['record', 'token']);
    assert.equal(res.record.id, u.id);
    assert.equal(res.record.email, u.email);
    const p = assertAuthToken(res.token, { id: u.id, collectionId: '_pb_users_auth_', duration: 432000 });
    assert.ok(p.exp >= first.exp);
    assert.equal(c.authStore.token, res.token);
    // guest
    const g = await expectError(guestClient().collection('users').authRefresh(), 401);
    assert.deepEqual(g, { data: {}, message: 'The request requires valid record authorization token.', status: 401 });
    // a token of another auth collection: the message names the collection of the *token's* record
    const r1 = await raw('/api/collections/_superusers/auth-refresh', { method: 'POST', token: c.authStore.token });
    assert.equal(r1.status, 403);
    assert.deepEqual(r1.json, { data: {}, message: 'The request requires auth record from users collection.', status: 403 });
    const r2 = await raw('/api/collections/users/auth-refresh', { method: 'POST', token: pb.authStore.token });
    assert.equal(r2.status, 403);
    assert.deepEqual(r2.json, { data: {}, message: 'The request requires auth record from _superusers collection.', status: 403 });
  });

  test('a deleted record\'s token is invalid', async () => {
    const u = await createAuthRecord(pb, 'users');
    const c = await authClient('users', u.email);
    const token = c.authStore.token;
    await c.collection('users').delete(u.id);
    assert.equal(c.authStore.token, '', 'SDK clears the auth store after deleting its own record');
    const r = await raw('/api/collections/users/auth-refresh', { method: 'POST', token });
    assert.equal(r.status, 401);
  });

  test('listAuthMethods(): exact shape (SDK asks for fields=mfa,otp,password,oauth2)', async () => {
    const res = await guestClient().collection('users').listAuthMethods();
    assert.deepEqual(res, {
      password: { enabled: true, identityFields: ['email'] },
      oauth2: { enabled: false, providers: [] },
      mfa: { enabled: false, duration: 0 },
      otp: { enabled: false, duration: 0 },
    });
    // raw response also carries the legacy keys
    const r = await raw('/api/collections/users/auth-methods');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {
      password: { enabled: true, identityFields: ['email'] },
      oauth2: { enabled: false, providers: [] },
      mfa: { enabled: false, duration: 0 },
      otp: { enabled: false, duration: 0 },
      authProviders: [],
      usernamePassword: false,
      emailPassword: true,
    });
    const su = await guestClient().collection('_superusers').listAuthMethods();
    assert.deepEqual(su.password, { enabled: true, identityFields: ['email'] });
  });

  test('auth-methods legacy flags follow identityFields; disabled password auth', async () => {
    const name = uniqName('am');
    const c = await cols.create({
      name, type: 'auth', fields: [{ name: 'username', type: 'text' }],
      indexes: [`CREATE UNIQUE INDEX idx_un_${name} ON ${name} (username)`],
      passwordAuth: { enabled: true, identityFields: ['username'] },
    });
    let r = await raw(`/api/collections/${name}/auth-methods`);
    assert.deepEqual(r.json.password, { enabled: true, identityFields: ['username'] });
    assert.equal(r.json.usernamePassword, true);
    assert.equal(r.json.emailPassword, false);
    await pb.collections.update(c.id, { passwordAuth: { enabled: false } });
    r = await raw(`/api/collections/${name}/auth-methods`);
    assert.deepEqual(r.json.password, { enabled: false, identityFields: [] });
    assert.equal(r.json.usernamePassword, false);
    assert.equal(r.json.emailPassword, false);
    r = await raw(`/api/collections/${name}/auth-methods?fields=password`);
    assert.deepEqual(r.json, { password: { enabled: false, identityFields: [] } });
  });

  test('passwordAuth disabled -> 403 (before body validation)', async () => {
    const c = await publicAuthCollection();
    const u = await createAuthRecord(pb, c.name);
    await pb.collections.update(c.id, { passwordAuth: { enabled: false } });
    const expected = { data: {}, message: 'The collection is not configured to allow password authentication.', status: 403 };
    assert.deepEqual(await expectError(guestClient().collection(c.name).authWithPassword(u.email, PASSWORD), 403), expected);
    assert.deepEqual(await expectError(guestClient().collection(c.name).authWithPassword('', ''), 403), expected);
  });

  test('authRule: verified = true / null; changing authRule invalidates issued tokens', async () => {
    const c = await publicAuthCollection({ authRule: 'verified = true' });
    const a = await createAuthRecord(pb, c.name);
    const v = await createAuthRecord(pb, c.name, { verified: true });
    const denied = { data: {}, message: "The request doesn't satisfy the collection requirements to authenticate.", status: 403 };
    assert.deepEqual(await expectError(guestClient().collection(c.name).authWithPassword(a.email, PASSWORD), 403), denied);
    // credentials are checked first
    await expectError(guestClient().collection(c.name).authWithPassword(a.email, 'wrongpass1'), 400, 'Failed to authenticate.');
    const vc = await authClient(c.name, v.email);
    assert.equal(vc.authStore.record.verified, true);
    const oldToken = vc.authStore.token;
    assert.equal((await raw(`/api/collections/${c.name}/auth-refresh`, { method: 'POST', token: oldToken })).status, 200);
    // null authRule: nobody may authenticate
    await pb.collections.update(c.id, { authRule: null });
    assert.deepEqual(await expectError(guestClient().collection(c.name).authWithPassword(v.email, PASSWORD), 403), denied);
    // any authRule change rotates the collection token secret: previously issued tokens are dead
    await pb.collections.update(c.id, { authRule: '' });
    const r = await raw(`/api/collections/${c.name}/auth-refresh`, { method: 'POST', token: oldToken });
    assert.equal(r.status, 401);
    const fresh = await authClient(c.name, a.email);
    assert.equal(fresh.authStore.isValid, true);
    // an unrelated collection change keeps tokens valid
    await pb.collections.update(c.id, { listRule: 'id != ""' });
    assert.equal((await raw(`/api/collections/${c.name}/auth-refresh`, { method: 'POST', token: fresh.authStore.token })).status, 200);
  });
});

// ---------------------------------------------------------------------------------------------

describe('e-mail visibility', () => {
  let c;
  let a; // emailVisibility false
  let b; // emailVisibility true
  before(async () => {
    c = await publicAuthCollection({ manageRule: '@request.auth.role = "manager"' });
    a = await createAuthRecord(pb, c.name, { prefix: 'hid' });
    b = await createAuthRecord(pb, c.name, { prefix: 'vis', emailVisibility: true });
  });

  test('guests and other users see the e-mail only with emailVisibility; owner and superuser always', async () => {
    const byId = (items) => Object.fromEntries(items.map((r) => [r.id, r]));
    const guest = byId(await guestClient().collection(c.name).getFullList());
    assert.equal('email' in guest[a.id], false);
    assert.equal(guest[b.id].email, b.email);
    const other = await createAuthRecord(pb, c.name);
    const oc = await authClient(c.name, other.email);
    const seenByOther = await oc.collection(c.name).getOne(a.id);
    assert.deepEqual(Object.keys(seenByOther).sort(), ['collectionId', 'collectionName', 'emailVisibility', 'id', 'role', 'verified']);
    assert.equal((await oc.collection(c.name).getOne(b.id)).email, b.email);
    const ac = await authClient(c.name, a.email);
    assert.equal((await ac.collection(c.name).getOne(a.id)).email, a.email, 'owner');
    const su = await pb.collection(c.name).getOne(a.id);
    assert.equal(su.email, a.email);
    assert.equal(su.secret, '', 'superuser sees hidden fields');
    assert.equal('password' in su, false);
    assert.equal('tokenKey' in su, false);
    // fields=email does not leak it
    assert.deepEqual(await guestClient().collection(c.name).getOne(a.id, { fields: 'id,email' }), { id: a.id });
  });

  test('manageRule satisfiers see e-mails', async () => {
    const m = await createAuthRecord(pb, c.name, { role: 'manager' });
    const mc = await authClient(c.name, m.email);
    assert.equal((await mc.collection(c.name).getOne(a.id)).email, a.email);
  });

  test('filtering by email requires emailVisibility for every non-superuser (even the owner)', async () => {
    const count = async (client, email) =>
      (await client.collection(c.name).getList(1, 10, { filter: client.filter('email = {:e}', { e: email }) })).totalItems;
    const g = guestClient();
    assert.equal(await count(g, a.email), 0);
    assert.equal(await count(g, b.email), 1);
    const ac = await authClient(c.name, a.email);
    assert.equal(await count(ac, a.email), 0, 'owner');
    assert.equal(await count(pb, a.email), 1, 'superuser');
    // sort by email is allowed
    assert.equal((await g.collection(c.name).getList(1, 10, { sort: 'email' })).items.length >= 2, true);
    // hidden/password/tokenKey fields are not filterable by non-superusers
    for (const f of ['password = "x"', 'tokenKey != ""', 'secret = ""']) {
      const body = await expectError(g.collection(c.name).getList(1, 10, { filter: f }), 400);
      assert.deepEqual(body, { data: {}, message: 'Something went wrong while processing your request.', status: 400 }, f);
    }
    assert.ok((await pb.collection(c.name).getList(1, 10, { filter: 'tokenKey != ""' })).totalItems >= 2);
  });

  test('auth responses include the e-mail; owner can toggle emailVisibility', async () => {
    const x = await createAuthRecord(pb, c.name);
    const xc = guestClient();
    const res = await xc.collection(c.name).authWithPassword(x.email, PASSWORD);
    assert.equal(res.record.email, x.email);
    assert.equal(res.record.emailVisibility, false);
    const upd = await xc.collection(c.name).update(x.id, { emailVisibility: true });
    assert.equal(upd.emailVisibility, true);
    assert.equal((await guestClient().collection(c.name).getOne(x.id)).email, x.email);
  });
});

// ---------------------------------------------------------------------------------------------

describe('auth record update rules', () => {
  test('owner: password change needs oldPassword + passwordConfirm; email/verified are locked', async () => {
    const c = await publicAuthCollection();
    const a = await createAuthRecord(pb, c.name);
    const ac = await authClient(c.name, a.email);
    const A = ac.collection(c.name);
    const fail = async (body, data) => {
      const res = await expectError(A.update(a.id, body), 400);
      assertErrorBody(res, 400, 'Failed to update record.');
      assert.deepEqual(res.data, data, JSON.stringify(body));
    };
    await fail({ password: 'newpass123', passwordConfirm: 'newpass123' },
      { oldPassword: { code: 'validation_required', message: 'Cannot be blank.' } });
    await fail({ password: 'newpass123', passwordConfirm: 'newpass123', oldPassword: 'nope12345' },
      { oldPassword: { code: 'validation_invalid_old_password', message: 'Missing or invalid old password.' } });
    await fail({ password: 'newpass123', passwordConfirm: 'newpass124', oldPassword: PASSWORD },
      { passwordConfirm: { code: 'validation_values_mismatch', message: "Values don't match." } });
    await fail({ password: 'newpass123', oldPassword: PASSWORD },
      { passwordConfirm: { code: 'validation_required', message: 'Cannot be blank.' } });
    await fail({ email: uniqEmail() }, { email: { code: 'validation_values_mismatch', message: "Values don't match." } });
    await fail({ verified: true }, { verified: { code: 'validation_values_mismatch', message: "Values don't match." } });
    await fail({ verified: true, email: uniqEmail(), password: 'x' }, {
      email: { code: 'validation_values_mismatch', message: "Values don't match." },
      oldPassword: { code: 'validation_required', message: 'Cannot be blank.' },
      passwordConfirm: { code: 'validation_required', message: 'Cannot be blank.' },
      verified: { code: 'validation_values_mismatch', message: "Values don't match." },
    });
    // unchanged values are fine; hidden fields are silently ignored for non-superusers
    const same = await A.update(a.id, { email: a.email, verified: false, role: 'r', secret: 'owner-set' });
    assert.equal(same.role, 'r');
    assert.equal((await pb.collection(c.name).getOne(a.id)).secret, '');
  });

  test('password change rotates tokenKey: the old token becomes a guest token', async () => {
    const c = await publicAuthCollection();
    const a = await createAuthRecord(pb, c.name);
    const ac = await authClient(c.name, a.email);
    const oldToken = ac.authStore.token;
    const upd = await ac.collection(c.name).update(a.id, { password: 'newpass123', passwordConfirm: 'newpass123', oldPassword: PASSWORD });
    assert.equal(upd.id, a.id);
    assert.equal(upd.email, a.email);
    assert.equal('password' in upd, false);
    // old token: 401 on auth-refresh, treated as guest elsewhere (public view works, owner update -> 404)
    const r = await raw(`/api/collections/${c.name}/auth-refresh`, { method: 'POST', token: oldToken });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { data: {}, message: 'The request requires valid record authorization token.', status: 401 });
    const view = await raw(`/api/collections/${c.name}/records/${a.id}`, { token: oldToken });
    assert.equal(view.status, 200);
    assert.equal('email' in view.json, false, 'not the owner any more');
    const patch = await raw(`/api/collections/${c.name}/records/${a.id}`, {
      method: 'PATCH', token: oldToken, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ role: 'x' }),
    });
    assert.equal(patch.status, 404);
    await expectError(guestClient().collection(c.name).authWithPassword(a.email, PASSWORD), 400, 'Failed to authenticate.');
    const relog = await guestClient().collection(c.name).authWithPassword(a.email, 'newpass123');
    assert.equal(relog.record.id, a.id);
  });

  test('updateRule satisfiers without manage access edit other fields but not email/verified', async () => {
    const c = await publicAuthCollection({ updateRule: 'id = @request.auth.id || @request.auth.role = "admin"' });
    const adm = await createAuthRecord(pb, c.name, { role: 'admin' });
    const a = await createAuthRecord(pb, c.name);
    // a non-manager admin may update other fields of another record, but not email/verified/password
    const admc = await authClient(c.name, adm.email);
    const ok = await admc.collection(c.name).update(a.id, { role: 'edited' });
    assert.equal(ok.role, 'edited');
    const body = await expectError(admc.collection(c.name).update(a.id, { verified: true }), 400);
    assert.deepEqual(body.data, { verified: { code: 'validation_values_mismatch', message: "Values don't match." } });
  });

  test('manageRule: managers change email/verified/password without oldPassword', async () => {
    const c = await publicAuthCollection({
      updateRule: 'id = @request.auth.id || @request.auth.role = "admin"',
      manageRule: '@request.auth.role = "admin"',
    });
    const adm = await createAuthRecord(pb, c.name, { role: 'admin' });
    const a = await createAuthRecord(pb, c.name);
    const ac = await authClient(c.name, a.email);
    const admc = await authClient(c.name, adm.email);
    const newEmail = uniqEmail('managed');
    const upd = await admc.collection(c.name).update(a.id, { email: newEmail, verified: true });
    assert.equal(upd.email, newEmail);
    assert.equal(upd.verified, true);
    // e-mail change rotates tokenKey
    assert.equal((await raw(`/api/collections/${c.name}/auth-refresh`, { method: 'POST', token: ac.authStore.token })).status, 401);
    await admc.collection(c.name).update(a.id, { password: 'managed123', passwordConfirm: 'managed123' });
    const relog = await guestClient().collection(c.name).authWithPassword(newEmail, 'managed123');
    assert.equal(relog.record.verified, true);
    // a manager updating its own password needs no oldPassword either
    await admc.collection(c.name).update(adm.id, { password: 'admown1234', passwordConfirm: 'admown1234' });
    // the owner (not a manager) still cannot flip verified back
    const ac2 = await authClient(c.name, newEmail, 'managed123');
    const body = await expectError(ac2.collection(c.name).update(a.id, { verified: false }), 400);
    assert.deepEqual(body.data, { verified: { code: 'validation_values_mismatch', message: "Values don't match." } });
  });

  test('superuser: email/verified freely, password needs passwordConfirm only; which changes kill tokens', async () => {
    const c = await publicAuthCollection();
    const d = await createAuthRecord(pb, c.name);
    const dc = await authClient(c.name, d.email);
    const alive = async () => (await raw(`/api/collections/${c.name}/auth-refresh`, { method: 'POST', token: dc.authStore.token })).status;
    await pb.collection(c.name).update(d.id, { emailVisibility: true });
    assert.equal(await alive(), 200, 'emailVisibility change keeps tokens');
    await pb.collection(c.name).update(d.id, { verified: true });
    assert.equal(await alive(), 200, 'verified change keeps tokens');
    let body = await expectError(pb.collection(c.name).update(d.id, { password: 'supass1234' }), 400);
    assert.deepEqual(body.data, { passwordConfirm: { code: 'validation_required', message: 'Cannot be blank.' } });
    body = await expectError(pb.collection(c.name).update(d.id, { password: 'supass1234', passwordConfirm: 'other12345' }), 400);
    assert.deepEqual(body.data, { passwordConfirm: { code: 'validation_values_mismatch', message: "Values don't match." } });
    const newEmail = uniqEmail('su');
    const upd = await pb.collection(c.name).update(d.id, { email: newEmail });
    assert.equal(upd.email, newEmail);
    assert.equal(await alive(), 401, 'email change kills tokens');
    const dc2 = await authClient(c.name, newEmail);
    await pb.collection(c.name).update(d.id, { password: 'supass1234', passwordConfirm: 'supass1234' });
    assert.equal((await raw(`/api/collections/${c.name}/auth-refresh`, { method: 'POST', token: dc2.authStore.token })).status, 401,
      'password change kills tokens');
    const relog = await guestClient().collection(c.name).authWithPassword(newEmail, 'supass1234');
    assert.equal(relog.record.verified, true);
  });
});

// ---------------------------------------------------------------------------------------------

describe('impersonate', () => {
  test('superuser impersonate(id, duration) -> client with a non-refreshable token', async () => {
    const c = await publicAuthCollection();
    const a = await createAuthRecord(pb, c.name);
    const client = await pb.collection(c.name).impersonate(a.id, 100);
    assert.notEqual(client, pb);
    assert.equal(client.authStore.isValid, true);
    assert.equal(client.authStore.isSuperuser, false);
    assert.equal(client.authStore.record.id, a.id);
    assert.equal(client.authStore.record.email, a.email);
    assertAuthToken(client.authStore.token, { id: a.id, collectionId: c.id, refreshable: false, duration: 100 });
    // the superuser client keeps its own auth
    assert.equal(pb.authStore.isSuperuser, true);
    // works as the user (owner sees own e-mail)
    assert.equal((await client.collection(c.name).getOne(a.id)).email, a.email);
    // auth-refresh of a non-refreshable token returns the same token
    const t0 = client.authStore.token;
    const ref = await client.collection(c.name).authRefresh();
    assert.deepEqual(Object.keys(ref).sort(), ['record', 'token']);
    assert.equal(ref.token, t0);
    // raw response shape
    const r = await raw(`/api/collections/${c.name}/impersonate/${a.id}`, {
      method: 'POST', token: pb.authStore.token, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ duration: 50 }),
    });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['record', 'token']);
    assert.equal(r.json.record.email, a.email);
  });

  test('duration 0 = collection authToken duration; negative -> 400; unknown id -> 404', async () => {
    const c = await publicAuthCollection({ authToken: { duration: 7200 } });
    const a = await createAuthRecord(pb, c.name);
    const client = await pb.collection(c.name).impersonate(a.id, 0);
    assertAuthToken(client.authStore.token, { id: a.id, collectionId: c.id, refreshable: false, duration: 7200 });
    const body = await expectError(pb.collection(c.name).impersonate(a.id, -5), 400);
    assert.deepEqual(body, {
      data: { duration: { code: 'validation_min_greater_equal_than_required', message: 'Must be no less than 0.', params: { threshold: 0 } } },
      message: 'An error occurred while validating the submitted data.',
      status: 400,
    });
    const nf = await expectError(pb.collection(c.name).impersonate('nosuchid0000000', 10), 404);
    assert.deepEqual(nf, { data: {}, message: "The requested resource wasn't found.", status: 404 });
  });

  test('impersonating a superuser gives a superuser client', async () => {
    const me = pb.authStore.record;
    const client = await pb.collection('_superusers').impersonate(me.id, 60);
    assert.equal(client.authStore.isSuperuser, true);
    assertAuthToken(client.authStore.token, { id: me.id, collectionId: SUPERUSERS_COLLECTION_ID, refreshable: false, duration: 60 });
    const s = await client.settings.getAll();
    assert.equal(typeof s.meta.appName, 'string');
  });

  test('guest -> 401, non-superuser -> 403', async () => {
    const c = await publicAuthCollection();
    const a = await createAuthRecord(pb, c.name);
    const g = await expectError(guestClient().collection(c.name).impersonate(a.id, 10), 401);
    assert.deepEqual(g, { data: {}, message: 'The request requires valid record authorization token.', status: 401 });
    const ac = await authClient(c.name, a.email);
    const f = await expectError(ac.collection(c.name).impersonate(a.id, 10), 403);
    assert.deepEqual(f, { data: {}, message: 'The authorized record is not allowed to perform this action.', status: 403 });
  });
});

// ---------------------------------------------------------------------------------------------

describe('non-superuser record token on superuser endpoints', () => {
  test('collections/settings/logs/... -> 403 "The authorized record is not allowed to perform this action."', async () => {
    const u = await createAuthRecord(pb, 'users');
    const uc = await authClient('users', u.email);
    const token = uc.authStore.token;
    const expected = { data: {}, message: 'The authorized record is not allowed to perform this action.', status: 403 };
    const json = (b) => ({ headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) });
    const calls = [
      ['GET', '/api/collections'],
      ['POST', '/api/collections', json({ name: 'x', type: 'base' })],
      ['GET', '/api/collections/users'],
      ['PATCH', '/api/collections/users', json({})],
      ['DELETE', '/api/collections/users'],
      ['DELETE', '/api/collections/users/truncate'],
      ['PUT', '/api/collections/import', json({ collections: [] })],
      ['GET', '/api/collections/meta/scaffolds'],
      ['GET', '/api/settings'],
      ['PATCH', '/api/settings', json({})],
      ['GET', '/api/logs'],
      ['GET', '/api/logs/stats'],
      ['POST', '/api/settings/test/email', json({})],
    ];
    for (const [method, path, opts] of calls) {
      const r = await raw(path, { method, token, ...(opts || {}) });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.deepEqual(r.json, expected, `${method} ${path}`);
    }
    // through the SDK
    assert.deepEqual(await expectError(uc.collections.getList(), 403), expected);
    assert.deepEqual(await expectError(uc.settings.getAll(), 403), expected);
    assert.deepEqual(await expectError(uc.settings.update({ meta: { appName: 'hacked' } }), 403), expected);
    // a null-rule collection is a rule failure instead
    const locked = await expectError(uc.collection('_superusers').getList(), 403);
    assert.deepEqual(locked, { data: {}, message: 'Only superusers can perform this action.', status: 403 });
  });
});

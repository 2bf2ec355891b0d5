// E-mail based auth flows against a local SMTP sink (helpers.startSmtpSink): verification,
// password reset, e-mail change, template placeholders and the new-location login alert.
// Asserts structure (recipients, subjects from the collection options, placeholders replaced,
// token claims), not PocketBase's default template wording.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  PASSWORD, MAIL_APP_NAME, MAIL_APP_URL, MAIL_SENDER_NAME, MAIL_SENDER_ADDRESS,
  guestClient, suClient, expectError, assertErrorBody, raw, uniqName, uniqEmail, Collections,
  jwtPayload, createAuthRecord, authClient, startSmtpSink, useSmtpSink, mailTo, findJwt, addresses,
} from '../test/helpers.js';

let pb;
let cols;
let sink;
let restoreSmtp;
let col; // auth collection with default templates

before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
  sink = await startSmtpSink();
  restoreSmtp = await useSmtpSink(pb, sink);
  col = await cols.create({
    name: uniqName('mailu'),
    type: 'auth',
    listRule: '',
    viewRule: '',
    createRule: '',
    updateRule: 'id = @request.auth.id',
    fields: [{ name: 'name', type: 'text' }],
  });
});
after(async () => {
  try {
    if (restoreSmtp) await restoreSmtp();
    await cols.cleanup();
  } finally {
    if (sink) await sink.close();
  }
});

const nowSec = () => Math.floor(Date.now() / 1000);
const PLACEHOLDER_RE = /\{(APP_NAME|APP_URL|TOKEN|OTP|OTP_ID|ALERT_INFO)\}/;

/** Common assertions for a mail produced by the server's mailer. */
function assertMailEnvelope(m, to, subject) {
  assert.equal(m.subject, subject);
  assert.equal(m.mailFrom, MAIL_SENDER_ADDRESS);
  assert.deepEqual(m.rcptTo, [to.toLowerCase()]);
  assert.deepEqual(addresses(m.to), [to.toLowerCase()]);
  assert.deepEqual(addresses(m.from), [MAIL_SENDER_ADDRESS]);
  assert.ok(m.from.includes(MAIL_SENDER_NAME), `From header "${m.from}" has the sender name`);
  assert.ok(m.html.length > 0, 'has an HTML part');
  assert.doesNotMatch(m.body, PLACEHOLDER_RE, 'placeholders are replaced');
}

/** The token in a mail: present in the HTML inside a link that starts with the app URL. */
function mailToken(m) {
  const token = findJwt(m.html);
  assert.ok(token, 'mail contains a token');
  const hrefs = [...m.html.matchAll(/href="([^"]*)"/g)].map((x) => x[1]).filter((h) => h.includes(token));
  assert.ok(hrefs.length >= 1, 'token is inside a link');
  for (const h of hrefs) assert.ok(h.startsWith(MAIL_APP_URL + '/'), `link ${h} starts with the app URL`);
  return token;
}

describe('smtp settings', () => {
  test('settings point at the sink', async () => {
    const s = await pb.settings.getAll();
    assert.equal(s.smtp.enabled, true);
    assert.equal(s.smtp.host, '127.0.0.1');
    assert.equal(s.smtp.port, sink.port);
    assert.equal(s.meta.appURL, MAIL_APP_URL);
    assert.equal(s.meta.senderAddress, MAIL_SENDER_ADDRESS);
    assert.equal('password' in s.smtp, false);
  });
});

describe('verification', () => {
  test('requestVerification -> mail with a verification token -> confirmVerification', async () => {
    const u = await createAuthRecord(pb, col.name);
    const uc = await authClient(col.name, u.email);
    assert.equal(await guestClient().collection(col.name).requestVerification(u.email), true);
    const m = await sink.waitFor(mailTo(u.email));
    assertMailEnvelope(m, u.email, `Verify your ${MAIL_APP_NAME} email`);
    const token = mailToken(m);
    const p = jwtPayload(token);
    assert.deepEqual(Object.keys(p).sort(), ['collectionId', 'email', 'exp', 'id', 'type']);
    assert.equal(p.type, 'verification');
    assert.equal(p.id, u.id);
    assert.equal(p.collectionId, col.id);
    assert.equal(p.email, u.email);
    assert.ok(Math.abs(p.exp - (nowSec() + 86400)) < 15, 'exp ≈ now + verificationToken.duration');
    // confirm (through the user's own client: the SDK flips its stored record)
    assert.equal(uc.authStore.record.verified, false);
    assert.equal(await uc.collection(col.name).confirmVerification(token), true);
    assert.equal(uc.authStore.record.verified, true);
    assert.equal((await pb.collection(col.name).getOne(u.id)).verified, true);
    // confirming again is a no-op 204
    const r = await raw(`/api/collections/${col.name}/confirm-verification`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }),
    });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    // verifying does not invalidate the user's token
    assert.equal((await raw(`/api/collections/${col.name}/auth-refresh`, { method: 'POST', token: uc.authStore.token })).status, 200);
  });

  test('already verified / unknown e-mail -> 204 without a mail', async () => {
    const v = await createAuthRecord(pb, col.name, { verified: true });
    const g = guestClient().collection(col.name);
    const r = await raw(`/api/collections/${col.name}/request-verification`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: v.email }),
    });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    const unknown = uniqEmail('nobody');
    assert.equal(await g.requestVerification(unknown), true);
    // barrier: a mail requested afterwards arrives, the earlier requests produced none
    const w = await createAuthRecord(pb, col.name);
    await g.requestVerification(w.email);
    await sink.waitFor(mailTo(w.email));
    assert.equal(sink.find(mailTo(v.email)).length, 0);
    assert.equal(sink.find(mailTo(unknown)).length, 0);
  });

  test('validation errors', async () => {
    const g = guestClient().collection(col.name);
    let body = await expectError(g.requestVerification('nope'), 400);
    assert.deepEqual(body, {
      data: { email: { code: 'validation_is_email', message: 'Must be a valid email address.' } },
      message: 'An error occurred while validating the submitted data.',
      status: 400,
    });
    body = await expectError(g.requestVerification(''), 400);
    assert.deepEqual(body.data, { email: { code: 'validation_required', message: 'Cannot be blank.' } });
    body = await expectError(g.confirmVerification(''), 400);
    assert.deepEqual(body.data, { token: { code: 'validation_required', message: 'Cannot be blank.' } });
    body = await expectError(g.confirmVerification('abc'), 400);
    assertErrorBody(body, 400, 'An error occurred while validating the submitted data.');
    assert.deepEqual(body.data, { token: { code: 'validation_invalid_token_claims', message: 'Missing email token claim.' } });
    // an auth token is not a verification token
    const u = await createAuthRecord(pb, col.name);
    const uc = await authClient(col.name, u.email);
    body = await expectError(g.confirmVerification(uc.authStore.token), 400);
    assert.deepEqual(body.data, { token: { code: 'validation_invalid_token_claims', message: 'Missing email token claim.' } });
    // a verification token for another collection
    await g.requestVerification(u.email);
    const token = findJwt((await sink.waitFor(mailTo(u.email))).html);
    body = await expectError(guestClient().collection('users').confirmVerification(token), 400);
    assert.deepEqual(body.data, {
      token: { code: 'validation_token_collection_mismatch', message: 'The provided token is for different auth collection.' },
    });
    assert.equal((await pb.collection(col.name).getOne(u.id)).verified, false);
  });

  test('superusers cannot request/confirm verification', async () => {
    const expected = { data: {}, message: 'All superusers are verified by default.', status: 400 };
    assert.deepEqual(await expectError(guestClient().collection('_superusers').requestVerification('admin@example.com'), 400), expected);
    assert.deepEqual(await expectError(guestClient().collection('_superusers').confirmVerification('x'), 400), expected);
  });

  test('custom template: {APP_NAME} {APP_URL} {TOKEN} {RECORD:field} replaced (HTML-escaped), others kept', async () => {
    const c = await cols.create({
      name: uniqName('tpl'), type: 'auth', fields: [{ name: 'name', type: 'text' }],
      verificationTemplate: {
        subject: 'V {APP_NAME} {RECORD:name}',
        body: '<p>X|{APP_NAME}|{APP_URL}|{TOKEN}|{RECORD:name}|{RECORD:email}|{RECORD:id}|{RECORD:tokenKey}|{OTP}|</p>',
      },
    });
    const u = await createAuthRecord(pb, c.name, { name: 'Ann <b>&' });
    await guestClient().collection(c.name).requestVerification(u.email);
    const m = await sink.waitFor(mailTo(u.email));
    // {RECORD:*} values are HTML-escaped, in the subject too
    assert.equal(m.subject, `V ${MAIL_APP_NAME} Ann &lt;b&gt;&amp;`);
    const token = findJwt(m.html);
    assert.equal(jwtPayload(token).type, 'verification');
    assert.ok(
      m.html.includes(`<p>X|${MAIL_APP_NAME}|${MAIL_APP_URL}|${token}|Ann &lt;b&gt;&amp;|${u.email}|${u.id}|{RECORD:tokenKey}|{OTP}|</p>`),
      `html body: ${m.html}`,
    );
    assert.equal(m.html.includes(u.password), false);
  });
});

describe('password reset', () => {
  test('requestPasswordReset -> mail -> confirmPasswordReset -> login with the new password', async () => {
    const u = await createAuthRecord(pb, col.name);
    const uc = await authClient(col.name, u.email);
    const unknown = uniqEmail('nobody');
    const g = guestClient().collection(col.name);
    assert.equal(await g.requestPasswordReset(unknown), true);
    const r = await raw(`/api/collections/${col.name}/request-password-reset`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: u.email }),
    });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    const m = await sink.waitFor(mailTo(u.email));
    assertMailEnvelope(m, u.email, `Reset your ${MAIL_APP_NAME} password`);
    assert.equal(sink.find(mailTo(unknown)).length, 0, 'no mail for an unknown address');
    const token = mailToken(m);
    const p = jwtPayload(token);
    assert.deepEqual(Object.keys(p).sort(), ['collectionId', 'email', 'exp', 'id', 'type']);
    assert.equal(p.type, 'passwordReset');
    assert.equal(p.id, u.id);
    assert.equal(p.email, u.email);
    assert.ok(Math.abs(p.exp - (nowSec() + 1800)) < 15, 'exp ≈ now + passwordResetToken.duration');

    // confirm validation
    let body = await expectError(g.confirmPasswordReset(token, 'newpass123', 'newpass124'), 400);
    assertErrorBody(body, 400, 'An error occurred while validating the submitted data.');
    assert.deepEqual(body.data, { passwordConfirm: { code: 'validation_values_mismatch', message: "Values don't match." } });
    body = await expectError(g.confirmPasswordReset(token, 'short', 'short'), 400);
    assert.deepEqual(body.data, {
      password: { code: 'validation_length_out_of_range', message: 'The length must be between 8 and 255.', params: { max: 255, min: 8 } },
    });
    body = await expectError(g.confirmPasswordReset('bad', 'newpass123', 'newpass123'), 400);
    assert.deepEqual(body.data, { token: { code: 'validation_invalid_token', message: 'Invalid or expired token.' } });
    body = await expectError(g.confirmPasswordReset('', '', ''), 400);
    assert.deepEqual(body.data, {
      password: { code: 'validation_required', message: 'Cannot be blank.' },
      passwordConfirm: { code: 'validation_required', message: 'Cannot be blank.' },
      token: { code: 'validation_required', message: 'Cannot be blank.' },
    });

    assert.equal(await g.confirmPasswordReset(token, 'newpass123', 'newpass123'), true);
    // old token invalid, old password rejected, new password works; matching token email verifies the record
    assert.equal((await raw(`/api/collections/${col.name}/auth-refresh`, { method: 'POST', token: uc.authStore.token })).status, 401);
    await expectError(guestClient().collection(col.name).authWithPassword(u.email, PASSWORD), 400, 'Failed to authenticate.');
    const relog = await guestClient().collection(col.name).authWithPassword(u.email, 'newpass123');
    assert.equal(relog.record.id, u.id);
    assert.equal(relog.record.verified, true);
    // the reset token is single-use (tokenKey rotated)
    body = await expectError(g.confirmPasswordReset(token, 'newpass456', 'newpass456'), 400);
    assert.deepEqual(body.data, { token: { code: 'validation_invalid_token', message: 'Invalid or expired token.' } });
  });

  test('input validation and disabled password auth', async () => {
    const g = guestClient().collection(col.name);
    const body = await expectError(g.requestPasswordReset('nope'), 400);
    assert.deepEqual(body.data, { email: { code: 'validation_is_email', message: 'Must be a valid email address.' } });
    const c = await cols.create({ name: uniqName('nopw'), type: 'auth', passwordAuth: { enabled: false } });
    const d = await expectError(guestClient().collection(c.name).requestPasswordReset(uniqEmail()), 400);
    assert.deepEqual(d, { data: {}, message: 'The collection is not configured to allow password authentication.', status: 400 });
  });
});

describe('e-mail change', () => {
  test('requestEmailChange -> mail to the new address -> confirmEmailChange(token, password)', async () => {
    const u = await createAuthRecord(pb, col.name);
    const uc = await authClient(col.name, u.email);
    const oldToken = uc.authStore.token;
    const newEmail = uniqEmail('new');
    assert.equal(await uc.collection(col.name).requestEmailChange(newEmail), true);
    const m = await sink.waitFor(mailTo(newEmail));
    assertMailEnvelope(m, newEmail, `Confirm your ${MAIL_APP_NAME} new email address`);
    assert.equal(sink.find(mailTo(u.email)).length, 0, 'nothing is sent to the old address');
    const token = mailToken(m);
    const p = jwtPayload(token);
    assert.deepEqual(Object.keys(p).sort(), ['collectionId', 'email', 'exp', 'id', 'newEmail', 'type']);
    assert.equal(p.type, 'emailChange');
    assert.equal(p.id, u.id);
    assert.equal(p.email, u.email);
    assert.equal(p.newEmail, newEmail);
    assert.ok(Math.abs(p.exp - (nowSec() + 1800)) < 15, 'exp ≈ now + emailChangeToken.duration');
    // nothing changes before confirmation
    assert.equal((await pb.collection(col.name).getOne(u.id)).email, u.email);

    const g = guestClient().collection(col.name);
    let body = await expectError(g.confirmEmailChange(token, 'wrongpass1'), 400);
    assertErrorBody(body, 400, 'An error occurred while validating the submitted data.');
    assert.deepEqual(body.data, { password: { code: 'validation_invalid_password', message: 'Missing or invalid auth record password.' } });
    body = await expectError(g.confirmEmailChange('', ''), 400);
    assert.deepEqual(body.data, {
      password: { code: 'validation_required', message: 'Cannot be blank.' },
      token: { code: 'validation_required', message: 'Cannot be blank.' },
    });
    body = await expectError(g.confirmEmailChange('x', PASSWORD), 400);
    assert.deepEqual(body.data, {
      password: { code: 'validation_invalid_password', message: 'Missing or invalid auth record password.' },
      token: { code: 'validation_invalid_token_payload', message: 'Invalid token payload - newEmail must be set.' },
    });

    // confirming through the user's own client clears its auth store (SDK)
    assert.equal(await uc.collection(col.name).confirmEmailChange(token, PASSWORD), true);
    assert.equal(uc.authStore.token, '');
    const rec = await pb.collection(col.name).getOne(u.id);
    assert.equal(rec.email, newEmail);
    assert.equal(rec.verified, true, 'confirming an e-mail change verifies the record');
    assert.equal((await raw(`/api/collections/${col.name}/auth-refresh`, { method: 'POST', token: oldToken })).status, 401);
    assert.equal((await guestClient().collection(col.name).authWithPassword(newEmail, PASSWORD)).record.id, u.id);
    await expectError(guestClient().collection(col.name).authWithPassword(u.email, PASSWORD), 400, 'Failed to authenticate.');
    body = await expectError(g.confirmEmailChange(token, PASSWORD), 400);
    assert.deepEqual(body.data.token, { code: 'validation_invalid_token', message: 'Invalid or expired token.' });
  });

  test('requestEmailChange errors', async () => {
    const a = await createAuthRecord(pb, col.name);
    const b = await createAuthRecord(pb, col.name);
    const bc = await authClient(col.name, b.email);
    const B = bc.collection(col.name);
    const g = await expectError(guestClient().collection(col.name).requestEmailChange(uniqEmail()), 401);
    assert.deepEqual(g, { data: {}, message: 'The request requires valid record authorization token.', status: 401 });
    let body = await expectError(B.requestEmailChange(b.email), 400);
    assertErrorBody(body, 400, 'An error occurred while validating the submitted data.');
    assert.deepEqual(body.data, { newEmail: { code: 'validation_not_in_invalid', message: 'Must not be in list.' } });
    body = await expectError(B.requestEmailChange(a.email), 400);
    assert.deepEqual(body.data, { newEmail: { code: 'validation_invalid_new_email', message: 'Invalid new email address.' } });
    body = await expectError(B.requestEmailChange('nope'), 400);
    assert.deepEqual(body.data, { newEmail: { code: 'validation_is_email', message: 'Must be a valid email address.' } });
    // a token of another auth collection
    const u = await createAuthRecord(pb, 'users');
    const uc = await authClient('users', u.email);
    body = await expectError(uc.collection(col.name).requestEmailChange(uniqEmail()), 403);
    assert.deepEqual(body, { data: {}, message: 'The request requires auth record from users collection.', status: 403 });
    body = await expectError(pb.collection('_superusers').requestEmailChange(uniqEmail()), 400);
    assert.deepEqual(body, { data: {}, message: 'All superusers can change their emails directly.', status: 400 });
  });
});

describe('login alert', () => {
  test('a login from a new user agent sends "Login from a new location"', async () => {
    const u = await createAuthRecord(pb, col.name);
    const login = async (ua) => {
      const r = await raw(`/api/collections/${col.name}/auth-with-password`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': ua },
        body: JSON.stringify({ identity: u.email, password: PASSWORD }),
      });
      assert.equal(r.status, 200);
    };
    await login('compat-ua-1'); // first login: no alert
    await login('compat-ua-1'); // known location: no alert
    await login('compat-ua-2'); // new location
    const m = await sink.waitFor(mailTo(u.email));
    assertMailEnvelope(m, u.email, 'Login from a new location');
    assert.ok(m.html.includes('compat-ua-2'), 'alert info names the user agent');
    assert.ok(m.html.includes('127.0.0.1'), 'alert info names the IP');
    assert.ok(m.html.includes(MAIL_APP_NAME));
    assert.equal(sink.find(mailTo(u.email)).length, 1);
  });
});

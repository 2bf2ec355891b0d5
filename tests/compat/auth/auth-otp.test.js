// One-time passwords (request-otp / auth-with-otp, the per-record attempt limit) and MFA
// (401 {mfaId} after the first factor, second factor with mfaId), mails via the SMTP sink.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  PASSWORD, MAIL_APP_NAME, MAIL_APP_URL, RECORD_ID_RE,
  guestClient, suClient, expectError, raw, uniqName, uniqEmail, Collections, delay,
  jwtPayload, createAuthRecord, authClient, startSmtpSink, useSmtpSink, mailTo,
} from '../test/helpers.js';

let pb;
let cols;
let sink;
let restoreSmtp;

before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
  sink = await startSmtpSink();
  restoreSmtp = await useSmtpSink(pb, sink);
});
after(async () => {
  try {
    if (restoreSmtp) await restoreSmtp();
    await cols.cleanup();
  } finally {
    if (sink) await sink.close();
  }
});

const OTP_TEMPLATE = {
  subject: 'Code for {APP_NAME}',
  body: '<p>OTP={OTP};ID={OTP_ID};N={APP_NAME};U={APP_URL};R={RECORD:email}</p>',
};

async function otpCollection(extra = {}) {
  return cols.create({
    name: uniqName('otp'),
    type: 'auth',
    listRule: '',
    viewRule: '',
    createRule: '',
    fields: [{ name: 'name', type: 'text' }],
    otp: { enabled: true, length: 6, duration: 120, emailTemplate: OTP_TEMPLATE },
    ...extra,
  });
}

/** Request an OTP for `email` and return {otpId, code, mail} (code parsed from the mail). */
async function requestOtp(collection, email) {
  const res = await guestClient().collection(collection).requestOTP(email);
  assert.deepEqual(Object.keys(res), ['otpId']);
  const mail = await sink.waitFor((m) => mailTo(email)(m) && m.html.includes(`ID=${res.otpId};`));
  const code = /OTP=(\d+);/.exec(mail.html)[1];
  return { otpId: res.otpId, code, mail };
}

/**
 * Wait (bounded) until the server has recorded where the OTP was sent (`_otps.sentTo`, written
 * after the SMTP conversation finished); the verified side effect of auth-with-otp depends on it.
 */
async function waitOtpSent(otpId) {
  for (let i = 0; i < 100; i++) {
    const o = await pb.collection('_otps').getOne(otpId);
    if (o.sentTo) return o;
    await delay(20);
  }
  assert.fail(`_otps ${otpId}.sentTo was never set`);
}

describe('OTP', () => {
  test('requestOTP -> mail with the code -> authWithOTP', async () => {
    const c = await otpCollection();
    const methods = await guestClient().collection(c.name).listAuthMethods();
    assert.deepEqual(methods.otp, { enabled: true, duration: 120 });
    assert.deepEqual(methods.mfa, { enabled: false, duration: 0 });
    const u = await createAuthRecord(pb, c.name, { verified: true });
    const { otpId, code, mail } = await requestOtp(c.name, u.email);
    assert.match(otpId, RECORD_ID_RE);
    assert.match(code, /^\d{6}$/, 'otp.length digits');
    assert.equal(mail.subject, `Code for ${MAIL_APP_NAME}`);
    assert.deepEqual(mail.rcptTo, [u.email]);
    assert.ok(mail.html.includes(`<p>OTP=${code};ID=${otpId};N=${MAIL_APP_NAME};U=${MAIL_APP_URL};R=${u.email}</p>`), mail.html);
    // wrong code
    const wrong = code === '000000' ? '111111' : '000000';
    const body = await expectError(guestClient().collection(c.name).authWithOTP(otpId, wrong), 400);
    assert.deepEqual(body, { data: {}, message: 'Invalid or expired OTP.', status: 400 });
    // right code
    const uc = guestClient();
    const res = await uc.collection(c.name).authWithOTP(otpId, code);
    assert.deepEqual(Object.keys(res).sort(), ['record', 'token']);
    assert.equal(res.record.id, u.id);
    assert.equal(res.record.email, u.email);
    const p = jwtPayload(res.token);
    assert.equal(p.type, 'auth');
    assert.equal(p.refreshable, true);
    assert.equal(uc.authStore.isValid, true);
    // single use
    const again = await expectError(guestClient().collection(c.name).authWithOTP(otpId, code), 400);
    assert.deepEqual(again, { data: {}, message: 'Invalid or expired OTP.', status: 400 });
    // a verified record keeps its password
    assert.equal((await guestClient().collection(c.name).authWithPassword(u.email, PASSWORD)).record.id, u.id);
  });

  test('unknown e-mail gets a fake otpId and no mail; input validation', async () => {
    const c = await otpCollection();
    const g = guestClient().collection(c.name);
    const unknown = uniqEmail('nobody');
    const fake = await g.requestOTP(unknown);
    assert.deepEqual(Object.keys(fake), ['otpId']);
    assert.match(fake.otpId, RECORD_ID_RE);
    let body = await expectError(g.authWithOTP(fake.otpId, '123456'), 400);
    assert.deepEqual(body, { data: {}, message: 'Invalid or expired OTP.', status: 400 });
    body = await expectError(g.authWithOTP('nosuchid', '123456'), 400);
    assert.deepEqual(body, { data: {}, message: 'Invalid or expired OTP.', status: 400 });
    body = await expectError(g.requestOTP('nope'), 400);
    assert.deepEqual(body, {
      data: { email: { code: 'validation_is_email', message: 'Must be a valid email address.' } },
      message: 'An error occurred while validating the submitted data.',
      status: 400,
    });
    body = await expectError(g.authWithOTP('', ''), 400);
    assert.deepEqual(body.data, {
      otpId: { code: 'validation_required', message: 'Cannot be blank.' },
      password: { code: 'validation_required', message: 'Cannot be blank.' },
    });
    // barrier: a later OTP mail arrives; none went to the unknown address
    const u = await createAuthRecord(pb, c.name);
    await requestOtp(c.name, u.email);
    assert.equal(sink.find(mailTo(unknown)).length, 0);
  });

  test('OTP auth of an unverified record verifies it and resets its password', async () => {
    const c = await otpCollection();
    const u = await createAuthRecord(pb, c.name);
    const { otpId, code } = await requestOtp(c.name, u.email);
    // the _otps record (superuser view shows hidden fields; password is never serialized)
    const o = await waitOtpSent(otpId);
    assert.equal(o.collectionName, '_otps');
    assert.equal(o.collectionRef, c.id);
    assert.equal(o.recordRef, u.id);
    assert.equal(o.sentTo, u.email);
    assert.equal(o.password, '');
    // the owner sees its OTP without the hidden fields; guests don't see it
    const own = await (await authClient(c.name, u.email)).collection('_otps').getOne(otpId);
    assert.deepEqual(Object.keys(own).sort(), ['collectionId', 'collectionName', 'collectionRef', 'created', 'id', 'recordRef', 'updated']);
    await expectError(guestClient().collection('_otps').getOne(otpId), 404);

    const res = await guestClient().collection(c.name).authWithOTP(otpId, code);
    assert.equal(res.record.verified, true);
    assert.equal((await pb.collection(c.name).getOne(u.id)).verified, true);
    await expectError(guestClient().collection(c.name).authWithPassword(u.email, PASSWORD), 400, 'Failed to authenticate.');
    // the used OTP is deleted
    await expectError(pb.collection('_otps').getOne(otpId), 404);
  });

  test('5 wrong codes -> the 6th attempt (even correct) is 429, also for a new OTP of that record', async () => {
    const c = await otpCollection();
    const u = await createAuthRecord(pb, c.name);
    const { otpId, code } = await requestOtp(c.name, u.email);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      await expectError(guestClient().collection(c.name).authWithOTP(otpId, wrong), 400, 'Invalid or expired OTP.');
    }
    const tooMany = { data: {}, message: 'Too many attempts, please try again later with a new OTP.', status: 429 };
    assert.deepEqual(await expectError(guestClient().collection(c.name).authWithOTP(otpId, code), 429), tooMany);
    const next = await requestOtp(c.name, u.email);
    assert.deepEqual(await expectError(guestClient().collection(c.name).authWithOTP(next.otpId, next.code), 429), tooMany);
    // another record of the same collection is not affected
    const v = await createAuthRecord(pb, c.name, { verified: true });
    const vo = await requestOtp(c.name, v.email);
    assert.equal((await guestClient().collection(c.name).authWithOTP(vo.otpId, vo.code)).record.id, v.id);
  });

  test('OTP disabled -> 403; an OTP id of another collection', async () => {
    const c = await otpCollection();
    const u = await createAuthRecord(pb, c.name, { verified: true });
    const { otpId, code } = await requestOtp(c.name, u.email);
    const other = await otpCollection();
    let body = await expectError(guestClient().collection(other.name).authWithOTP(otpId, code), 400);
    assert.deepEqual(body, { data: {}, message: 'Invalid or expired OTP.', status: 400 });
    await pb.collections.update(c.id, { otp: { enabled: false } });
    const disabled = { data: {}, message: 'The collection is not configured to allow OTP authentication.', status: 403 };
    assert.deepEqual(await expectError(guestClient().collection(c.name).requestOTP(u.email), 403), disabled);
    assert.deepEqual(await expectError(guestClient().collection(c.name).authWithOTP(otpId, code), 403), disabled);
    body = await expectError(guestClient().collection('users').requestOTP(u.email), 403);
    assert.deepEqual(body, disabled, 'users has OTP disabled by default');
  });
});

describe('MFA', () => {
  async function mfaCollection(mfa = {}) {
    return cols.create({
      name: uniqName('mfa'),
      type: 'auth',
      listRule: '',
      viewRule: '',
      createRule: '',
      fields: [{ name: 'name', type: 'text' }],
      mfa: { enabled: true, duration: 300, ...mfa },
      otp: { enabled: true, length: 6, emailTemplate: OTP_TEMPLATE },
    });
  }

  test('first factor -> 401 {mfaId}; second factor (OTP) with mfaId -> auth', async () => {
    const c = await mfaCollection();
    assert.deepEqual(c.mfa, { enabled: true, duration: 300, rule: '' });
    const methods = await guestClient().collection(c.name).listAuthMethods();
    assert.deepEqual(methods.mfa, { enabled: true, duration: 300 });
    assert.deepEqual(methods.otp, { enabled: true, duration: 180 });
    const u = await createAuthRecord(pb, c.name, { verified: true });
    // raw: exactly {"mfaId": "..."} with no status/message
    const first = await raw(`/api/collections/${c.name}/auth-with-password`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ identity: u.email, password: PASSWORD }),
    });
    assert.equal(first.status, 401);
    assert.deepEqual(Object.keys(first.json), ['mfaId']);
    assert.match(first.json.mfaId, RECORD_ID_RE);
    // SDK: ClientResponseError 401 whose response is the same body
    const uc = guestClient();
    const body = await expectError(uc.collection(c.name).authWithPassword(u.email, PASSWORD), 401);
    assert.deepEqual(Object.keys(body), ['mfaId']);
    const mfaId = body.mfaId;
    assert.equal(uc.authStore.isValid, false);
    // the same method again -> 400
    const same = await expectError(guestClient().collection(c.name).authWithPassword(u.email, PASSWORD, { mfaId }), 400);
    assert.deepEqual(same, { data: {}, message: 'A different authentication method is required.', status: 400 });
    // second factor: OTP with mfaId (the SDK sends unknown options as query params)
    const { otpId, code } = await requestOtp(c.name, u.email);
    const res = await uc.collection(c.name).authWithOTP(otpId, code, { mfaId });
    assert.equal(res.record.id, u.id);
    assert.equal(uc.authStore.isValid, true);
    assert.equal(jwtPayload(res.token).refreshable, true);
    // auth-refresh is not subject to MFA
    const ref = await uc.collection(c.name).authRefresh();
    assert.equal(ref.record.id, u.id);
    // the used MFA session is gone
    const gone = await expectError(guestClient().collection(c.name).authWithPassword(u.email, PASSWORD, { mfaId }), 400);
    assert.deepEqual(gone, { data: {}, message: 'Invalid or expired MFA session.', status: 400 });
  });

  test('mfaId in the body works too; invalid / foreign mfaId -> 400; wrong password still 400', async () => {
    const c = await mfaCollection();
    const a = await createAuthRecord(pb, c.name, { verified: true });
    const b = await createAuthRecord(pb, c.name, { verified: true });
    const first = await expectError(guestClient().collection(c.name).authWithPassword(a.email, PASSWORD), 401);
    const invalid = { data: {}, message: 'Invalid or expired MFA session.', status: 400 };
    assert.deepEqual(await expectError(guestClient().collection(c.name).authWithPassword(a.email, PASSWORD, { mfaId: 'nosuch' }), 400), invalid);
    await expectError(guestClient().collection(c.name).authWithPassword(a.email, 'wrongpass1', { mfaId: first.mfaId }), 400, 'Failed to authenticate.');
    // b's password factor with a's (live) mfaId
    const r = await raw(`/api/collections/${c.name}/auth-with-password?mfaId=${first.mfaId}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ identity: b.email, password: PASSWORD }),
    });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { data: {}, message: 'Invalid MFA session.', status: 400 });
    // OTP first, then password with mfaId in the JSON body
    const { otpId, code } = await requestOtp(c.name, a.email);
    const otpFirst = await expectError(guestClient().collection(c.name).authWithOTP(otpId, code), 401);
    assert.deepEqual(Object.keys(otpFirst), ['mfaId']);
    const ok = await raw(`/api/collections/${c.name}/auth-with-password`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ identity: a.email, password: PASSWORD, mfaId: otpFirst.mfaId }),
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.record.id, a.id);
  });

  test('mfa.rule limits MFA to matching records; impersonation bypasses MFA', async () => {
    const c = await mfaCollection({ rule: 'name = "mfa"' });
    const plain = await createAuthRecord(pb, c.name, { name: 'plain' });
    const strict = await createAuthRecord(pb, c.name, { name: 'mfa' });
    const ok = await guestClient().collection(c.name).authWithPassword(plain.email, PASSWORD);
    assert.equal(ok.record.id, plain.id);
    const body = await expectError(guestClient().collection(c.name).authWithPassword(strict.email, PASSWORD), 401);
    assert.deepEqual(Object.keys(body), ['mfaId']);
    const imp = await pb.collection(c.name).impersonate(strict.id, 60);
    assert.equal(imp.authStore.isValid, true);
    assert.equal(imp.authStore.record.id, strict.id);
  });
});

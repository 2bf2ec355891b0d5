// Settings API: shape, update + read back, write-only secrets, validation, access control.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { suClient, guestClient, expectError, assertErrorBody, raw, dataCodes } from './helpers.js';

let pb;
let original;

before(async () => {
  pb = await suClient();
  original = await pb.settings.getAll();
});
after(async () => {
  // restore what this file changes
  if (!original) return;
  await pb.settings.update({
    meta: { appName: original.meta.appName },
    smtp: { host: original.smtp.host, password: '' },
  });
});

describe('settings', () => {
  test('getAll shape', async () => {
    const s = await pb.settings.getAll();
    assert.deepEqual(Object.keys(s).sort(), [
      'backups', 'batch', 'logs', 'meta', 'rateLimits', 's3', 'smtp', 'superuserIPs', 'trustedProxy',
    ]);
    assert.deepEqual(Object.keys(s.meta).sort(),
      ['accentColor', 'appName', 'appURL', 'hideControls', 'senderAddress', 'senderName']);
    assert.equal(typeof s.meta.appName, 'string');
    assert.ok(s.meta.appName.length > 0);
    assert.deepEqual(Object.keys(s.batch).sort(), ['enabled', 'maxBodySize', 'maxRequests', 'timeout']);
    assert.deepEqual(Object.keys(s.rateLimits).sort(), ['enabled', 'excludedIPs', 'rules']);
    assert.deepEqual(Object.keys(s.smtp).sort(), ['authMethod', 'enabled', 'host', 'localName', 'port', 'tls', 'username']);
    assert.equal('password' in s.smtp, false);
    assert.deepEqual(Object.keys(s.s3).sort(), ['accessKey', 'bucket', 'enabled', 'endpoint', 'forcePathStyle', 'region']);
    assert.equal('secret' in s.s3, false);
    assert.deepEqual(Object.keys(s.backups).sort(), ['cron', 'cronMaxKeep', 's3']);
    assert.equal('secret' in s.backups.s3, false);
    assert.deepEqual(Object.keys(s.logs).sort(), ['logAuthId', 'logIP', 'maxDataSize', 'maxDays', 'minLevel']);
    assert.deepEqual(s.trustedProxy, { headers: [], useLeftmostIP: false });
    assert.deepEqual(s.superuserIPs, []);
  });

  test('fresh-instance defaults', async () => {
    const s = await pb.settings.getAll();
    assert.deepEqual(s.batch, { enabled: false, maxRequests: 50, timeout: 3, maxBodySize: 0 });
    assert.equal(s.rateLimits.enabled, false);
    assert.deepEqual(s.rateLimits.excludedIPs, []);
    assert.deepEqual(s.rateLimits.rules, [
      { label: '*:auth', audience: '', duration: 3, maxRequests: 2 },
      { label: '*:create', audience: '', duration: 5, maxRequests: 20 },
      { label: '/api/batch', audience: '', duration: 1, maxRequests: 3 },
      { label: '/api/', audience: '', duration: 10, maxRequests: 300 },
    ]);
    assert.deepEqual(s.logs, { maxDataSize: 0, maxDays: 5, minLevel: 0, logIP: true, logAuthId: false });
    assert.equal(s.smtp.enabled, false);
    assert.equal(s.smtp.port, 587);
    assert.equal(s.s3.enabled, false);
    assert.equal(s.backups.cronMaxKeep, 3);
    assert.equal(s.meta.appName, 'Acme');
    assert.equal(s.meta.appURL, 'http://localhost:8090');
    assert.equal(s.meta.senderName, 'Support');
    assert.equal(s.meta.senderAddress, 'support@example.com');
    assert.equal(s.meta.accentColor, '#1055c9');
    assert.equal(s.meta.hideControls, false);
  });

  test('update meta.appName and read it back', async () => {
    const name = `Keelbase compat ${Date.now()}`;
    const res = await pb.settings.update({ meta: { appName: name } });
    assert.equal(res.meta.appName, name, 'PATCH answers with the full settings');
    assert.deepEqual(Object.keys(res).sort(), Object.keys(original).sort());
    // other meta keys untouched (partial merge)
    assert.equal(res.meta.appURL, original.meta.appURL);
    assert.equal(res.meta.senderAddress, original.meta.senderAddress);
    const again = await pb.settings.getAll();
    assert.equal(again.meta.appName, name);
    assert.deepEqual(again.batch, original.batch);
  });

  test('smtp.password is write-only', async () => {
    const res = await pb.settings.update({ smtp: { host: 'smtp.compat.test', password: 'super-secret-pw' } });
    assert.equal(res.smtp.host, 'smtp.compat.test');
    assert.equal('password' in res.smtp, false);
    const again = await pb.settings.getAll();
    assert.equal(again.smtp.host, 'smtp.compat.test');
    assert.equal('password' in again.smtp, false);
    const r = await raw('/api/settings', { token: pb.authStore.token });
    assert.equal(r.text.includes('super-secret-pw'), false);
  });

  test('fields picker applies to settings', async () => {
    const s = await pb.settings.getAll({ fields: 'meta.appName,batch.enabled' });
    assert.deepEqual(Object.keys(s).sort(), ['batch', 'meta']);
    assert.deepEqual(Object.keys(s.meta), ['appName']);
    assert.deepEqual(s.batch, { enabled: false });
  });

  test('validation errors are nested per section', async () => {
    let body = await expectError(pb.settings.update({ meta: { appName: '' } }), 400);
    assertErrorBody(body, 400, 'An error occurred while saving the new settings.');
    assert.deepEqual(body.data, { meta: { appName: { code: 'validation_required', message: 'Cannot be blank.' } } });
    body = await expectError(pb.settings.update({ meta: { appURL: 'not a url' } }), 400);
    assert.deepEqual(body.data, { meta: { appURL: { code: 'validation_is_url', message: 'Must be a valid URL.' } } });
    body = await expectError(pb.settings.update({ smtp: { enabled: true, host: '', port: 0 } }), 400);
    assert.deepEqual(body.data, {
      smtp: {
        host: { code: 'validation_required', message: 'Cannot be blank.' },
        port: { code: 'validation_required', message: 'Cannot be blank.' },
      },
    });
    // nothing was saved
    const s = await pb.settings.getAll();
    assert.notEqual(s.meta.appName, '');
    assert.equal(s.smtp.enabled, false);
  });

  test('wrongly typed / malformed bodies', async () => {
    const body = await expectError(pb.settings.update({ meta: 'x' }), 400);
    assert.deepEqual(body, { data: {}, message: 'An error occurred while loading the submitted data.', status: 400 });
    const r = await raw('/api/settings', {
      method: 'PATCH', token: pb.authStore.token, headers: { 'Content-Type': 'application/json' }, body: '{bad',
    });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { data: {}, message: 'An error occurred while loading the submitted data.', status: 400 });
  });

  test('guest -> 401 for read and update', async () => {
    const g = guestClient();
    for (const call of [() => g.settings.getAll(), () => g.settings.update({ meta: { appName: 'hacked' } })]) {
      const body = await expectError(call(), 401);
      assert.deepEqual(body, { data: {}, message: 'The request requires valid record authorization token.', status: 401 });
    }
    assert.notEqual((await pb.settings.getAll()).meta.appName, 'hacked');
  });
});

describe('apple client secret', () => {
  // A P-256 key in PKCS#8 PEM, made for these tests.
  const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgC5x14vnjKR/xl20Q
2VWSbtihiO2r6VUkJGP1/q7z2CChRANCAARq9yyoyweE4bVcpBMkIJ9J08QEWNus
Hlkh5VSws3w0ccbhq/r36ItId5rnB0ZPHxS1JriTrdd2Re24LFz/Ug7w
-----END PRIVATE KEY-----`;
  const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

  test('generateAppleClientSecret signs an ES256 JWT for Apple, and checks its input', async () => {
    const pb = await suClient();
    const { secret } = await pb.settings.generateAppleClientSecret('com.example.app', 'TEAM123456', 'KEY1234567', KEY, 3600);
    const [header, claims] = secret.split('.').slice(0, 2).map(decode);
    assert.deepEqual(header, { alg: 'ES256', kid: 'KEY1234567', typ: 'JWT' });
    assert.equal(claims.iss, 'TEAM123456');
    assert.equal(claims.sub, 'com.example.app');
    assert.deepEqual(claims.aud, ['https://appleid.apple.com']);
    assert.equal(claims.exp - claims.iat, 3600);

    const invalid = await expectError(pb.settings.generateAppleClientSecret('c', 't', 'k', 'nope', 99999999), 400, 'Invalid client secret data.');
    assert.deepEqual(dataCodes(invalid.data), {
      duration: 'validation_max_less_equal_than_required',
      keyId: 'validation_length_invalid',
      privateKey: 'validation_match_invalid',
      teamId: 'validation_length_invalid',
    });
    const broken = await expectError(pb.settings.generateAppleClientSecret('c', 'TEAM123456', 'KEY1234567', '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----', 10), 400);
    assert.match(broken.message, /^Failed to generate client secret\. Raw error: \n/);
    await expectError(guestClient().settings.generateAppleClientSecret('c', 'TEAM123456', 'KEY1234567', KEY, 10), 401);
  });
});

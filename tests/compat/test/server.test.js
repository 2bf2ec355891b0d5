// Health, default headers, CORS, superuser authentication and guest/invalid-token handling.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SU_EMAIL, SU_PASSWORD, SUPERUSERS_COLLECTION_ID, DATETIME_RE, RECORD_ID_RE,
  guestClient, suClient, expectError, assertErrorBody, raw,
} from './helpers.js';

describe('health', () => {
  test('pb.health.check() as guest', async () => {
    const res = await guestClient().health.check();
    assert.deepEqual(res, { message: 'API is healthy.', code: 200, data: {} });
  });

  test('pb.health.check() as superuser adds data fields', async () => {
    const pb = await suClient();
    const res = await pb.health.check();
    assert.equal(res.code, 200);
    assert.equal(res.message, 'API is healthy.');
    assert.deepEqual(Object.keys(res.data).sort(), ['canBackup', 'possibleProxyHeader', 'realIP']);
    // Keelbase on PostgreSQL keeps no backups (pg_dump's job), and says so.
    assert.equal(res.data.canBackup, process.env.COMPAT_DB !== 'postgres');
    assert.equal(res.data.possibleProxyHeader, '');
    assert.equal(typeof res.data.realIP, 'string');
  });

  test('HEAD /api/health answers 200', async () => {
    const r = await raw('/api/health', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
  });
});

describe('http basics', () => {
  test('default response headers on an API response', async () => {
    for (const path of ['/api/health', '/api/collections/_superusers/records']) {
      const r = await raw(path);
      assert.ok(r.status === 200 || r.status === 403, `${path} -> ${r.status}`);
      assert.match(r.headers.get('content-type'), /^application\/json/);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN');
      assert.equal(r.headers.get('x-xss-protection'), '1; mode=block');
      assert.equal(r.headers.get('cross-origin-opener-policy'), 'same-origin');
      assert.match(r.headers.get('vary') || '', /Origin/);
    }
  });

  test('simple CORS request gets Access-Control-Allow-Origin: *', async () => {
    const r = await raw('/api/health', { headers: { Origin: 'http://example.test' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
  });

  test('CORS preflight (OPTIONS) -> 204 with allow-* headers', async () => {
    const r = await raw('/api/collections/anything/records', {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://example.test',
        'Access-Control-Request-Method': 'PATCH',
        'Access-Control-Request-Headers': 'content-type,authorization',
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-methods'), 'GET,HEAD,PUT,PATCH,POST,DELETE');
    assert.equal(r.headers.get('access-control-allow-headers'), 'content-type,authorization');
  });

  test('OPTIONS without Origin -> bare 204; simple GET without Origin has no allow-origin', async () => {
    const r = await raw('/api/health', { method: 'OPTIONS' });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const g = await raw('/api/health');
    assert.equal(g.headers.get('access-control-allow-origin'), null);
  });

  test('unknown /api/ GET path -> 404 "File not found."; unknown method -> 404 default message', async () => {
    const r = await raw('/api/definitely-not-a-route');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { data: {}, message: 'File not found.', status: 404 });
    const r2 = await raw('/api/health', { method: 'POST' });
    assert.equal(r2.status, 404);
    assert.deepEqual(r2.json, { data: {}, message: "The requested resource wasn't found.", status: 404 });
  });
});

describe('superuser auth', () => {
  test('authWithPassword returns token + record with email; authStore is superuser', async () => {
    const pb = guestClient();
    const auth = await pb.collection('_superusers').authWithPassword(SU_EMAIL, SU_PASSWORD);
    assert.equal(typeof auth.token, 'string');
    assert.equal(auth.token.split('.').length, 3, 'token is a JWT');
    assert.equal(auth.record.email, SU_EMAIL);
    assert.equal(auth.record.collectionName, '_superusers');
    assert.equal(auth.record.collectionId, SUPERUSERS_COLLECTION_ID);
    assert.match(auth.record.id, RECORD_ID_RE);
    assert.equal(auth.record.verified, true);
    assert.equal(typeof auth.record.emailVisibility, 'boolean');
    assert.match(auth.record.created, DATETIME_RE);
    assert.match(auth.record.updated, DATETIME_RE);
    // never serialized
    assert.equal('password' in auth.record, false);
    assert.equal('tokenKey' in auth.record, false);
    assert.deepEqual(Object.keys(auth.record).sort(),
      ['collectionId', 'collectionName', 'created', 'email', 'emailVisibility', 'id', 'updated', 'verified']);

    assert.equal(pb.authStore.isValid, true);
    assert.equal(pb.authStore.isSuperuser, true);
    assert.equal(pb.authStore.token, auth.token);
    assert.equal(pb.authStore.record.id, auth.record.id);

    // JWT payload claims the SDK relies on
    const payload = JSON.parse(Buffer.from(auth.token.split('.')[1], 'base64url').toString());
    assert.equal(payload.type, 'auth');
    assert.equal(payload.collectionId, SUPERUSERS_COLLECTION_ID);
    assert.equal(payload.id, auth.record.id);
    assert.equal(payload.refreshable, true);
    assert.equal(typeof payload.exp, 'number');
    assert.ok(payload.exp > Date.now() / 1000);
  });

  test('authRefresh returns a fresh token for the same record', async () => {
    const pb = await suClient();
    const id = pb.authStore.record.id;
    const res = await pb.collection('_superusers').authRefresh();
    assert.equal(typeof res.token, 'string');
    assert.equal(res.token.split('.').length, 3);
    assert.equal(res.record.id, id);
    assert.equal(res.record.email, SU_EMAIL);
    assert.equal(pb.authStore.token, res.token);
    assert.equal(pb.authStore.isSuperuser, true);
  });

  test('authRefresh with `fields` picks from the auth response', async () => {
    const pb = await suClient();
    const res = await pb.collection('_superusers').authRefresh({ fields: 'token,record.id' });
    assert.deepEqual(Object.keys(res).sort(), ['record', 'token']);
    assert.deepEqual(Object.keys(res.record), ['id']);
  });

  test('authRefresh without a token -> 401', async () => {
    const body = await expectError(guestClient().collection('_superusers').authRefresh(), 401);
    assertErrorBody(body, 401, 'The request requires valid record authorization token.', {});
  });

  test('wrong password -> 400 "Failed to authenticate." with empty data', async () => {
    const pb = guestClient();
    const body = await expectError(
      pb.collection('_superusers').authWithPassword(SU_EMAIL, 'wrong-password-123'), 400);
    assert.deepEqual(body, { data: {}, message: 'Failed to authenticate.', status: 400 });
    assert.equal(pb.authStore.isValid, false);
    // unknown identity: same answer (no user enumeration)
    const body2 = await expectError(
      pb.collection('_superusers').authWithPassword('nobody@example.com', 'wrong-password-123'), 400);
    assert.deepEqual(body2, { data: {}, message: 'Failed to authenticate.', status: 400 });
  });

  test('blank identity/password -> 400 validation_required', async () => {
    const body = await expectError(guestClient().collection('_superusers').authWithPassword('', ''), 400);
    assertErrorBody(body, 400, 'An error occurred while validating the submitted data.',
      { identity: 'validation_required', password: 'validation_required' });
  });

  test('garbage token on superuser-only endpoints is treated as a guest (401)', async () => {
    const pb = guestClient();
    pb.authStore.save('garbage.token.value', null);
    for (const call of [() => pb.settings.getAll(), () => pb.collections.getList(1, 1), () => pb.collections.getScaffolds()]) {
      const body = await expectError(call(), 401);
      assert.deepEqual(body, { data: {}, message: 'The request requires valid record authorization token.', status: 401 });
    }
    // on a public endpoint the garbage token is silently ignored
    const h = await pb.health.check();
    assert.deepEqual(h.data, {});
    // superuser-only records (null rules) -> 403 for guests
    const body = await expectError(pb.collection('_superusers').getList(1, 1), 403);
    assert.deepEqual(body, { data: {}, message: 'Only superusers can perform this action.', status: 403 });
  });

  test('"Bearer <token>" Authorization header is accepted too', async () => {
    const pb = await suClient();
    const r = await raw('/api/settings', { headers: { Authorization: `Bearer ${pb.authStore.token}` } });
    assert.equal(r.status, 200);
    assert.equal(typeof r.json.meta.appName, 'string');
  });
});

// settings.rateLimits: tiny rules, the 429 body, label/audience matching, superuser exemption,
// rule validation. Every test restores the original rateLimits (which also resets the limiters).
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  PASSWORD, guestClient, suClient, expectError, raw, createAuthRecord, authClient, SU_EMAIL, SU_PASSWORD,
} from '../test/helpers.js';

let pb;
let original;
let user;
let userClient;

const TOO_MANY = { data: {}, message: 'Too Many Requests.', status: 429 };

before(async () => {
  pb = await suClient();
  original = (await pb.settings.getAll()).rateLimits;
  user = await createAuthRecord(pb, 'users');
  userClient = await authClient('users', user.email); // logged in before any limit is enabled
});
afterEach(async () => {
  if (original) await pb.settings.update({ rateLimits: original });
});
after(async () => {
  if (original) {
    await pb.settings.update({ rateLimits: original });
    assert.deepEqual((await pb.settings.getAll()).rateLimits, original);
  }
  if (user) await pb.collection('users').delete(user.id).catch(() => {});
});

const login = (identity, password, headers = {}) =>
  raw('/api/collections/users/auth-with-password', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ identity, password }),
  });

describe('rate limits', () => {
  test('*:auth 2 per 3 s -> the 3rd auth request is 429 (wrong or right password alike)', async () => {
    const s = await pb.settings.update({
      rateLimits: { enabled: true, rules: [{ label: '*:auth', audience: '', duration: 3, maxRequests: 2 }] },
    });
    assert.deepEqual(s.rateLimits, {
      enabled: true, excludedIPs: [], rules: [{ label: '*:auth', audience: '', duration: 3, maxRequests: 2 }],
    });
    const r1 = await login(user.email, 'wrongpass1');
    const r2 = await login(user.email, 'wrongpass1');
    const r3 = await login(user.email, PASSWORD);
    assert.deepEqual([r1.status, r2.status, r3.status], [400, 400, 429]);
    assert.deepEqual(r3.json, TOO_MANY);
    assert.match(r3.headers.get('content-type'), /^application\/json/);
    // the SDK surfaces it as a ClientResponseError 429
    assert.deepEqual(await expectError(guestClient().collection('users').authWithPassword(user.email, PASSWORD), 429), TOO_MANY);
    // other collections have their own counter; non-auth actions are not covered by *:auth
    const su = await raw('/api/collections/_superusers/auth-with-password', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ identity: 'x@compat.test', password: 'wrongpass1' }),
    });
    assert.equal(su.status, 400);
    assert.equal((await raw('/api/collections/users/records')).status, 200);
    assert.equal((await raw('/api/collections/users/auth-methods')).status, 200);
    // superuser requests are never rate limited
    for (let i = 0; i < 3; i++) await pb.collection('_superusers').authWithPassword(SU_EMAIL, SU_PASSWORD);
  });

  test('saving the settings resets the counters; disabling stops limiting', async () => {
    const rules = [{ label: '*:auth', audience: '', duration: 3, maxRequests: 1 }];
    await pb.settings.update({ rateLimits: { enabled: true, rules } });
    assert.equal((await login(user.email, PASSWORD)).status, 200);
    assert.equal((await login(user.email, PASSWORD)).status, 429);
    // any settings save (even with identical rules) starts fresh counters
    await pb.settings.update({ rateLimits: { enabled: true, rules } });
    assert.equal((await login(user.email, PASSWORD)).status, 200);
    assert.equal((await login(user.email, PASSWORD)).status, 429);
    await pb.settings.update({ rateLimits: { enabled: false } });
    assert.equal((await login(user.email, PASSWORD)).status, 200);
    assert.equal((await login(user.email, PASSWORD)).status, 200);
  });

  test('path labels and audiences (@guest vs @auth, "" shared by both)', async () => {
    await pb.settings.update({
      rateLimits: {
        enabled: true,
        rules: [
          { label: '/api/health', audience: '@guest', duration: 3, maxRequests: 1 },
          { label: 'GET /api/collections/users/records', audience: '', duration: 3, maxRequests: 1 },
        ],
      },
    });
    const h1 = await raw('/api/health');
    const h2 = await raw('/api/health');
    assert.deepEqual([h1.status, h2.status], [200, 429]);
    assert.deepEqual(h2.json, TOO_MANY);
    // authenticated requests are not in the @guest audience
    const token = userClient.authStore.token;
    assert.equal((await raw('/api/health', { token })).status, 200);
    assert.equal((await raw('/api/health', { token })).status, 200);
    // audience "" counts guests and users together (per client IP)
    assert.equal((await raw('/api/collections/users/records')).status, 200);
    assert.equal((await raw('/api/collections/users/records')).status, 429);
    assert.equal((await raw('/api/collections/users/records', { token })).status, 429);
    // other methods on the path don't match the "GET ..." label
    const post = await raw('/api/collections/users/records', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({}),
    });
    assert.equal(post.status, 400);
  });

  test('rule validation', async () => {
    let body = await expectError(pb.settings.update({
      rateLimits: { enabled: true, rules: [{ label: '', audience: 'x', duration: 0, maxRequests: 0 }] },
    }), 400);
    assert.deepEqual(body, {
      data: {
        rateLimits: {
          rules: {
            0: {
              audience: { code: 'validation_in_invalid', message: 'Must be a valid value.' },
              duration: { code: 'validation_required', message: 'Cannot be blank.' },
              label: { code: 'validation_required', message: 'Cannot be blank.' },
              maxRequests: { code: 'validation_required', message: 'Cannot be blank.' },
            },
          },
        },
      },
      message: 'An error occurred while saving the new settings.',
      status: 400,
    });
    body = await expectError(pb.settings.update({
      rateLimits: { enabled: true, rules: [{ label: 'nope label', audience: '', duration: 1, maxRequests: 1 }] },
    }), 400);
    assert.deepEqual(body.data, {
      rateLimits: { rules: { 0: { label: { code: 'validation_match_invalid', message: 'Must be in a valid format.' } } } },
    });
    body = await expectError(pb.settings.update({ rateLimits: { enabled: true, rules: [] } }), 400);
    assert.deepEqual(body.data, { rateLimits: { rules: { code: 'validation_required', message: 'Cannot be blank.' } } });
    assert.deepEqual((await pb.settings.getAll()).rateLimits, original, 'nothing saved');
  });
});

// OAuth2 login through the SDK's all-in-one flow (`authWithOAuth2({provider})`: auth-methods,
// realtime `@oauth2`, /api/oauth2-redirect, auth-with-oauth2) and the code flow
// (`authWithOAuth2Code`), against a fake OpenID Connect provider started here on 127.0.0.1.
// PocketBase lets every provider's URLs be overridden, so the same test runs on both servers.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { EventSource } from 'eventsource';
import {
  BASE_URL, RECORD_ID_RE, guestClient, suClient, expectError, assertErrorBody, raw, uniqName, uniqEmail,
  Collections, jwtPayload, createAuthRecord, authClient,
} from '../test/helpers.js';

// The SDK's realtime client needs a global EventSource (browsers have one, Node does not).
globalThis.EventSource = EventSource;

const CLIENT_ID = 'compat-client';
const CLIENT_SECRET = 'compat-secret-value';

/**
 * A minimal OpenID Connect provider: /authorize redirects at once with a code for the next user
 * (set by the test), /token checks the client, the code, the redirect URI and the PKCE verifier,
 * /userinfo answers for the access token.
 */
async function startProvider() {
  const codes = new Map();
  const tokens = new Map();
  let nextUser = null;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    if (url.pathname === '/authorize') {
      const code = randomBytes(12).toString('hex');
      codes.set(code, {
        user: nextUser,
        challenge: url.searchParams.get('code_challenge'),
        redirect: url.searchParams.get('redirect_uri'),
        clientId: url.searchParams.get('client_id'),
      });
      const target = new URL(url.searchParams.get('redirect_uri'));
      target.searchParams.set('code', code);
      target.searchParams.set('state', url.searchParams.get('state'));
      res.writeHead(302, { Location: target.toString() });
      res.end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      let [id, secret] = [form.get('client_id'), form.get('client_secret')];
      const basic = /^Basic (.+)$/.exec(req.headers.authorization || '');
      if (basic) {
        [id, secret] = Buffer.from(basic[1], 'base64').toString().split(':').map(decodeURIComponent);
      }
      const grant = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      const verifier = form.get('code_verifier') || '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (id !== CLIENT_ID || secret !== CLIENT_SECRET || !grant || form.get('grant_type') !== 'authorization_code'
        || grant.redirect !== form.get('redirect_uri') || grant.challenge !== challenge) {
        send(400, { error: 'invalid_grant' });
        return;
      }
      const accessToken = randomBytes(16).toString('hex');
      tokens.set(accessToken, grant.user);
      send(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, refresh_token: 'refresh-' + accessToken });
      return;
    }
    if (url.pathname === '/userinfo') {
      const token = /^Bearer (.+)$/i.exec(req.headers.authorization || '')?.[1];
      const user = tokens.get(token);
      if (!user) {
        send(401, { error: 'invalid_token' });
        return;
      }
      send(200, user);
      return;
    }
    send(404, { error: 'not_found' });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    setNextUser(user) {
      nextUser = user;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

let su;
let cols;
let provider;
let col;

before(async () => {
  su = await suClient();
  cols = new Collections(su);
  provider = await startProvider();
  col = await cols.create({
    name: uniqName('oa'),
    type: 'auth',
    createRule: '',
    listRule: 'id = @request.auth.id',
    viewRule: 'id = @request.auth.id',
    fields: [{ name: 'name', type: 'text' }, { name: 'picture', type: 'url' }],
    oauth2: {
      enabled: true,
      mappedFields: { name: 'name', avatarURL: 'picture' },
      providers: [{
        name: 'oidc',
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        authURL: `${provider.base}/authorize`,
        tokenURL: `${provider.base}/token`,
        userInfoURL: `${provider.base}/userinfo`,
        displayName: 'Compat ID',
      }],
    },
  });
});

after(async () => {
  await cols.cleanup();
  await provider.close();
});

/** The browser's part of the flow: follow the provider's redirect to the server, not further. */
async function visit(url) {
  const atProvider = await fetch(url, { redirect: 'manual' });
  assert.equal(atProvider.status, 302);
  const back = await fetch(atProvider.headers.get('location'), { redirect: 'manual' });
  assert.equal(back.status, 307);
  assert.match(back.headers.get('location'), /oauth2-redirect-success$/);
}

describe('oauth2', () => {
  test('auth-methods lists the provider with a PKCE challenge and a state', async () => {
    const methods = await guestClient().collection(col.name).listAuthMethods();
    assert.equal(methods.oauth2.enabled, true);
    assert.equal(methods.oauth2.providers.length, 1);
    const p = methods.oauth2.providers[0];
    assert.equal(p.name, 'oidc');
    assert.equal(p.displayName, 'Compat ID');
    assert.match(p.state, /^[A-Za-z0-9]{30}$/);
    assert.equal(p.codeVerifier.length, 43);
    assert.equal(p.codeChallenge, createHash('sha256').update(p.codeVerifier).digest('base64url'));
    assert.equal(p.codeChallengeMethod, 'S256');
    const url = new URL(p.authURL);
    assert.equal(`${url.origin}${url.pathname}`, `${provider.base}/authorize`);
    assert.ok(p.authURL.endsWith('&redirect_uri='), p.authURL);
    assert.equal(url.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(url.searchParams.get('code_challenge'), p.codeChallenge);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('state'), p.state);
    assert.equal(url.searchParams.get('scope'), 'openid email profile');
    assert.equal(p.authUrl, p.authURL);
    // the pre-0.23 copy (the SDK drops it; plain HTTP shows it): same entries without logos
    const { json } = await raw(`/api/collections/${col.name}/auth-methods`);
    assert.equal(json.authProviders.length, 1);
    assert.equal(json.authProviders[0].logo, '');
    assert.equal(json.authProviders[0].name, 'oidc');
    assert.ok(json.oauth2.providers[0].logo.startsWith('<svg'));
    assert.equal(json.emailPassword, true);
  });

  test('all-in-one flow signs a new user up, then logs the same user in', async () => {
    const email = uniqEmail('oa');
    const sub = randomBytes(6).toString('hex');
    provider.setNextUser({ sub, name: 'Ada Lovelace', email, email_verified: true, picture: 'https://img.example/ada.png' });
    const pb = guestClient();
    const auth = await pb.collection(col.name).authWithOAuth2({ provider: 'oidc', urlCallback: visit });
    assert.match(auth.record.id, RECORD_ID_RE);
    assert.equal(auth.record.email, email);
    assert.equal(auth.record.verified, true, 'the provider verified the email');
    assert.equal(auth.record.name, 'Ada Lovelace');
    assert.equal(auth.record.picture, 'https://img.example/ada.png');
    assert.equal(auth.meta.isNew, true);
    assert.equal(auth.meta.id, sub);
    assert.equal(auth.meta.email, email);
    assert.equal(auth.meta.name, 'Ada Lovelace');
    assert.equal(auth.meta.avatarURL, 'https://img.example/ada.png');
    assert.ok(auth.meta.accessToken.length > 0);
    assert.equal(auth.meta.refreshToken, 'refresh-' + auth.meta.accessToken);
    assert.equal(auth.meta.rawUser.sub, sub);
    assert.equal(jwtPayload(auth.token).id, auth.record.id);
    assert.equal(pb.authStore.record.id, auth.record.id);

    const links = await pb.collection('_externalAuths').getFullList();
    assert.deepEqual(links.map((l) => [l.provider, l.providerId, l.recordRef, l.collectionRef]),
      [['oidc', sub, auth.record.id, col.id]]);

    // again: the link finds the same record
    provider.setNextUser({ sub, name: 'Ada L.', email, email_verified: true });
    const again = await guestClient().collection(col.name).authWithOAuth2({ provider: 'oidc', urlCallback: visit });
    assert.equal(again.record.id, auth.record.id);
    assert.equal(again.meta.isNew, false);
    assert.equal(again.record.name, 'Ada Lovelace', 'mapped fields fill new records only');
  });

  test('a verified record with the same email is linked, not duplicated', async () => {
    const existing = await createAuthRecord(su, col.name, { verified: true });
    provider.setNextUser({ sub: 'sub-' + existing.id, email: existing.email, email_verified: true });
    const auth = await guestClient().collection(col.name).authWithOAuth2({ provider: 'oidc', urlCallback: visit });
    assert.equal(auth.record.id, existing.id);
    assert.equal(auth.meta.isNew, false);
  });

  test('an unverified provider email is not used; createData fills the new record', async () => {
    const email = uniqEmail('cd');
    provider.setNextUser({ sub: randomBytes(6).toString('hex'), name: 'Bob', email: uniqEmail('unv'), email_verified: false });
    const auth = await guestClient().collection(col.name).authWithOAuth2({
      provider: 'oidc', urlCallback: visit, createData: { email, name: 'Chosen Name' },
    });
    assert.equal(auth.meta.email, '');
    assert.equal(auth.record.email, email);
    assert.equal(auth.record.name, 'Chosen Name');
    assert.equal(auth.record.verified, false);
    assert.equal(auth.meta.isNew, true);
  });

  test('the logged-in record gets the new link', async () => {
    const u = await createAuthRecord(su, col.name);
    const uc = await authClient(col.name, u.email);
    const sub = randomBytes(6).toString('hex');
    provider.setNextUser({ sub, email: uniqEmail('other'), email_verified: true });
    const auth = await uc.collection(col.name).authWithOAuth2({ provider: 'oidc', urlCallback: visit });
    assert.equal(auth.record.id, u.id);
    const links = await uc.collection('_externalAuths').getFullList();
    assert.deepEqual(links.map((l) => l.providerId), [sub]);
  });

  test('code flow errors', async () => {
    const c = guestClient().collection(col.name);
    let body = await expectError(c.authWithOAuth2Code('oidc', 'no-such-code', 'verifier', 'http://127.0.0.1/cb'), 400);
    assertErrorBody(body, 400, 'Failed to fetch OAuth2 token.');
    assert.deepEqual(body.data, {});
    body = await expectError(c.authWithOAuth2Code('github', 'x', 'v', 'http://127.0.0.1/cb'), 400);
    assertErrorBody(body, 400, 'An error occurred while loading the submitted data.');
    assert.deepEqual(body.data, {
      provider: { code: 'validation_invalid_provider', message: 'Provider with name github is missing or is not enabled.', params: { name: 'github' } },
    });
    const r = await raw(`/api/collections/${col.name}/auth-with-oauth2`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json.data, {
      code: { code: 'validation_required', message: 'Cannot be blank.' },
      provider: { code: 'validation_required', message: 'Cannot be blank.' },
    });
    body = await expectError(guestClient().collection('users').authWithOAuth2Code('oidc', 'x', 'v', 'http://127.0.0.1/cb'), 403);
    assertErrorBody(body, 403, 'The collection is not configured to allow OAuth2 authentication.');
  });

  test('oauth2-redirect without a waiting client goes to the failure page', async () => {
    const r = await fetch(`${BASE_URL}/api/oauth2-redirect?state=nosuchclient&code=abc`, { redirect: 'manual' });
    assert.equal(r.status, 307);
    assert.match(r.headers.get('location'), /oauth2-redirect-failure$/);
  });

  test('the provider catalogue', async () => {
    const all = await su.collections.getAllOAuth2Providers();
    assert.equal(all.length, 32);
    assert.deepEqual(all.slice(0, 3).map((p) => p.name), ['apple', 'google', 'microsoft']);
    assert.deepEqual(all.slice(-3).map((p) => p.name), ['oidc', 'oidc2', 'oidc3']);
    for (const p of all) {
      assert.deepEqual(Object.keys(p).sort(), ['displayName', 'logo', 'name']);
      assert.ok(p.logo.startsWith('<svg'), p.name);
    }
    const guest = await raw('/api/collections/meta/oauth2-providers');
    assert.equal(guest.status, 401);
  });
});

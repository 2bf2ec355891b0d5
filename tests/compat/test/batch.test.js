// Batch API through the SDK's createBatch() (always multipart with @jsonPayload): disabled by
// default, every action in one transaction with per-request answers, all-or-nothing rollback
// with the per-request error, rules per request (context "batch"), maxRequests, bad inner URLs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  suClient, guestClient, expectError, raw, Collections, uniqName, recordId,
} from './helpers.js';

const DEFAULT_BATCH = { enabled: false, maxRequests: 50, timeout: 3, maxBodySize: 0 };

let pb;
let cols;
let posts; // public collection with a required title
let ctx; // create rule: only inside a batch
let locked; // every rule null

before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
  posts = await cols.create({
    name: uniqName('bposts'),
    type: 'base',
    listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'n', type: 'number' },
    ],
  });
  ctx = await cols.create({
    name: uniqName('bctx'),
    type: 'base',
    listRule: '', viewRule: '', createRule: '@request.context = "batch"',
    fields: [{ name: 'title', type: 'text' }],
  });
  locked = await cols.create({
    name: uniqName('blocked'),
    type: 'base',
    fields: [{ name: 'title', type: 'text' }],
  });
});

after(async () => {
  await pb.settings.update({ batch: DEFAULT_BATCH });
  await cols.cleanup();
});

async function titles() {
  const items = await pb.collection(posts.name).getFullList({ sort: 'title' });
  return items.map((r) => r.title);
}

function failedAt(index, response) {
  return {
    status: 400,
    message: 'Batch transaction failed.',
    data: { requests: { [index]: { code: 'batch_request_failed', message: 'Batch request failed.', response } } },
  };
}

describe('batch', () => {
  test('disabled by default: 403', async () => {
    const settings = await pb.settings.getAll();
    assert.deepEqual(settings.batch, DEFAULT_BATCH);
    const batch = pb.createBatch();
    batch.collection(posts.name).create({ title: 'x' });
    const body = await expectError(batch.send(), 403, 'Batch requests are not allowed.');
    assert.deepEqual(body.data, {});
    await pb.settings.update({ batch: { enabled: true } });
  });

  test('create, upsert both ways, update and delete answer in order', async () => {
    const P = pb.collection(posts.name);
    const gone = await P.create({ title: 'gone' });
    const upsertId = recordId('up');
    const batch = pb.createBatch();
    batch.collection(posts.name).create({ title: 'a' }, { fields: 'id,title' });
    batch.collection(posts.name).upsert({ id: upsertId, title: 'u' });
    batch.collection(posts.name).upsert({ id: upsertId, title: 'u2' });
    batch.collection(posts.name).update(upsertId, { n: 5 }, { fields: 'n,title' });
    batch.collection(posts.name).delete(gone.id);
    const results = await batch.send();
    assert.equal(results.length, 5);
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 204]);
    assert.deepEqual(Object.keys(results[0].body).sort(), ['id', 'title']);
    assert.equal(results[0].body.title, 'a');
    for (const [i, title] of [[1, 'u'], [2, 'u2']]) {
      assert.deepEqual(results[i].body, {
        collectionId: posts.id, collectionName: posts.name, id: upsertId, n: 0, title,
      });
    }
    assert.deepEqual(results[3].body, { n: 5, title: 'u2' });
    assert.equal(results[4].body, null);
    assert.deepEqual(await titles(), ['a', 'u2']);
    // leave the collection empty for the next tests
    const clean = pb.createBatch();
    for (const r of await P.getFullList()) clean.collection(posts.name).delete(r.id);
    await clean.send();
  });

  test('a failing request rolls back the whole batch', async () => {
    const P = pb.collection(posts.name);
    const kept = await P.create({ title: 'kept' });
    const batch = pb.createBatch();
    batch.collection(posts.name).create({ title: 'r1' });
    batch.collection(posts.name).update(kept.id, { title: 'changed' });
    batch.collection(posts.name).create({ title: '' });
    batch.collection(posts.name).create({ title: 'never' });
    const body = await expectError(batch.send(), 400, 'Batch transaction failed.');
    assert.deepEqual(body, failedAt(2, {
      status: 400,
      message: 'Failed to create record.',
      data: { title: { code: 'validation_required', message: 'Cannot be blank.' } },
    }));
    assert.deepEqual(await titles(), ['kept']);

    const missing = pb.createBatch();
    missing.collection(posts.name).create({ title: 'r1' });
    missing.collection(posts.name).update('nope', { title: 'x' });
    const notFound = await expectError(missing.send(), 400);
    assert.deepEqual(notFound, failedAt(1, {
      status: 404, message: "The requested resource wasn't found.", data: {},
    }));
    await P.delete(kept.id);
  });

  test('rules apply per request, with @request.context = "batch"', async () => {
    await expectError(guestClient().collection(ctx.name).create({ title: 'alone' }), 400, 'Failed to create record.');
    const guest = guestClient();
    const ok = guest.createBatch();
    ok.collection(ctx.name).create({ title: 'batched' });
    const results = await ok.send();
    assert.equal(results[0].status, 200);
    assert.equal(results[0].body.title, 'batched');

    const refused = guest.createBatch();
    refused.collection(ctx.name).create({ title: 'first' });
    refused.collection(locked.name).create({ title: 'x' });
    const body = await expectError(refused.send(), 400);
    assert.deepEqual(body, failedAt(1, {
      status: 403, message: 'Only superusers can perform this action.', data: {},
    }));
    const all = await pb.collection(ctx.name).getFullList();
    assert.deepEqual(all.map((r) => r.title), ['batched']);
  });

  test('maxRequests', async () => {
    await pb.settings.update({ batch: { maxRequests: 2 } });
    try {
      const batch = pb.createBatch();
      for (const title of ['a', 'b', 'c']) batch.collection(posts.name).create({ title });
      const body = await expectError(batch.send(), 400, 'Invalid batch request data.');
      assert.deepEqual(body.data, {
        requests: {
          code: 'validation_length_too_long',
          message: 'The length must be no more than 2.',
          params: { max: 2, min: 0 },
        },
      });
    } finally {
      await pb.settings.update({ batch: { maxRequests: 50 } });
    }
    assert.deepEqual(await titles(), []);
  });

  test('invalid payloads and inner URLs', async () => {
    const post = (requests) => raw('/api/batch', {
      method: 'POST',
      token: pb.authStore.token,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ requests }),
    });
    let res = await post([]);
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, {
      status: 400,
      message: 'Invalid batch request data.',
      data: { requests: { code: 'validation_required', message: 'Cannot be blank.' } },
    });
    res = await post([{ method: 'post', url: '' }]);
    assert.deepEqual(res.json.data, {
      requests: {
        0: {
          method: { code: 'validation_in_invalid', message: 'Must be a valid value.' },
          url: { code: 'validation_required', message: 'Cannot be blank.' },
        },
      },
    });
    res = await post('x');
    assert.deepEqual(res.json, { status: 400, message: 'Failed to read the submitted batch data.', data: {} });
    for (const [method, url] of [
      ['GET', `/api/collections/${posts.name}/records`],
      ['POST', `/api/collections/${posts.name}/records/abc`],
      ['PATCH', `/api/collections/${posts.name}/records`],
      ['POST', '/api/health'],
    ]) {
      res = await post([{ method, url, body: { title: 't' } }]);
      assert.equal(res.status, 400, `${method} ${url}`);
      assert.deepEqual(res.json, failedAt(0, {
        status: 400, message: 'Something went wrong while processing your request.', data: {},
      }), `${method} ${url}`);
    }
    assert.deepEqual(await titles(), []);
  });
});

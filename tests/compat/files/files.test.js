// Files through the SDK: FormData uploads, `field+` / `field-`, validation, `pb.files.getURL`
// with thumbs, protected files with `pb.files.getToken()`, ranges, and cleanup on delete.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deflateSync, crc32 } from 'node:zlib';
import {
  BASE_URL, guestClient, suClient, uniqName, Collections, expectError, createAuthRecord, authClient,
} from '../test/helpers.js';

/** A valid RGB PNG of `width` x `height`, one colour. */
function png(width, height, [r, g, b] = [200, 30, 30]) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(width).fill([r, g, b]).flat())]);
  const pixels = deflateSync(Buffer.concat(Array(height).fill(row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Width and height of a PNG. */
function pngSize(bytes) {
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

function form(fields) {
  const data = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item && item.bytes) {
        data.append(key, new Blob([item.bytes], { type: item.type }), item.name);
      } else {
        data.append(key, item);
      }
    }
  }
  return data;
}

async function download(url, headers = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

let su;
let cols;
let docs;

before(async () => {
  su = await suClient();
  cols = new Collections(su);
  docs = await cols.create({
    name: uniqName('docs'),
    type: 'base',
    listRule: '',
    viewRule: '',
    createRule: '',
    updateRule: '',
    deleteRule: '',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'images', type: 'file', maxSelect: 3, maxSize: 20000, mimeTypes: ['image/png'], thumbs: ['20x10', '0x10', '10x0f'] },
      { name: 'secret', type: 'file', maxSelect: 1, protected: true },
    ],
  });
});

after(async () => {
  await cols.cleanup();
});

describe('files', () => {
  test('upload, download, thumbs, append and remove', async () => {
    const g = guestClient();
    const original = png(40, 20);
    const rec = await g.collection(docs.name).create(form({
      title: 'one', images: [{ bytes: original, type: 'image/png', name: 'My Photo.png' }],
    }));
    assert.equal(rec.images.length, 1);
    assert.match(rec.images[0], /^my_photo_[a-z0-9]{10}\.png$/);

    const url = g.files.getURL(rec, rec.images[0]);
    assert.equal(url, `${BASE_URL}/api/files/${docs.id}/${rec.id}/${rec.images[0]}`);
    const got = await download(url);
    assert.equal(got.status, 200);
    assert.deepEqual(got.bytes, original);
    assert.equal(got.headers.get('content-type'), 'image/png');
    assert.match(got.headers.get('content-disposition'), /^inline; filename="my_photo_[a-z0-9]{10}\.png"$/);
    assert.equal(got.headers.get('content-security-policy'), "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox");

    const thumb = async (size) => pngSize((await download(g.files.getURL(rec, rec.images[0], { thumb: size }))).bytes);
    assert.deepEqual(await thumb('20x10'), [20, 10]);
    assert.deepEqual(await thumb('0x10'), [20, 10]);
    assert.deepEqual(await thumb('10x0f'), [10, 5]);
    assert.deepEqual(await thumb('100x100'), [100, 100], '100x100 is always allowed');
    assert.deepEqual(await thumb('30x30'), [40, 20], 'an undeclared size serves the original');

    const forced = await download(g.files.getURL(rec, rec.images[0], { download: true }));
    assert.match(forced.headers.get('content-disposition'), /^attachment; /);

    const range = await download(url, { Range: 'bytes=0-7' });
    assert.equal(range.status, 206);
    assert.deepEqual(range.bytes, original.subarray(0, 8));
    assert.equal(range.headers.get('content-range'), `bytes 0-7/${original.length}`);

    // append a second file, then remove the first
    const second = png(8, 8, [0, 0, 255]);
    const two = await g.collection(docs.name).update(rec.id, form({
      'images+': [{ bytes: second, type: 'image/png', name: 'b.png' }],
    }));
    assert.equal(two.images.length, 2);
    assert.equal(two.images[0], rec.images[0]);
    const one = await g.collection(docs.name).update(rec.id, { 'images-': [rec.images[0]] });
    assert.deepEqual(one.images, [two.images[1]]);
    assert.equal((await download(url)).status, 404, 'a removed file is gone');

    await g.collection(docs.name).delete(rec.id);
    assert.equal((await download(g.files.getURL(one, one.images[0]))).status, 404, 'files go with their record');
  });

  test('validation of type, size and count', async () => {
    const g = guestClient().collection(docs.name);
    let body = await expectError(g.create(form({ images: [{ bytes: Buffer.from('hello'), type: 'text/plain', name: 'a.txt' }] })), 400);
    assert.equal(body.data.images.code, 'validation_invalid_mime_type');
    const big = Buffer.concat([png(2, 2), randomBytes(30000)]);
    body = await expectError(g.create(form({ images: [{ bytes: big, type: 'image/png', name: 'big.png' }] })), 400);
    assert.equal(body.data.images.code, 'validation_file_size_limit');
    const small = { bytes: png(2, 2), type: 'image/png', name: 's.png' };
    body = await expectError(g.create(form({ images: [small, small, small, small] })), 400);
    assert.equal(body.data.images.code, 'validation_too_many_files');
  });

  test('files in a batch go with their own request', async () => {
    const original = (await su.settings.getAll()).batch;
    await su.settings.update({ batch: { enabled: true, maxRequests: 10 } });
    try {
      const existing = await su.collection(docs.name).create(form({
        title: 'existing', images: [{ bytes: png(4, 4), type: 'image/png', name: 'first.png' }],
      }));
      const fresh = png(6, 3, [0, 200, 0]);
      const batch = su.createBatch();
      batch.collection(docs.name).create({
        title: 'from batch', images: [new File([fresh], 'batched.png', { type: 'image/png' })],
      });
      batch.collection(docs.name).update(existing.id, {
        'images+': [new File([png(2, 2)], 'added.png', { type: 'image/png' })],
      });
      const [created, updated] = await batch.send();
      assert.equal(created.status, 200);
      assert.equal(created.body.images.length, 1);
      // named twice on the way in, as PocketBase does for batches
      assert.match(created.body.images[0], /^batched_[a-z0-9]{10}_[a-z0-9]{10}\.png$/);
      const got = await download(su.files.getURL(created.body, created.body.images[0]));
      assert.deepEqual(got.bytes, fresh);
      assert.equal(updated.body.images.length, 2);
      assert.equal(updated.body.images[0], existing.images[0]);
      assert.match(updated.body.images[1], /^added_[a-z0-9]{10}_[a-z0-9]{10}\.png$/);

      // a failing batch keeps nothing: the record stays as it was
      const failing = su.createBatch();
      failing.collection(docs.name).update(existing.id, {
        'images+': [new File([png(2, 2)], 'never.png', { type: 'image/png' })],
      });
      failing.collection(docs.name).create({ images: [new File([Buffer.from('text')], 'bad.txt', { type: 'text/plain' })] });
      await expectError(failing.send(), 400);
      const after = await su.collection(docs.name).getOne(existing.id);
      assert.deepEqual(after.images, updated.body.images);
    } finally {
      await su.settings.update({ batch: original });
    }
  });

  test('protected files need a file token when the view rule is not public', async () => {
    const users = await cols.create({ name: uniqName('fu'), type: 'auth', createRule: '' });
    const vault = await cols.create({
      name: uniqName('vault'),
      type: 'base',
      viewRule: "@request.auth.id != ''",
      fields: [{ name: 'title', type: 'text' }, { name: 'secret', type: 'file', maxSelect: 1, protected: true }],
    });
    const u = await createAuthRecord(su, users.name);
    const uc = await authClient(users.name, u.email);
    const rec = await su.collection(vault.name).create(form({
      title: 'secret', secret: [{ bytes: Buffer.from('top secret'), type: 'text/plain', name: 'notes.txt' }],
    }));
    const plain = await download(uc.files.getURL(rec, rec.secret));
    assert.equal(plain.status, 404);
    const token = await uc.files.getToken();
    const withToken = await download(uc.files.getURL(rec, rec.secret, { token }));
    assert.equal(withToken.status, 200);
    assert.equal(withToken.bytes.toString(), 'top secret');
    assert.match(withToken.headers.get('content-disposition'), /^attachment; filename="notes_[a-z0-9]{10}\.txt"$/);
    await expectError(guestClient().files.getToken(), 401);
  });
});

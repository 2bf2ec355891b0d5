// Shared helpers for the PocketBase/Keelbase compatibility suite.
//
// Every test talks to the server through the official `pocketbase` JS SDK; `raw()` (plain fetch)
// is only used where the SDK has no method (raw status codes, headers, malformed bodies).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import PocketBase, { ClientResponseError } from 'pocketbase';

export { PocketBase, ClientResponseError };

export const BASE_URL = (process.env.KB_URL || 'http://127.0.0.1:8090').replace(/\/+$/, '');
export const SU_EMAIL = process.env.KB_SU_EMAIL || 'admin@example.com';
export const SU_PASSWORD = process.env.KB_SU_PASSWORD || 'adminpass123456';

// Fixed ids of the system collections (hard-coded in the SDK / PocketBase).
export const SUPERUSERS_COLLECTION_ID = 'pbc_3142635823';

// `YYYY-MM-DD HH:MM:SS.mmmZ`
export const DATETIME_RE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// Generated record ids: 15 chars of [a-z0-9].
export const RECORD_ID_RE = /^[a-z0-9]{15}$/;

/** A new SDK client without auth (a "guest"). Auto-cancellation is off so parallel calls are safe. */
export function guestClient() {
  const pb = new PocketBase(BASE_URL);
  pb.autoCancellation(false);
  return pb;
}

/** A new SDK client authenticated as the superuser. */
export async function suClient() {
  const pb = guestClient();
  await pb.collection('_superusers').authWithPassword(SU_EMAIL, SU_PASSWORD);
  return pb;
}

/** Unique, valid (`^\w+$`) collection name: `<prefix>_<10 random [a-z0-9]>`. */
export function uniqName(prefix = 'c') {
  return `${prefix}_${randomBytes(8).toString('hex').slice(0, 10)}`;
}

/** A valid 15-char record id `[a-z0-9]{15}` with the given prefix (random rest). */
export function recordId(prefix = '') {
  const rnd = randomBytes(16).toString('hex');
  return (prefix + rnd).slice(0, 15);
}

/**
 * Await `promise`, expect it to reject with a ClientResponseError of `status`; returns the parsed
 * error body (`err.response`). Optionally asserts the error `message`.
 */
export async function expectError(promise, status, message) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected the request to fail with ${status}, but it succeeded`);
  assert.ok(err instanceof ClientResponseError, `expected ClientResponseError, got ${err}`);
  assert.equal(err.status, status, `status (body: ${JSON.stringify(err.response)})`);
  if (message !== undefined) {
    assert.equal(err.response.message, message);
  }
  return err.response;
}

/** Assert the JSON error envelope `{status, message, data}` and the `data` field -> code map. */
export function assertErrorBody(body, status, message, codes) {
  assert.equal(body.status, status);
  assert.equal(body.message, message);
  assert.equal(typeof body.data, 'object');
  assert.ok(body.data !== null && !Array.isArray(body.data));
  if (codes !== undefined) {
    assert.deepEqual(dataCodes(body.data), codes);
  }
}

/** `{field: {code, message}}` -> `{field: code}` (one level). */
export function dataCodes(data) {
  const out = {};
  for (const [k, v] of Object.entries(data || {})) {
    out[k] = v && typeof v === 'object' && 'code' in v ? v.code : v;
  }
  return out;
}

/** Plain fetch against the server, for what the SDK cannot express. Returns {status, headers, text, json}. */
export async function raw(path, { method = 'GET', headers = {}, body, token } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = token;
  const res = await fetch(BASE_URL + path, { method, headers: h, body });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * Per-test-file tracker for collections: `create()` makes a collection through the SDK and
 * remembers it; `cleanup()` deletes everything (reverse order, so referencing collections go first).
 */
export class Collections {
  constructor(pb) {
    this.pb = pb;
    this.created = [];
  }

  async create(def) {
    const col = await this.pb.collections.create(def);
    this.created.push(col.id);
    return col;
  }

  /** Remember a collection created by other means (e.g. import). */
  track(idOrName) {
    this.created.push(idOrName);
  }

  async cleanup() {
    const errors = [];
    for (const id of this.created.reverse()) {
      try {
        await this.pb.collections.delete(id);
      } catch (e) {
        if (!(e instanceof ClientResponseError && e.status === 404)) errors.push(e);
      }
    }
    this.created = [];
    if (errors.length) throw errors[0];
  }
}

/** Field helper: find a field definition by name in a collection model. */
export function field(col, name) {
  const f = col.fields.find((x) => x.name === name);
  assert.ok(f, `field ${name} not found in ${col.name}`);
  return f;
}

/** Sorted ids of records (or list items). */
export function ids(items) {
  return items.map((r) => r.id).sort();
}

/**
 * The standard "blog" fixture used by filter/sort/expand tests:
 *   authors(name, age, email)  posts(title, views, published, tags[], status, author -> authors,
 *   editors[] -> authors, meta json, body editor, publishAt date)  comments(text, post -> posts, user -> authors)
 * Returns {authors, posts, comments, a: {ann,bob,cid}, p: {p1..p4}, c: {c1..c4}} (names + record models).
 */
export async function createBlog(cols) {
  const pb = cols.pb;
  const authors = await cols.create({
    name: uniqName('authors'),
    type: 'base',
    listRule: '',
    viewRule: '',
    fields: [
      { name: 'name', type: 'text' },
      { name: 'age', type: 'number' },
      { name: 'nick', type: 'text' },
    ],
  });
  const posts = await cols.create({
    name: uniqName('posts'),
    type: 'base',
    listRule: '',
    viewRule: '',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'views', type: 'number' },
      { name: 'published', type: 'bool' },
      { name: 'tags', type: 'select', values: ['a', 'b', 'c', 'd'], maxSelect: 4 },
      { name: 'status', type: 'select', values: ['draft', 'live'], maxSelect: 1 },
      { name: 'author', type: 'relation', collectionId: authors.id, maxSelect: 1 },
      { name: 'editors', type: 'relation', collectionId: authors.id, maxSelect: 5 },
      { name: 'meta', type: 'json' },
      { name: 'body', type: 'editor' },
      { name: 'publishAt', type: 'date' },
      { name: 'created', type: 'autodate', onCreate: true },
      { name: 'updated', type: 'autodate', onCreate: true, onUpdate: true },
    ],
  });
  const comments = await cols.create({
    name: uniqName('comments'),
    type: 'base',
    listRule: '',
    viewRule: '',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'post', type: 'relation', collectionId: posts.id, maxSelect: 1 },
      { name: 'user', type: 'relation', collectionId: authors.id, maxSelect: 1 },
    ],
  });

  const A = pb.collection(authors.name);
  const ann = await A.create({ name: 'Ann', age: 30, nick: 'O\'Hara "the" \\ann' });
  const bob = await A.create({ name: 'Bob', age: 40, nick: '' });
  const cid = await A.create({ name: 'cid', age: 25 });

  const P = pb.collection(posts.name);
  const p1 = await P.create({
    title: 'Hello world', views: 10, published: true, tags: ['a', 'b'], status: 'live',
    author: ann.id, editors: [bob.id, cid.id], meta: { k: [1, 2], s: 'x' },
    body: '<p>Hello <b>bold</b> world, this is a longer body</p>', publishAt: '2024-01-02 10:00:00.000Z',
  });
  const p2 = await P.create({
    title: '100% pure', views: 20, published: false, tags: ['c'], status: 'draft',
    author: bob.id, editors: [ann.id], meta: { k: [3], s: 'y' }, body: 'plain', publishAt: '2025-06-01 00:00:00.000Z',
  });
  const p3 = await P.create({
    title: 'under_score', views: 0, published: true, tags: [], status: '',
    author: ann.id, editors: [], meta: null, body: '',
  });
  const p4 = await P.create({
    title: 'Zed', views: 5.5, published: false, tags: ['a', 'c', 'd'], status: 'live',
    author: '', editors: [ann.id, bob.id], meta: { s: 'x' },
  });

  const C = pb.collection(comments.name);
  const c1 = await C.create({ text: 'first', post: p1.id, user: bob.id });
  const c2 = await C.create({ text: 'second', post: p1.id, user: cid.id });
  const c3 = await C.create({ text: 'third', post: p2.id, user: ann.id });
  const c4 = await C.create({ text: 'orphan', post: '', user: ann.id });

  return {
    authors, posts, comments,
    a: { ann, bob, cid },
    p: { p1, p2, p3, p4 },
    c: { c1, c2, c3, c4 },
  };
}

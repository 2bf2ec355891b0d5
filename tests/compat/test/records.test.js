// Records CRUD: create/getOne/getList/getFullList/getFirstListItem/update/delete, paging,
// zero values, type coercion, unknown keys, malformed and oversized bodies, modifiers,
// delete with relations.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  DATETIME_RE, RECORD_ID_RE, suClient, expectError, assertErrorBody, raw, Collections, uniqName, recordId, ids,
} from './helpers.js';

let pb;
let cols;
let target; // relation target collection
let T; // its record service
let t1; let t2; let t3;
let all; // collection with every field type
let R; // its record service

before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
  target = await cols.create({ name: uniqName('target'), type: 'base', listRule: '', viewRule: '', fields: [{ name: 'name', type: 'text' }] });
  T = pb.collection(target.name);
  t1 = await T.create({ name: 't1' });
  t2 = await T.create({ name: 't2' });
  t3 = await T.create({ name: 't3' });
  all = await cols.create({
    name: uniqName('all'),
    type: 'base',
    listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'body', type: 'editor' },
      { name: 'views', type: 'number' },
      { name: 'published', type: 'bool' },
      { name: 'contact', type: 'email' },
      { name: 'site', type: 'url' },
      { name: 'when', type: 'date' },
      { name: 'created', type: 'autodate', onCreate: true },
      { name: 'updated', type: 'autodate', onCreate: true, onUpdate: true },
      { name: 'status', type: 'select', values: ['draft', 'live'], maxSelect: 1 },
      { name: 'tags', type: 'select', values: ['a', 'b', 'c', 'd'], maxSelect: 3 },
      { name: 'doc', type: 'file', maxSelect: 1 },
      { name: 'docs', type: 'file', maxSelect: 3 },
      { name: 'rel', type: 'relation', collectionId: target.id, maxSelect: 1 },
      { name: 'rels', type: 'relation', collectionId: target.id, maxSelect: 5 },
      { name: 'meta', type: 'json' },
      { name: 'secret', type: 'password' },
      { name: 'loc', type: 'geoPoint' },
    ],
  });
  R = pb.collection(all.name);
});
after(async () => {
  await cols?.cleanup();
});

describe('create / read', () => {
  test('create with only one field: every other field has its zero value', async () => {
    const r = await R.create({ title: 'zero' });
    assert.match(r.id, RECORD_ID_RE);
    assert.match(r.created, DATETIME_RE);
    assert.equal(r.updated, r.created);
    const { id, created, updated, ...rest } = r;
    assert.deepEqual(rest, {
      collectionId: all.id,
      collectionName: all.name,
      title: 'zero',
      body: '',
      views: 0,
      published: false,
      contact: '',
      site: '',
      when: '',
      status: '',
      tags: [],
      doc: '',
      docs: [],
      rel: '',
      rels: [],
      meta: null,
      secret: '',
      loc: { lon: 0, lat: 0 },
    });
    // explicit zero values give the same result
    const z = await R.create({
      title: '', views: 0, published: false, tags: [], meta: null, loc: { lon: 0, lat: 0 }, when: '', rels: [], rel: '', status: '',
    });
    assert.deepEqual(
      [z.title, z.views, z.published, z.tags, z.meta, z.loc, z.when, z.rels, z.rel, z.status],
      ['', 0, false, [], null, { lon: 0, lat: 0 }, '', [], '', ''],
    );
  });

  test('create with every field set (JSON body); 200 with the stored values', async () => {
    const r = await R.create({
      title: 'Full one',
      body: '<p>Hello <b>bold</b></p>',
      views: 12.5,
      published: true,
      contact: 'a@example.com',
      site: 'https://example.com/a?b=c',
      when: '2024-05-06T07:08:09.123456Z',
      status: 'live',
      tags: ['a', 'b'],
      rel: t1.id,
      rels: [t2.id, t1.id],
      meta: { k: [1, 2], s: 'x', n: null },
      secret: 'hunter2',
      loc: { lon: 23.3, lat: 42.7 },
      created: '2000-01-01 00:00:00.000Z', // ignored: autodate
      updated: '2000-01-01 00:00:00.000Z', // ignored: autodate
      unknownKey: 'ignored', // unknown keys are silently ignored
      expand: { x: 1 }, // ignored
    });
    assert.equal(r.title, 'Full one');
    assert.equal(r.body, '<p>Hello <b>bold</b></p>');
    assert.equal(r.views, 12.5);
    assert.equal(r.published, true);
    assert.equal(r.contact, 'a@example.com');
    assert.equal(r.site, 'https://example.com/a?b=c');
    assert.equal(r.when, '2024-05-06 07:08:09.123Z', 'normalized to ms, space separator');
    assert.equal(r.status, 'live');
    assert.deepEqual(r.tags, ['a', 'b']);
    assert.equal(r.rel, t1.id);
    assert.deepEqual(r.rels, [t2.id, t1.id], 'relation order preserved');
    assert.deepEqual(r.meta, { k: [1, 2], s: 'x', n: null });
    assert.equal(r.secret, '', 'base-collection password fields serialize as ""');
    assert.deepEqual(r.loc, { lon: 23.3, lat: 42.7 });
    assert.notEqual(r.created, '2000-01-01 00:00:00.000Z');
    assert.notEqual(r.updated, '2000-01-01 00:00:00.000Z');
    assert.equal('unknownKey' in r, false);
    assert.equal('expand' in r, false);

    const got = await R.getOne(r.id);
    assert.deepEqual(got, r);
  });

  test('create with a custom id; invalid custom ids', async () => {
    const id = recordId('custom');
    const r = await R.create({ id, title: 'custom id' });
    assert.equal(r.id, id);
    assert.equal((await R.getOne(id)).title, 'custom id');
    let b = await expectError(R.create({ id: 'short' }), 400);
    assert.deepEqual(b.data, { id: { code: 'validation_min_text_constraint', message: 'Must be at least 15 character(s).', params: { min: 15 } } });
    b = await expectError(R.create({ id: 'ABCDEFGHIJKLMNO' }), 400);
    assertErrorBody(b, 400, 'Failed to create record.', { id: 'validation_invalid_format' });
    b = await expectError(R.create({ id }), 400);
    assertErrorBody(b, 400, 'Failed to create record.', { id: 'validation_not_unique' });
  });

  test('date input formats', async () => {
    const cases = [
      ['2024-01-02', '2024-01-02 00:00:00.000Z'],
      ['2024-01-02 10:00:00', '2024-01-02 10:00:00.000Z'],
      ['2024-01-02T10:00:00+02:00', '2024-01-02 08:00:00.000Z'],
      ['2024-01-02 10:00:00.5Z', '2024-01-02 10:00:00.500Z'],
      ['garbage', ''],
    ];
    for (const [input, want] of cases) {
      const r = await R.create({ when: input });
      assert.equal(r.when, want, input);
    }
  });

  test('lenient type coercion of wrong JSON types', async () => {
    const cases = [
      [{ views: 'abc' }, 'views', 0],
      [{ views: '12' }, 'views', 12],
      [{ views: true }, 'views', 1],
      [{ views: [1] }, 'views', 0],
      [{ published: 'yes' }, 'published', false],
      [{ published: 'true' }, 'published', true],
      [{ published: 1 }, 'published', true],
      [{ title: 123 }, 'title', '123'],
      [{ tags: 'a' }, 'tags', ['a']],
      [{ status: ['live'] }, 'status', 'live'],
      [{ rels: t1.id }, 'rels', [t1.id]],
      [{ meta: 'notjson' }, 'meta', 'notjson'],
      [{ meta: '{"a":1}' }, 'meta', { a: 1 }],
      [{ meta: 5 }, 'meta', 5],
      [{ loc: '{"lon":1,"lat":2}' }, 'loc', { lon: 1, lat: 2 }],
      [{ loc: 'abc' }, 'loc', { lon: 0, lat: 0 }],
      [{ loc: [1, 2] }, 'loc', { lon: 0, lat: 0 }],
      [{ loc: { lat: '5', lon: 'x' } }, 'loc', { lon: 0, lat: 0 }],
      [{ views: null }, 'views', 0],
      [{ views: '1e3' }, 'views', 1000],
      [{ views: ' 12 ' }, 'views', 0],
      [{ published: '1' }, 'published', true],
      [{ published: 'TRUE' }, 'published', true],
      [{ title: true }, 'title', 'true'],
      [{ title: 1.5 }, 'title', '1.5'],
      [{ title: { a: 1 } }, 'title', ''],
      [{ tags: null }, 'tags', []],
      [{ rels: null }, 'rels', []],
      [{ rel: [t1.id, t2.id] }, 'rel', t2.id],
      [{ status: ['draft', 'live'] }, 'status', 'live'],
      [{ when: 1700000000 }, 'when', ''],
    ];
    for (const [body, key, want] of cases) {
      const r = await R.create(body);
      assert.deepEqual(r[key], want, JSON.stringify(body));
    }
    // a comma-separated string is NOT split for a multi select
    const b = await expectError(R.create({ tags: 'a,b' }), 400);
    assert.deepEqual(b.data, { tags: { code: 'validation_invalid_value', message: 'Invalid value a,b.', params: { value: 'a,b' } } });
  });

  test('record body keys are case-sensitive', async () => {
    const r = await R.create({ TITLE: 'upper', Views: 3 });
    assert.equal(r.title, '');
    assert.equal(r.views, 0);
  });

  test('duplicate values in multi select/relation are de-duplicated', async () => {
    const r = await R.create({ tags: ['a', 'a', 'b'], rels: [t1.id, t1.id] });
    assert.deepEqual(r.tags, ['a', 'b']);
    assert.deepEqual(r.rels, [t1.id]);
  });

  test('getOne unknown id -> 404; unknown collection -> 404 "Missing collection context."', async () => {
    let b = await expectError(R.getOne('nosuchrecord123'), 404);
    assert.deepEqual(b, { data: {}, message: "The requested resource wasn't found.", status: 404 });
    b = await expectError(pb.collection(uniqName('nope')).getList(), 404);
    assert.deepEqual(b, { data: {}, message: 'Missing collection context.', status: 404 });
    const nope = pb.collection(uniqName('nope'));
    // list/view/delete and create/update use two different messages
    for (const [call, msg] of [
      [() => nope.getOne('abc'), 'Missing collection context.'],
      [() => nope.delete('abc'), 'Missing collection context.'],
      [() => nope.create({}), 'Missing or invalid collection context.'],
      [() => nope.update('abc', {}), 'Missing or invalid collection context.'],
    ]) {
      b = await expectError(call(), 404);
      assert.deepEqual(b, { data: {}, message: msg, status: 404 });
    }
  });

  test('records are addressable through the collection id too', async () => {
    const r = await R.create({ title: 'by id' });
    const got = await pb.collection(all.id).getOne(r.id);
    assert.equal(got.title, 'by id');
    assert.equal(got.collectionName, all.name);
  });
});

describe('bodies', () => {
  test('malformed JSON -> 400 default message', async () => {
    for (const body of ['{"title":', '[1,2]', '{bad']) {
      const r = await raw(`/api/collections/${all.name}/records`, {
        method: 'POST', token: pb.authStore.token, headers: { 'Content-Type': 'application/json' }, body,
      });
      assert.equal(r.status, 400, body);
      assert.deepEqual(r.json, { data: {}, message: 'Something went wrong while processing your request.', status: 400 });
    }
  });

  test('duplicate keys and out-of-range numbers make the JSON invalid -> 400', async () => {
    for (const body of ['{"title":"a","title":"b"}', '{"views":1e400}']) {
      const r = await raw(`/api/collections/${all.name}/records`, {
        method: 'POST', token: pb.authStore.token, headers: { 'Content-Type': 'application/json' }, body,
      });
      assert.equal(r.status, 400, body);
      assert.deepEqual(r.json, { data: {}, message: 'Something went wrong while processing your request.', status: 400 });
    }
  });

  test('empty / null JSON body = no data', async () => {
    for (const body of ['', 'null', '{}']) {
      const r = await raw(`/api/collections/${all.name}/records`, {
        method: 'POST', token: pb.authStore.token, headers: { 'Content-Type': 'application/json' }, body,
      });
      assert.equal(r.status, 200, body);
      assert.equal(r.json.title, '');
    }
  });

  test('unsupported Content-Type -> 400', async () => {
    const r = await raw(`/api/collections/${all.name}/records`, {
      method: 'POST', token: pb.authStore.token, headers: { 'Content-Type': 'text/plain' }, body: '{"title":"x"}',
    });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { data: {}, message: 'Unsupported Content-Type.', status: 400 });
  });

  test('urlencoded form body is accepted', async () => {
    const r = await raw(`/api/collections/${all.name}/records`, {
      method: 'POST', token: pb.authStore.token,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'title=form&views=7&published=true',
    });
    assert.equal(r.status, 200);
    assert.deepEqual([r.json.title, r.json.views, r.json.published], ['form', 7, true]);
  });

  test('oversized body (> 32 MiB) -> 413', async () => {
    const b = await expectError(T.create({ name: 'x'.repeat(33 * 1024 * 1024) }), 413);
    assert.deepEqual(b, { data: {}, message: 'Request entity too large.', status: 413 });
  });
});

describe('list', () => {
  let col;
  let L;
  let recs;
  before(async () => {
    col = await cols.create({ name: uniqName('paging'), listRule: '', fields: [{ name: 'n', type: 'number' }] });
    L = pb.collection(col.name);
    recs = [];
    for (let i = 1; i <= 7; i++) recs.push(await L.create({ n: i }));
  });

  test('getList paging: page/perPage/totalItems/totalPages', async () => {
    const p1 = await L.getList(1, 3, { sort: 'n' });
    assert.deepEqual([p1.page, p1.perPage, p1.totalItems, p1.totalPages], [1, 3, 7, 3]);
    assert.deepEqual(p1.items.map((r) => r.n), [1, 2, 3]);
    const p3 = await L.getList(3, 3, { sort: 'n' });
    assert.deepEqual([p3.page, p3.perPage, p3.totalItems, p3.totalPages], [3, 3, 7, 3]);
    assert.deepEqual(p3.items.map((r) => r.n), [7]);
    const p9 = await L.getList(9, 3, { sort: 'n' });
    assert.deepEqual([p9.page, p9.perPage, p9.totalItems, p9.totalPages, p9.items], [9, 3, 7, 3, []]);
    assert.deepEqual(Object.keys(p1).sort(), ['items', 'page', 'perPage', 'totalItems', 'totalPages']);
  });

  test('defaults: page 1, perPage 30; <=0 values fall back to defaults', async () => {
    const d = await L.getList();
    assert.deepEqual([d.page, d.perPage, d.totalItems, d.totalPages], [1, 30, 7, 1]);
    const z = await L.getList(0, 0);
    assert.deepEqual([z.page, z.perPage], [1, 30]);
    const n = await L.getList(-1, -5);
    assert.deepEqual([n.page, n.perPage, n.items.length], [1, 30, 7]);
  });

  test('perPage > 1000 is clamped to 1000', async () => {
    const l = await L.getList(1, 5000);
    assert.equal(l.perPage, 1000);
    assert.equal(l.items.length, 7);
  });

  test('skipTotal -> totalItems/totalPages -1', async () => {
    const l = await L.getList(2, 2, { skipTotal: true, sort: 'n' });
    assert.deepEqual([l.page, l.perPage, l.totalItems, l.totalPages], [2, 2, -1, -1]);
    assert.deepEqual(l.items.map((r) => r.n), [3, 4]);
    const l0 = await L.getList(1, 2, { skipTotal: false });
    assert.equal(l0.totalItems, 7);
  });

  test('invalid page / perPage / skipTotal -> 400', async () => {
    for (const q of ['page=abc', 'perPage=1.5', 'skipTotal=yes']) {
      const r = await raw(`/api/collections/${col.name}/records?${q}`, { token: pb.authStore.token });
      assert.equal(r.status, 400, q);
      assert.deepEqual(r.json, { data: {}, message: 'Something went wrong while processing your request.', status: 400 });
    }
  });

  test('getFullList pages through everything (small batch)', async () => {
    const full = await L.getFullList({ batch: 2, sort: '-n' });
    assert.deepEqual(full.map((r) => r.n), [7, 6, 5, 4, 3, 2, 1]);
    const all1 = await L.getFullList();
    assert.deepEqual(ids(all1), ids(recs));
  });

  test('getFirstListItem: match and 404 when none', async () => {
    const r = await L.getFirstListItem('n >= 5', { sort: 'n' });
    assert.equal(r.n, 5);
    const b = await expectError(L.getFirstListItem('n > 100'), 404);
    assert.equal(b.message, "The requested resource wasn't found.");
  });

  test('default order (no sort) is insertion order', async () => {
    const l = await L.getList(1, 10);
    assert.deepEqual(l.items.map((r) => r.n), [1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('update / delete', () => {
  test('update changes values, keeps created, bumps updated', async () => {
    const r = await R.create({ title: 'before', views: 1, tags: ['a'] });
    await new Promise((res) => setTimeout(res, 5));
    const u = await R.update(r.id, { title: 'after', views: 2, created: '2000-01-01 00:00:00.000Z' });
    assert.equal(u.id, r.id);
    assert.equal(u.title, 'after');
    assert.equal(u.views, 2);
    assert.deepEqual(u.tags, ['a'], 'untouched fields keep their values');
    assert.equal(u.created, r.created);
    assert.ok(u.updated > r.updated, `${u.updated} > ${r.updated}`);
    assert.deepEqual(await R.getOne(r.id), u);
  });

  test('update: changing the id -> validation_pk_change; same id is fine', async () => {
    const r = await R.create({ title: 'pk' });
    const b = await expectError(R.update(r.id, { id: recordId('other') }), 400);
    assert.deepEqual(b, {
      data: { id: { code: 'validation_pk_change', message: 'The record primary key cannot be changed.' } },
      message: 'Failed to update record.', status: 400,
    });
    const u = await R.update(r.id, { id: r.id, title: 'pk2' });
    assert.equal(u.title, 'pk2');
  });

  test('update / delete unknown id -> 404', async () => {
    let b = await expectError(R.update('nosuchrecord123', { title: 'x' }), 404);
    assert.deepEqual(b, { data: {}, message: "The requested resource wasn't found.", status: 404 });
    b = await expectError(R.delete('nosuchrecord123'), 404);
    assert.deepEqual(b, { data: {}, message: "The requested resource wasn't found.", status: 404 });
  });

  test('delete -> 204 with empty body; SDK returns true', async () => {
    const r = await R.create({ title: 'del' });
    const res = await raw(`/api/collections/${all.name}/records/${r.id}`, { method: 'DELETE', token: pb.authStore.token });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    await expectError(R.getOne(r.id), 404);
    const r2 = await R.create({ title: 'del2' });
    assert.equal(await R.delete(r2.id), true);
    await expectError(R.getOne(r2.id), 404);
  });
});

describe('modifiers', () => {
  test('multi select: tags+ append, +tags prepend, tags- remove', async () => {
    const r = await R.create({ tags: ['b'] });
    let u = await R.update(r.id, { 'tags+': 'c' });
    assert.deepEqual(u.tags, ['b', 'c']);
    u = await R.update(r.id, { '+tags': 'a' });
    assert.deepEqual(u.tags, ['a', 'b', 'c']);
    u = await R.update(r.id, { 'tags-': 'b' });
    assert.deepEqual(u.tags, ['a', 'c']);
    u = await R.update(r.id, { 'tags+': 'a' }); // already present: no duplicate
    assert.deepEqual(u.tags, ['a', 'c']);
    u = await R.update(r.id, { 'tags-': ['a', 'zz'] }); // unknown values ignored on removal
    assert.deepEqual(u.tags, ['c']);
    u = await R.update(r.id, { 'tags+': ['a', 'd'] });
    assert.deepEqual(u.tags, ['c', 'a', 'd']);
    let b = await expectError(R.update(r.id, { 'tags+': 'b' }), 400);
    assertErrorBody(b, 400, 'Failed to update record.', { tags: 'validation_too_many_values' });
    assert.deepEqual(b.data.tags.params, { maxSelect: 3 });
    b = await expectError(R.update(r.id, { 'tags-': 'c', 'tags+': 'zz' }), 400);
    assertErrorBody(b, 400, 'Failed to update record.', { tags: 'validation_invalid_value' });
    // plain key first (shorter), then the modifier
    u = await R.update(r.id, { tags: ['a'], 'tags+': 'b' });
    assert.deepEqual(u.tags, ['a', 'b']);
    u = await R.update(r.id, { tags: ['a', 'b'], 'tags-': 'a' });
    assert.deepEqual(u.tags, ['b']);
  });

  test('single select modifiers replace / clear', async () => {
    const r = await R.create({});
    let u = await R.update(r.id, { 'status+': 'draft' });
    assert.equal(u.status, 'draft');
    u = await R.update(r.id, { 'status+': 'live' });
    assert.equal(u.status, 'live');
    u = await R.update(r.id, { 'status-': 'live' });
    assert.equal(u.status, '');
  });

  test('number+ / number-', async () => {
    const r = await R.create({ views: 10 });
    let u = await R.update(r.id, { 'views+': 5 });
    assert.equal(u.views, 15);
    u = await R.update(r.id, { 'views-': 2.5 });
    assert.equal(u.views, 12.5);
    u = await R.update(r.id, { 'views-': '3' });
    assert.equal(u.views, 9.5);
    u = await R.update(r.id, { views: 10, 'views+': 5, 'views-': 1 });
    assert.equal(u.views, 14);
  });

  test('relation rel+ / +rel / rel- (multiple and single)', async () => {
    const r = await R.create({ rels: [t1.id] });
    let u = await R.update(r.id, { 'rels+': t2.id });
    assert.deepEqual(u.rels, [t1.id, t2.id]);
    u = await R.update(r.id, { '+rels': [t3.id] });
    assert.deepEqual(u.rels, [t3.id, t1.id, t2.id]);
    u = await R.update(r.id, { 'rels-': [t1.id, t3.id] });
    assert.deepEqual(u.rels, [t2.id]);
    const b = await expectError(R.update(r.id, { 'rels+': 'aaaaaaaaaaaaaaa' }), 400);
    assertErrorBody(b, 400, 'Failed to update record.', { rels: 'validation_missing_rel_records' });
    u = await R.update(r.id, { 'rel+': t1.id });
    assert.equal(u.rel, t1.id);
    u = await R.update(r.id, { 'rel-': t1.id });
    assert.equal(u.rel, '');
  });

  test('modifiers also work on create', async () => {
    const r = await R.create({ 'tags+': 'a', 'views+': 3, 'rels+': t1.id, '+tags': 'b' });
    assert.deepEqual(r.tags, ['b', 'a']);
    assert.equal(r.views, 3);
    assert.deepEqual(r.rels, [t1.id]);
  });
});

describe('delete with relations', () => {
  let parent;
  let P;
  before(async () => {
    parent = await cols.create({ name: uniqName('parent'), fields: [{ name: 'name', type: 'text' }] });
    P = pb.collection(parent.name);
  });

  test('cascadeDelete removes referencing records (single and when a multiple relation becomes empty)', async () => {
    const casc = await cols.create({ name: uniqName('casc'), fields: [{ name: 'p', type: 'relation', collectionId: parent.id, maxSelect: 1, cascadeDelete: true }] });
    const cascm = await cols.create({ name: uniqName('cascm'), fields: [{ name: 'ps', type: 'relation', collectionId: parent.id, maxSelect: 5, cascadeDelete: true }] });
    const a = await P.create({ name: 'a' });
    const b = await P.create({ name: 'b' });
    const c1 = await pb.collection(casc.name).create({ p: a.id });
    const c2 = await pb.collection(casc.name).create({ p: b.id });
    const m1 = await pb.collection(cascm.name).create({ ps: [a.id, b.id] });
    const m2 = await pb.collection(cascm.name).create({ ps: [a.id] });
    await P.delete(a.id);
    assert.deepEqual(ids(await pb.collection(casc.name).getFullList()), [c2.id]);
    await expectError(pb.collection(casc.name).getOne(c1.id), 404);
    const rest = await pb.collection(cascm.name).getFullList();
    assert.deepEqual(rest.map((r) => [r.id, r.ps]), [[m1.id, [b.id]]]);
    await expectError(pb.collection(cascm.name).getOne(m2.id), 404);
  });

  test('required non-cascade relation blocks the delete with 400', async () => {
    const reqd = await cols.create({ name: uniqName('reqd'), fields: [{ name: 'p', type: 'relation', collectionId: parent.id, maxSelect: 1, required: true }] });
    const a = await P.create({ name: 'blocked' });
    const ref = await pb.collection(reqd.name).create({ p: a.id });
    const b = await expectError(P.delete(a.id), 400);
    assert.deepEqual(b, {
      data: {},
      message: 'Failed to delete record. Make sure that the record is not part of a required relation reference.',
      status: 400,
    });
    assert.equal((await P.getOne(a.id)).name, 'blocked');
    assert.equal((await pb.collection(reqd.name).getOne(ref.id)).p, a.id);
    await pb.collection(reqd.name).delete(ref.id);
    assert.equal(await P.delete(a.id), true);
  });

  test('required multiple relation: id removed while others remain; blocks when it would become empty', async () => {
    const reqm = await cols.create({ name: uniqName('reqm'), fields: [{ name: 'ps', type: 'relation', collectionId: parent.id, maxSelect: 5, required: true }] });
    const a = await P.create({ name: 'ra' });
    const b = await P.create({ name: 'rb' });
    const ref = await pb.collection(reqm.name).create({ ps: [a.id, b.id] });
    await P.delete(a.id);
    assert.deepEqual((await pb.collection(reqm.name).getOne(ref.id)).ps, [b.id]);
    const err = await expectError(P.delete(b.id), 400);
    assert.equal(err.message, 'Failed to delete record. Make sure that the record is not part of a required relation reference.');
  });

  test('non-required relations get the id removed (multiple) or cleared (single)', async () => {
    const multi = await cols.create({ name: uniqName('multi'), fields: [{ name: 'ps', type: 'relation', collectionId: parent.id, maxSelect: 5 }] });
    const single = await cols.create({ name: uniqName('single'), fields: [{ name: 'p', type: 'relation', collectionId: parent.id, maxSelect: 1 }] });
    const a = await P.create({ name: 'na' });
    const b = await P.create({ name: 'nb' });
    const m = await pb.collection(multi.name).create({ ps: [a.id, b.id] });
    const m0 = await pb.collection(multi.name).create({ ps: [a.id] });
    const s = await pb.collection(single.name).create({ p: a.id });
    await P.delete(a.id);
    assert.deepEqual((await pb.collection(multi.name).getOne(m.id)).ps, [b.id]);
    assert.deepEqual((await pb.collection(multi.name).getOne(m0.id)).ps, [], 'record kept with an empty relation');
    assert.equal((await pb.collection(single.name).getOne(s.id)).p, '');
  });
});

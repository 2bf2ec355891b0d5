// Collections API: create (every field type), view, list, update (add/rename/remove/options),
// indexes, rule validation, name uniqueness, delete, truncate, import, view collections, scaffolds.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import {
  DATETIME_RE, suClient, guestClient, expectError, assertErrorBody, dataCodes, raw,
  Collections, uniqName, field,
} from './helpers.js';

const colId = (type, name) => `pbc_${crc32(type + name)}`;
const fieldId = (type, name) => `${type}${crc32(name)}`;

const ID_FIELD = {
  autogeneratePattern: '[a-z0-9]{15}', help: '', hidden: false, id: 'text3208210256', max: 15, min: 15,
  name: 'id', pattern: '^[a-z0-9]+$', presentable: false, primaryKey: true, required: true, system: true, type: 'text',
};

let pb;
let cols;
before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
});
after(async () => {
  await cols?.cleanup();
});

describe('create with every field type', () => {
  let target;
  let col;
  let name;
  before(async () => {
    target = await cols.create({ name: uniqName('target'), type: 'base', fields: [{ name: 'name', type: 'text' }] });
    name = uniqName('everything');
    col = await cols.create({
      name,
      type: 'base',
      listRule: '',
      viewRule: '',
      createRule: '@request.auth.id != ""',
      updateRule: null,
      fields: [
        { name: 'title', type: 'text', required: true, min: 2, max: 20, pattern: '^[a-zA-Z0-9 ]+$', presentable: true },
        { name: 'body', type: 'editor', convertURLs: true },
        { name: 'views', type: 'number', min: 0, max: 1000, onlyInt: true },
        { name: 'score', type: 'number' },
        { name: 'published', type: 'bool' },
        { name: 'contact', type: 'email', onlyDomains: ['example.com'] },
        { name: 'site', type: 'url', exceptDomains: ['bad.test'] },
        { name: 'when', type: 'date', min: '2020-01-01 00:00:00.000Z' },
        { name: 'created', type: 'autodate', onCreate: true },
        { name: 'updated', type: 'autodate', onCreate: true, onUpdate: true },
        { name: 'status', type: 'select', values: ['draft', 'live'], maxSelect: 1 },
        { name: 'tags', type: 'select', values: ['a', 'b', 'c'], maxSelect: 2 },
        { name: 'doc', type: 'file', maxSelect: 1, maxSize: 1000, mimeTypes: ['text/plain'] },
        { name: 'images', type: 'file', maxSelect: 3, thumbs: ['100x100'], protected: true },
        { name: 'rel', type: 'relation', collectionId: target.id, maxSelect: 1 },
        { name: 'rels', type: 'relation', collectionId: target.id, maxSelect: 5, cascadeDelete: true },
        { name: 'meta', type: 'json', maxSize: 2000 },
        { name: 'secret', type: 'password', hidden: true },
        { name: 'loc', type: 'geoPoint', help: 'where' },
      ],
    });
  });

  test('collection JSON top level', () => {
    assert.equal(col.id, colId('base', name));
    assert.match(col.id, /^pbc_\d+$/);
    assert.equal(col.name, name);
    assert.equal(col.type, 'base');
    assert.equal(col.system, false);
    assert.equal(col.listRule, '');
    assert.equal(col.viewRule, '');
    assert.equal(col.createRule, '@request.auth.id != ""');
    assert.equal(col.updateRule, null);
    assert.equal(col.deleteRule, null, 'omitted rule defaults to null');
    assert.deepEqual(col.indexes, []);
    assert.match(col.created, DATETIME_RE);
    assert.match(col.updated, DATETIME_RE);
    assert.deepEqual(Object.keys(col).sort(), [
      'createRule', 'created', 'deleteRule', 'fields', 'id', 'indexes', 'listRule', 'name', 'system', 'type',
      'updateRule', 'updated', 'viewRule',
    ]);
  });

  test('system id field is prepended, field order kept, ids = type + crc32(name)', () => {
    assert.deepEqual(col.fields[0], ID_FIELD);
    assert.deepEqual(col.fields.map((f) => f.name), [
      'id', 'title', 'body', 'views', 'score', 'published', 'contact', 'site', 'when', 'created', 'updated',
      'status', 'tags', 'doc', 'images', 'rel', 'rels', 'meta', 'secret', 'loc',
    ]);
    for (const f of col.fields) {
      assert.equal(f.id, fieldId(f.type, f.name), f.name);
    }
  });

  test('field JSON with options and server-filled defaults', () => {
    const base = { help: '', hidden: false, presentable: false, required: false, system: false };
    const expect = {
      title: { ...base, id: 'text724990059', name: 'title', type: 'text', required: true, presentable: true, min: 2, max: 20, pattern: '^[a-zA-Z0-9 ]+$', autogeneratePattern: '', primaryKey: false },
      body: { ...base, id: fieldId('editor', 'body'), name: 'body', type: 'editor', convertURLs: true, maxSize: 0 },
      views: { ...base, id: fieldId('number', 'views'), name: 'views', type: 'number', min: 0, max: 1000, onlyInt: true },
      score: { ...base, id: fieldId('number', 'score'), name: 'score', type: 'number', min: null, max: null, onlyInt: false },
      published: { ...base, id: fieldId('bool', 'published'), name: 'published', type: 'bool' },
      contact: { ...base, id: fieldId('email', 'contact'), name: 'contact', type: 'email', onlyDomains: ['example.com'], exceptDomains: [] },
      site: { ...base, id: fieldId('url', 'site'), name: 'site', type: 'url', onlyDomains: [], exceptDomains: ['bad.test'] },
      when: { ...base, id: fieldId('date', 'when'), name: 'when', type: 'date', min: '2020-01-01 00:00:00.000Z', max: '' },
      created: { hidden: false, presentable: false, system: false, id: 'autodate2990389176', name: 'created', type: 'autodate', onCreate: true, onUpdate: false },
      updated: { hidden: false, presentable: false, system: false, id: 'autodate3332085495', name: 'updated', type: 'autodate', onCreate: true, onUpdate: true },
      status: { ...base, id: fieldId('select', 'status'), name: 'status', type: 'select', values: ['draft', 'live'], maxSelect: 1 },
      tags: { ...base, id: fieldId('select', 'tags'), name: 'tags', type: 'select', values: ['a', 'b', 'c'], maxSelect: 2 },
      doc: { ...base, id: fieldId('file', 'doc'), name: 'doc', type: 'file', maxSelect: 1, maxSize: 1000, mimeTypes: ['text/plain'], thumbs: [], protected: false },
      images: { ...base, id: fieldId('file', 'images'), name: 'images', type: 'file', maxSelect: 3, maxSize: 0, mimeTypes: [], thumbs: ['100x100'], protected: true },
      rel: { ...base, id: fieldId('relation', 'rel'), name: 'rel', type: 'relation', collectionId: target.id, cascadeDelete: false, minSelect: 0, maxSelect: 1 },
      rels: { ...base, id: fieldId('relation', 'rels'), name: 'rels', type: 'relation', collectionId: target.id, cascadeDelete: true, minSelect: 0, maxSelect: 5 },
      meta: { ...base, id: fieldId('json', 'meta'), name: 'meta', type: 'json', maxSize: 2000 },
      secret: { ...base, id: fieldId('password', 'secret'), name: 'secret', type: 'password', hidden: true, min: 0, max: 0, pattern: '', cost: 0 },
      loc: { ...base, id: fieldId('geoPoint', 'loc'), name: 'loc', type: 'geoPoint', help: 'where' },
    };
    for (const [n, want] of Object.entries(expect)) {
      assert.deepEqual(field(col, n), want, n);
    }
  });

  test('minimal field definitions get zero-valued options (maxSelect stays 0)', async () => {
    const c = await cols.create({
      name: uniqName('minimal'),
      fields: [
        { name: 's', type: 'select', values: ['x'] },
        { name: 'r', type: 'relation', collectionId: target.id },
        { name: 'f', type: 'file' },
      ],
    });
    assert.equal(c.type, 'base', 'type defaults to base');
    assert.equal(field(c, 's').maxSelect, 0);
    assert.equal(field(c, 'r').maxSelect, 0);
    assert.equal(field(c, 'r').minSelect, 0);
    assert.equal(field(c, 'f').maxSelect, 0);
    assert.equal(field(c, 'f').maxSize, 0);
    // no created/updated autodate fields are added implicitly through the API
    assert.deepEqual(c.fields.map((f) => f.name), ['id', 's', 'r', 'f']);
    // rules default to null (superusers only)
    for (const r of ['listRule', 'viewRule', 'createRule', 'updateRule', 'deleteRule']) assert.equal(c[r], null, r);
    // maxSelect 0 behaves as single
    const rec = await pb.collection(c.name).create({ s: 'x' });
    assert.equal(rec.s, 'x');
    assert.equal(rec.r, '');
    assert.equal(rec.f, '');
  });

  test('view by name and by id return the same model', async () => {
    const byName = await pb.collections.getOne(name);
    const byId = await pb.collections.getOne(col.id);
    assert.deepEqual(byName, col);
    assert.deepEqual(byId, col);
  });

  test('unknown collection -> 404', async () => {
    const body = await expectError(pb.collections.getOne(uniqName('missing')), 404);
    assertErrorBody(body, 404, "The requested resource wasn't found.", {});
  });

  test('getList with filter name ~ "..." and fields picker', async () => {
    const prefix = name.slice(0, -4);
    const list = await pb.collections.getList(1, 50, { filter: `name ~ "${prefix}"` });
    assert.equal(list.page, 1);
    assert.equal(list.perPage, 50);
    assert.equal(list.totalItems, 1);
    assert.equal(list.totalPages, 1);
    assert.equal(list.items[0].id, col.id);

    const full = await pb.collections.getFullList({ filter: `id = "${col.id}" || id = "${target.id}"`, sort: 'name', fields: 'id,name' });
    assert.deepEqual(full, [{ id: col.id, name }, { id: target.id, name: target.name }]
      .sort((a, b) => (a.name < b.name ? -1 : 1)));

    const first = await pb.collections.getFirstListItem(`name = "${name}"`);
    assert.equal(first.id, col.id);

    const sys = await pb.collections.getList(1, 1, { filter: 'name = "_superusers"' });
    assert.equal(sys.items[0].id, 'pbc_3142635823');
    assert.equal(sys.items[0].system, true);
    assert.equal(sys.items[0].type, 'auth');
  });

  test('invalid collections filter / sort -> 400', async () => {
    const b1 = await expectError(pb.collections.getList(1, 1, { filter: 'nosuchfield = 1' }), 400);
    assertErrorBody(b1, 400, 'Something went wrong while processing your request.', {});
    const b2 = await expectError(pb.collections.getList(1, 1, { sort: 'nosuchfield' }), 400);
    assertErrorBody(b2, 400, 'Something went wrong while processing your request.', {});
  });

  test('non-superusers cannot use the collections API (guest -> 401)', async () => {
    const g = guestClient();
    const b = await expectError(g.collections.getOne(col.id), 401);
    assertErrorBody(b, 401, 'The request requires valid record authorization token.', {});
    await expectError(g.collections.create({ name: uniqName('nope') }), 401);
    await expectError(g.collections.delete(col.id), 401);
  });
});

describe('create validation errors', () => {
  test('duplicate name (case-insensitive) -> validation_collection_name_exists', async () => {
    const c = await cols.create({ name: uniqName('dup'), fields: [] });
    for (const n of [c.name, c.name.toUpperCase()]) {
      const body = await expectError(pb.collections.create({ name: n, type: 'base' }), 400);
      assertErrorBody(body, 400, 'Failed to create collection.', { name: 'validation_collection_name_exists' });
      assert.equal(body.data.name.message, 'Collection name must be unique (case insensitive).');
    }
  });

  test('invalid rule -> validation_invalid_rule with the raw parser error', async () => {
    const body = await expectError(pb.collections.create({
      name: uniqName('badrule'), type: 'base', fields: [{ name: 'title', type: 'text' }],
      listRule: 'title === 1', viewRule: 'nosuch = 1',
    }), 400);
    assertErrorBody(body, 400, 'Failed to create collection.', {
      listRule: 'validation_invalid_rule', viewRule: 'validation_invalid_rule',
    });
    assert.equal(body.data.listRule.message, 'Invalid rule. Raw error: invalid sign operator "===".');
    assert.equal(body.data.viewRule.message,
      'Invalid rule. Raw error: invalid left operand "nosuch" - unknown field "nosuch".');
  });

  test('invalid names', async () => {
    let body = await expectError(pb.collections.create({ name: 'bad name!', type: 'base' }), 400);
    assertErrorBody(body, 400, 'Failed to create collection.', { name: 'validation_match_invalid' });
    body = await expectError(pb.collections.create({ name: 'a_via_b', type: 'base' }), 400);
    assertErrorBody(body, 400, 'Failed to create collection.', { name: 'validation_found_via' });
    body = await expectError(pb.collections.create({ type: 'base' }), 400);
    assertErrorBody(body, 400, 'Failed to create collection.', { name: 'validation_required' });
  });

  test('field errors are keyed by field index', async () => {
    let body = await expectError(pb.collections.create({
      name: uniqName('badfields'), fields: [{ name: 'ok', type: 'text' }, { name: 'expand', type: 'text' }],
    }), 400);
    assertErrorBody(body, 400, 'Failed to create collection.');
    // index 0 is the implicit `id` field
    assert.deepEqual(Object.keys(body.data.fields), ['2']);
    assert.equal(body.data.fields['2'].name.code, 'validation_not_in_invalid');

    body = await expectError(pb.collections.create({
      name: uniqName('dupfields'), fields: [{ name: 'ok', type: 'text' }, { name: 'OK', type: 'text' }],
    }), 400);
    assert.equal(body.data.fields['2'].name.code, 'validation_duplicated_field_name');

    body = await expectError(pb.collections.create({
      name: uniqName('novalues'), fields: [{ name: 's', type: 'select' }],
    }), 400);
    assert.equal(body.data.fields['1'].values.code, 'validation_required');

    body = await expectError(pb.collections.create({
      name: uniqName('relname'), fields: [{ name: 'r', type: 'relation', collectionId: uniqName('nope') }],
    }), 400);
    assert.equal(body.data.fields['1'].collectionId.code, 'validation_field_relation_missing_collection');
  });

  test('unknown field type -> 400 with empty data', async () => {
    const body = await expectError(pb.collections.create({
      name: uniqName('badtype'), fields: [{ name: 'x', type: 'weird' }],
    }), 400);
    assert.deepEqual(body, { data: {}, message: 'Failed to load the submitted data due to invalid formatting.', status: 400 });
  });

  test('invalid index expression -> validation_invalid_index_expression', async () => {
    const body = await expectError(pb.collections.create({
      name: uniqName('badidx'), fields: [{ name: 'a', type: 'text' }], indexes: ['CREATE INDEX oops ON whatever (nosuch)'],
    }), 400);
    assertErrorBody(body, 400, 'Failed to create collection.');
    assert.equal(body.data.indexes['0'].code, 'validation_invalid_index_expression');
  });
});

describe('update', () => {
  test('add, rename, remove fields and change options; data survives a rename', async () => {
    const c = await cols.create({
      name: uniqName('upd'), type: 'base', fields: [
        { name: 'keep', type: 'text', max: 10 },
        { name: 'oldname', type: 'number' },
        { name: 'gone', type: 'text' },
      ],
    });
    const R = pb.collection(c.name);
    const rec = await R.create({ keep: 'kept', oldname: 42, gone: 'bye' });

    const fields = c.fields.filter((f) => f.name !== 'gone').map((f) => ({ ...f }));
    fields.find((f) => f.name === 'oldname').name = 'newname'; // same id => rename
    fields.find((f) => f.name === 'keep').max = 3; // option change
    fields.push({ name: 'added', type: 'bool' });
    const u = await pb.collections.update(c.id, { fields, listRule: 'keep != ""' });

    assert.equal(u.id, c.id);
    assert.equal(u.listRule, 'keep != ""');
    assert.deepEqual(u.fields.map((f) => f.name), ['id', 'keep', 'newname', 'added']);
    assert.equal(field(u, 'newname').id, fieldId('number', 'oldname'), 'renamed field keeps its id');
    assert.equal(field(u, 'added').id, fieldId('bool', 'added'));
    assert.equal(field(u, 'keep').max, 3);
    assert.ok(u.updated >= c.updated);

    const after = await R.getOne(rec.id);
    assert.equal(after.newname, 42, 'value moved to the renamed column');
    assert.equal('oldname' in after, false);
    assert.equal('gone' in after, false);
    assert.equal(after.added, false);
    assert.equal(after.keep, 'kept', 'existing data is not re-validated against new options');

    // new option is enforced for new writes
    const body = await expectError(R.update(rec.id, { keep: 'toolong' }), 400);
    assert.equal(body.data.keep.code, 'validation_max_text_constraint');
  });

  test('fields sent without ids are matched by name; system id field is kept even if omitted', async () => {
    const c = await cols.create({ name: uniqName('byname'), fields: [{ name: 'a', type: 'text' }, { name: 'b', type: 'text' }] });
    const rec = await pb.collection(c.name).create({ a: 'A', b: 'B' });
    const u = await pb.collections.update(c.id, { fields: [{ name: 'b', type: 'text', max: 5 }] });
    assert.deepEqual(u.fields.map((f) => [f.name, f.id]), [['id', 'text3208210256'], ['b', fieldId('text', 'b')]]);
    const got = await pb.collection(c.name).getOne(rec.id);
    assert.equal(got.b, 'B');
    assert.equal('a' in got, false);
  });

  test('changing a field type (same id) -> validation_field_type_change', async () => {
    const c = await cols.create({ name: uniqName('typechg'), fields: [{ name: 'n', type: 'number' }] });
    const fields = c.fields.map((f) => (f.name === 'n' ? { ...f, type: 'text' } : f));
    const body = await expectError(pb.collections.update(c.id, { fields }), 400);
    assertErrorBody(body, 400, 'Failed to update collection.');
    assert.equal(body.data.fields['1'].code, 'validation_field_type_change');
  });

  test('type change / invalid rule / duplicate name on update', async () => {
    const c = await cols.create({ name: uniqName('updbad'), fields: [{ name: 't', type: 'text' }] });
    const other = await cols.create({ name: uniqName('other'), fields: [] });
    let body = await expectError(pb.collections.update(c.id, { listRule: 't ~~ 1' }), 400);
    assertErrorBody(body, 400, 'Failed to update collection.', { listRule: 'validation_invalid_rule' });
    body = await expectError(pb.collections.update(c.id, { name: other.name.toUpperCase() }), 400);
    assertErrorBody(body, 400, 'Failed to update collection.', { name: 'validation_collection_name_exists' });
    body = await expectError(pb.collections.update(c.id, { type: 'auth' }), 400);
    assert.equal(body.data.type.code, 'validation_collection_type_change');
    // nothing changed
    const again = await pb.collections.getOne(c.id);
    assert.equal(again.listRule, null);
    assert.equal(again.name, c.name);
  });

  test('rename the collection: reachable by the new name and the (unchanged) id only', async () => {
    const c = await cols.create({ name: uniqName('ren'), listRule: '', fields: [{ name: 't', type: 'text' }] });
    await pb.collection(c.name).create({ t: 'x' });
    const newName = uniqName('renamed');
    const u = await pb.collections.update(c.id, { name: newName });
    assert.equal(u.id, c.id);
    assert.equal(u.name, newName);
    await expectError(pb.collections.getOne(c.name), 404);
    const list = await pb.collection(newName).getList();
    assert.equal(list.totalItems, 1);
    assert.equal(list.items[0].collectionName, newName);
    assert.equal(list.items[0].collectionId, c.id);
    const b = await expectError(pb.collection(c.name).getList(), 404);
    assertErrorBody(b, 404, 'Missing collection context.', {});
  });
});

describe('indexes', () => {
  test('unique index is stored verbatim and enforced on create and update', async () => {
    const name = uniqName('uniq');
    const idx = `CREATE UNIQUE INDEX idx_${name}_code ON ${name} (code)`;
    const c = await cols.create({ name, fields: [{ name: 'code', type: 'text' }, { name: 'n', type: 'number' }], indexes: [idx] });
    assert.deepEqual(c.indexes, [idx]);
    const R = pb.collection(name);
    const r1 = await R.create({ code: 'A1' });
    const body = await expectError(R.create({ code: 'A1' }), 400);
    assert.deepEqual(body, {
      data: { code: { code: 'validation_not_unique', message: 'Value must be unique.' } },
      message: 'Failed to create record.', status: 400,
    });
    const r2 = await R.create({ code: 'B2' });
    const body2 = await expectError(R.update(r2.id, { code: 'A1' }), 400);
    assertErrorBody(body2, 400, 'Failed to update record.', { code: 'validation_not_unique' });
    // updating the same record with its own value is fine
    await R.update(r1.id, { code: 'A1', n: 1 });
    assert.equal((await R.getFullList()).length, 2);
  });

  test('adding an index through update', async () => {
    const name = uniqName('idx');
    const c = await cols.create({ name, fields: [{ name: 'email', type: 'email' }] });
    const idx = `CREATE INDEX idx_${name}_email ON ${name} (email)`;
    const u = await pb.collections.update(c.id, { indexes: [idx] });
    assert.deepEqual(u.indexes, [idx]);
  });

  test('duplicate record id -> validation_not_unique on id', async () => {
    const c = await cols.create({ name: uniqName('dupid'), fields: [{ name: 't', type: 'text' }] });
    const R = pb.collection(c.name);
    const r = await R.create({ t: 'x' });
    const body = await expectError(R.create({ id: r.id, t: 'y' }), 400);
    assertErrorBody(body, 400, 'Failed to create record.', { id: 'validation_not_unique' });
  });
});

describe('delete and truncate', () => {
  test('delete -> 204 (SDK returns true), then 404', async () => {
    const c = await pb.collections.create({ name: uniqName('del'), fields: [] });
    const r = await raw(`/api/collections/${c.id}`, { method: 'DELETE', token: pb.authStore.token });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    await expectError(pb.collections.getOne(c.id), 404);
    const c2 = await pb.collections.create({ name: uniqName('del'), fields: [] });
    assert.equal(await pb.collections.delete(c2.name), true);
    const body = await expectError(pb.collections.delete(c2.name), 404);
    assertErrorBody(body, 404, "The requested resource wasn't found.", {});
  });

  test('a referenced collection cannot be deleted; system collections cannot be deleted', async () => {
    const target = await cols.create({ name: uniqName('reftarget'), fields: [] });
    const src = await cols.create({ name: uniqName('refsrc'), fields: [{ name: 'r', type: 'relation', collectionId: target.id }] });
    const body = await expectError(pb.collections.delete(target.id), 400);
    assert.deepEqual(body, {
      data: {},
      message: `Failed to delete collection probably due to existing reference in ${src.name}.`,
      status: 400,
    });
    const sys = await expectError(pb.collections.delete('_superusers'), 400);
    assert.deepEqual(sys, { data: {}, message: 'Failed to delete collection.', status: 400 });
  });

  test('truncate removes all records (204) and keeps the collection', async () => {
    const c = await cols.create({ name: uniqName('trunc'), fields: [{ name: 't', type: 'text' }] });
    const R = pb.collection(c.name);
    for (const t of ['a', 'b', 'c']) await R.create({ t });
    assert.equal((await R.getList(1, 1)).totalItems, 3);
    const r = await raw(`/api/collections/${c.name}/truncate`, { method: 'DELETE', token: pb.authStore.token });
    assert.equal(r.status, 204);
    assert.equal((await R.getList(1, 1)).totalItems, 0);
    await R.create({ t: 'd' });
    assert.equal(await pb.collections.truncate(c.id), true);
    const list = await R.getList();
    assert.deepEqual([list.totalItems, list.totalPages, list.items], [0, 0, []]);
    assert.equal((await pb.collections.getOne(c.id)).name, c.name);
  });
});

describe('import', () => {
  test('import with deleteMissing=false creates and updates (matched by name), keeps others', async () => {
    const keep = await cols.create({ name: uniqName('keep'), fields: [] });
    const n1 = uniqName('imp');
    const n2 = uniqName('imp');
    cols.track(n2);
    cols.track(n1);
    const ok = await pb.collections.import([
      { name: n1, type: 'base', fields: [{ name: 't', type: 'text' }] },
      { name: n2, type: 'base', listRule: '', fields: [{ name: 'n', type: 'number' }] },
    ], false);
    assert.equal(ok, true);
    const c1 = await pb.collections.getOne(n1);
    const c2 = await pb.collections.getOne(n2);
    assert.equal(c1.id, colId('base', n1));
    assert.equal(c1.listRule, null);
    assert.equal(c2.listRule, '');
    assert.ok(c1.fields.some((f) => f.name === 'id' && f.system && f.primaryKey), 'id field added');
    assert.deepEqual(c1.fields.filter((f) => !f.system).map((f) => f.name), ['t']);

    // re-import n1 (by name, no id) with an extra field: updated in place
    await pb.collections.import([{ name: n1, type: 'base', fields: [{ name: 't', type: 'text' }, { name: 'u', type: 'bool' }] }], false);
    const c1b = await pb.collections.getOne(n1);
    assert.equal(c1b.id, c1.id);
    assert.deepEqual(c1b.fields.filter((f) => !f.system).map((f) => f.name), ['t', 'u']);

    // untouched collections survive
    assert.equal((await pb.collections.getOne(keep.id)).name, keep.name);
    assert.equal((await pb.collections.getOne(n2)).id, c2.id);
  });

  test('import failure -> 400 validation_collections_import_failure, nothing created', async () => {
    const bad = uniqName('impbad');
    const good = uniqName('impgood');
    const body = await expectError(pb.collections.import([
      { name: good, type: 'base', fields: [] },
      { name: bad, type: 'base', listRule: 'nope = 1' },
    ], false), 400);
    assertErrorBody(body, 400, 'Failed to import collections.', { collections: 'validation_collections_import_failure' });
    assert.match(body.data.collections.message, new RegExp(`^Data validations failed for collection "${bad}" \\(pbc_\\d+\\):`));
    await expectError(pb.collections.getOne(good), 404);
    await expectError(pb.collections.getOne(bad), 404);
  });

  test('import with an empty list -> 400 validation_required', async () => {
    const body = await expectError(pb.collections.import([], false), 400);
    assertErrorBody(body, 400, 'An error occurred while validating the submitted data.', { collections: 'validation_required' });
  });
});

describe('view collections', () => {
  let src;
  let view;
  before(async () => {
    src = await cols.create({
      name: uniqName('vsrc'), fields: [
        { name: 'title', type: 'text', max: 50 },
        { name: 'views', type: 'number', onlyInt: true },
        { name: 'published', type: 'bool' },
      ],
    });
    const R = pb.collection(src.name);
    await R.create({ title: 'zero', views: 0 });
    await R.create({ title: 'one', views: 1, published: true });
    await R.create({ title: 'two', views: 2 });
    view = await cols.create({
      name: uniqName('vview'), type: 'view', listRule: '', viewRule: '',
      viewQuery: `SELECT id, title, views, (views * 2) AS dbl, published FROM ${src.name} WHERE views > 0`,
    });
  });

  test('view collection JSON: inferred fields, forced-null write rules', () => {
    assert.equal(view.type, 'view');
    assert.equal(view.id, colId('view', view.name));
    assert.match(view.viewQuery, /^SELECT id, title/);
    assert.equal(view.createRule, null);
    assert.equal(view.updateRule, null);
    assert.equal(view.deleteRule, null);
    assert.deepEqual(view.fields.map((f) => [f.name, f.type]),
      [['id', 'text'], ['title', 'text'], ['views', 'number'], ['dbl', 'json'], ['published', 'bool']]);
    const id = field(view, 'id');
    assert.equal(id.primaryKey, true);
    assert.equal(id.min, 0);
    assert.equal(id.max, 0);
    assert.equal(id.autogeneratePattern, '');
    // copied source options; cloned fields get `_clone_` ids
    assert.equal(field(view, 'title').max, 50);
    assert.match(field(view, 'title').id, /^_clone_/);
    assert.equal(field(view, 'views').onlyInt, true);
  });

  test('view records are readable, filterable and sortable', async () => {
    const V = pb.collection(view.name);
    const list = await V.getList(1, 10, { sort: '-views' });
    assert.equal(list.totalItems, 2);
    assert.deepEqual(list.items.map((r) => [r.title, r.views, r.dbl, r.published]), [['two', 2, 4, false], ['one', 1, 2, true]]);
    assert.equal(list.items[0].collectionName, view.name);
    assert.equal(list.items[0].collectionId, view.id);
    const one = await V.getOne(list.items[1].id);
    assert.equal(one.title, 'one');
    const f = await V.getFullList({ filter: 'dbl >= 4' });
    assert.deepEqual(f.map((r) => r.title), ['two']);
  });

  test('view records are read-only: create/update/delete -> 400 "Unsupported collection type."', async () => {
    const V = pb.collection(view.name);
    const any = (await V.getList(1, 1)).items[0];
    for (const call of [() => V.create({ title: 'x' }), () => V.update(any.id, { title: 'x' }), () => V.delete(any.id)]) {
      const b = await expectError(call(), 400);
      assert.deepEqual(b, { data: {}, message: 'Unsupported collection type.', status: 400 });
    }
    const t = await expectError(pb.collections.truncate(view.id), 400);
    assert.deepEqual(t, { data: {}, message: "View collections cannot be truncated since they don't store their own records.", status: 400 });
  });

  test('invalid view queries', async () => {
    let body = await expectError(pb.collections.create({
      name: uniqName('vbad'), type: 'view', viewQuery: `SELECT title FROM ${src.name}`,
    }), 400);
    assertErrorBody(body, 400, 'Failed to create collection.');
    assert.equal(body.data.viewQuery.code, 'validation_invalid_view_query');
    body = await expectError(pb.collections.create({
      name: uniqName('vbad'), type: 'view', viewQuery: `DELETE FROM ${src.name}`,
    }), 400);
    assert.equal(body.data.viewQuery.code, 'validation_invalid_view_query');
    assert.equal((await pb.collection(src.name).getList()).totalItems, 3, 'source untouched');
  });
});

test('getScaffolds shape', async () => {
  const s = await pb.collections.getScaffolds();
  assert.deepEqual(Object.keys(s).sort(), ['auth', 'base', 'view']);
  for (const [type, sc] of Object.entries(s)) {
    assert.equal(sc.type, type);
    assert.equal(sc.id, '');
    assert.equal(sc.name, '');
    assert.equal(sc.system, false);
    assert.ok(Array.isArray(sc.indexes));
    assert.ok(Array.isArray(sc.fields));
    for (const r of ['listRule', 'viewRule', 'createRule', 'updateRule', 'deleteRule']) assert.equal(sc[r], null);
  }
  assert.deepEqual(s.base.fields, [ID_FIELD]);
  assert.deepEqual(s.view.fields, []);
  assert.equal(s.view.viewQuery, '');
  assert.deepEqual(s.auth.fields.map((f) => f.name), ['id', 'password', 'tokenKey', 'email', 'emailVisibility', 'verified']);
  assert.deepEqual(s.auth.fields.map((f) => f.id),
    ['text3208210256', 'password901924565', 'text2504183744', 'email3885137012', 'bool1547992806', 'bool256245529']);
  assert.equal(s.auth.authRule, '');
  assert.equal(s.auth.manageRule, null);
  assert.deepEqual(s.auth.passwordAuth, { enabled: true, identityFields: ['email'] });
  assert.deepEqual(s.auth.authToken, { duration: 432000 });
  assert.equal(s.auth.indexes.length, 2);
  assert.match(s.auth.indexes[0], /^CREATE UNIQUE INDEX `idx_tokenKey_\w+` ON `` \(`tokenKey`\)$/);
  assert.match(s.auth.indexes[1], /^CREATE UNIQUE INDEX `idx_email_\w+` ON `` \(`email`\) WHERE `email` != ''$/);
});

test('a collection created from the auth scaffold gets its name in the scaffold indexes', async () => {
  const { auth } = await pb.collections.getScaffolds();
  const name = uniqName('scaffolded');
  const { id, ...def } = auth;
  const col = await cols.create({ ...def, name });
  assert.equal(col.indexes.length, 2);
  assert.match(col.indexes[0], new RegExp(`^CREATE UNIQUE INDEX \`idx_tokenKey_\\w+\` ON \`${name}\` \\(\`tokenKey\`\\)$`));
  assert.match(col.indexes[1], new RegExp(`^CREATE UNIQUE INDEX \`idx_email_\\w+\` ON \`${name}\` \\(\`email\`\\) WHERE \`email\` != ''$`));
  const user = { email: 'one@example.com', password: '1234567890', passwordConfirm: '1234567890' };
  await pb.collection(name).create(user);
  const body = await expectError(pb.collection(name).create(user), 400);
  assert.deepEqual(dataCodes(body.data), { email: 'validation_not_unique' });
});

test('collection error responses use the standard envelope', async () => {
  const body = await expectError(pb.collections.create({ name: 'bad name' }), 400);
  assert.deepEqual(Object.keys(body).sort(), ['data', 'message', 'status']);
  assert.deepEqual(dataCodes(body.data), { name: 'validation_match_invalid' });
  assert.equal(body.data.name.message, 'Must be in a valid format.');
});

describe('view query dry run', () => {
  test('dryRunViewQuery gives the fields and a sample, and keeps nothing', async () => {
    const pb = await suClient();
    const res = await pb.collections.dryRunViewQuery('SELECT id, email, verified FROM users');
    assert.deepEqual(res.fields.map((f) => [f.name, f.type]), [['id', 'text'], ['email', 'email'], ['verified', 'bool']]);
    assert.ok(Array.isArray(res.sample) && res.sample.length <= 10);
    for (const item of res.sample) assert.match(item.collectionName, /^temp_view_/);
    const names = (await pb.collections.getFullList()).map((c) => c.name);
    assert.equal(names.some((n) => n.startsWith('temp_view_')), false);

    await expectError(pb.collections.dryRunViewQuery('SELECT 1 AS one'), 400,
      'Invalid view query. Raw error: \nmissing required id column (you can use `(ROW_NUMBER() OVER()) as id` if you don\'t have one).');
    const blank = await expectError(pb.collections.dryRunViewQuery(''), 400);
    assert.equal(blank.data.query.code, 'validation_required');
    await expectError(guestClient().collections.dryRunViewQuery('SELECT id FROM users'), 401);
  });
});

describe('view field inference', () => {
  test('fields selected from a collection keep their type and flags (autodate, password, system)', async () => {
    const pb = await suClient();
    const name = uniqName('vusers');
    const view = await pb.collections.create({
      name, type: 'view', listRule: '', viewRule: '',
      viewQuery: 'SELECT id, email, name, created, updated, password FROM users',
    });
    try {
      assert.deepEqual(view.fields.map((f) => [f.name, f.type, f.system]), [
        ['id', 'text', true], ['email', 'email', true], ['name', 'text', false],
        ['created', 'autodate', false], ['updated', 'autodate', false], ['password', 'password', true],
      ]);
      assert.equal(field(view, 'created').onCreate, true);
      assert.equal(field(view, 'updated').onUpdate, true);
      assert.equal(field(view, 'password').hidden, true);
      const user = await pb.collection('users').create({ email: `${name}@example.com`, password: 'password123', passwordConfirm: 'password123', name: 'Viewed' });
      const record = await pb.collection(name).getOne(user.id);
      assert.match(record.created, DATETIME_RE);
      // The hash never shows: empty for superusers, left out (hidden) for everyone else.
      assert.equal(record.password, '');
      const seen = await guestClient().collection(name).getOne(user.id);
      assert.equal('password' in seen, false);
      assert.equal(seen.name, 'Viewed');
      await pb.collection('users').delete(user.id);
    } finally {
      await pb.collections.delete(view.id);
    }
  });
});

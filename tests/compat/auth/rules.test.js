// API rules per operation with non-superuser tokens (records of the default `users` collection,
// plus a custom auth collection for @request.auth.<relation>.<field>): outcomes (filtered 200,
// 404, 400, 403), @request.* / @collection.* / back-relation expressions, expand visibility and
// the @request./@collection. filter ban.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  guestClient, suClient, expectError, uniqName, Collections, createAuthRecord, authClient, ids,
} from '../test/helpers.js';

let pb;
let cols;
let alice; let bob; let cid; // users records
let A; let B; let C; // their clients

const NOT_FOUND = { data: {}, message: "The requested resource wasn't found.", status: 404 };
const CREATE_FAILED = { data: {}, message: 'Failed to create record.', status: 400 };
const SU_ONLY = { data: {}, message: 'Only superusers can perform this action.', status: 403 };

before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
  alice = await createAuthRecord(pb, 'users', { prefix: 'alice', name: 'alice' });
  bob = await createAuthRecord(pb, 'users', { prefix: 'bob', name: 'bob' });
  cid = await createAuthRecord(pb, 'users', { prefix: 'cid', name: 'cid' });
  A = await authClient('users', alice.email);
  B = await authClient('users', bob.email);
  C = await authClient('users', cid.email);
});
after(async () => {
  await cols.cleanup();
  for (const u of [alice, bob, cid]) {
    if (u) await pb.collection('users').delete(u.id).catch(() => {});
  }
});

/** notes(title, status, owner -> users) with the given rules; 2 notes of alice, 1 of bob. */
async function notesFixture(rules) {
  const c = await cols.create({
    name: uniqName('notes'),
    type: 'base',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'status', type: 'text' },
      { name: 'owner', type: 'relation', collectionId: '_pb_users_auth_', maxSelect: 1 },
    ],
    ...rules,
  });
  const N = pb.collection(c.name);
  const a1 = await N.create({ title: 'a1', owner: alice.id });
  const a2 = await N.create({ title: 'a2', owner: alice.id });
  const b1 = await N.create({ title: 'b1', owner: bob.id });
  return { c, name: c.name, a1, a2, b1 };
}

const titles = async (client, name, opts = {}) =>
  (await client.collection(name).getFullList({ sort: 'title', ...opts })).map((r) => r.title);

describe('rule outcomes per operation', () => {
  test('owner = @request.auth.id: list filtered, view/update/delete 404, create 400', async () => {
    const rule = 'owner = @request.auth.id';
    const { name, a1, b1 } = await notesFixture({ listRule: rule, viewRule: rule, createRule: rule, updateRule: rule, deleteRule: rule });
    const As = A.collection(name);
    // list: 200 with the other rows filtered out (totals too)
    const list = await As.getList(1, 30);
    assert.equal(list.totalItems, 2);
    assert.deepEqual(list.items.map((r) => r.title).sort(), ['a1', 'a2']);
    assert.equal((await As.getList(1, 30, { filter: 'title = "b1"' })).totalItems, 0);
    assert.equal((await guestClient().collection(name).getList()).totalItems, 0);
    assert.deepEqual(await titles(B, name), ['b1']);
    // view / update / delete of a foreign (or missing) record -> 404
    assert.deepEqual(await expectError(As.getOne(b1.id), 404), NOT_FOUND);
    assert.deepEqual(await expectError(As.update(b1.id, { title: 'hack' }), 404), NOT_FOUND);
    assert.deepEqual(await expectError(As.delete(b1.id), 404), NOT_FOUND);
    assert.deepEqual(await expectError(As.update('nosuchid1234567', { title: 'x' }), 404), NOT_FOUND);
    assert.deepEqual(await expectError(guestClient().collection(name).getOne(a1.id), 404), NOT_FOUND);
    // create that doesn't satisfy the rule -> 400 with empty data
    assert.deepEqual(await expectError(As.create({ title: 'x', owner: bob.id }), 400), CREATE_FAILED);
    assert.deepEqual(await expectError(guestClient().collection(name).create({ title: 'x', owner: alice.id }), 400), CREATE_FAILED);
    // own records work
    assert.equal((await As.getOne(a1.id)).title, 'a1');
    assert.equal((await As.create({ title: 'a3', owner: alice.id })).title, 'a3');
    assert.equal((await As.update(a1.id, { title: 'a1b' })).title, 'a1b');
    assert.equal(await As.delete(a1.id), true);
    assert.equal((await pb.collection(name).getOne(b1.id)).title, 'b1', 'foreign record untouched');
  });

  test('null rules -> 403 "Only superusers can perform this action." for users and guests', async () => {
    const { name, a1 } = await notesFixture({});
    for (const client of [A, guestClient()]) {
      const N = client.collection(name);
      assert.deepEqual(await expectError(N.getList(), 403), SU_ONLY);
      assert.deepEqual(await expectError(N.getOne(a1.id), 403), SU_ONLY);
      assert.deepEqual(await expectError(N.getOne('nosuchid1234567'), 403), SU_ONLY, 'checked before the lookup');
      assert.deepEqual(await expectError(N.create({ title: 'x', owner: alice.id }), 403), SU_ONLY);
      assert.deepEqual(await expectError(N.update(a1.id, { title: 'x' }), 403), SU_ONLY);
      assert.deepEqual(await expectError(N.delete(a1.id), 403), SU_ONLY);
    }
    assert.equal((await pb.collection(name).getList()).totalItems, 3, 'superusers ignore rules');
  });

  test('empty rules: everyone (guests included)', async () => {
    const { name, b1 } = await notesFixture({ listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '' });
    const g = guestClient().collection(name);
    assert.equal((await g.getList()).totalItems, 3);
    assert.equal((await g.getOne(b1.id)).title, 'b1');
    assert.equal((await g.create({ title: 'g' })).title, 'g');
    assert.equal((await A.collection(name).update(b1.id, { title: 'b1x' })).title, 'b1x');
    assert.equal(await g.delete(b1.id), true);
  });

  test('the update rule is checked against the stored record: the owner can hand a record away', async () => {
    const rule = 'owner = @request.auth.id';
    const { name, a1 } = await notesFixture({ listRule: rule, viewRule: rule, updateRule: rule });
    const upd = await A.collection(name).update(a1.id, { owner: bob.id });
    assert.equal(upd.owner, bob.id, 'the response still shows the record');
    assert.deepEqual(await expectError(A.collection(name).getOne(a1.id), 404), NOT_FOUND);
    assert.equal((await B.collection(name).getOne(a1.id)).title, 'a1');
  });
});

describe('@request.* in rules', () => {
  test('@request.auth.id / @request.auth.<field> / @request.auth.collectionName', async () => {
    const { name, a1 } = await notesFixture({
      listRule: '@request.auth.name = "alice"',
      viewRule: '@request.auth.collectionName = "users"',
      deleteRule: '@request.auth.id = ""',
    });
    assert.equal((await A.collection(name).getList()).totalItems, 3);
    assert.equal((await B.collection(name).getList()).totalItems, 0);
    assert.equal((await guestClient().collection(name).getList()).totalItems, 0);
    assert.equal((await B.collection(name).getOne(a1.id)).title, 'a1');
    assert.deepEqual(await expectError(guestClient().collection(name).getOne(a1.id), 404), NOT_FOUND);
    // guests have @request.auth.id = ""
    assert.deepEqual(await expectError(A.collection(name).delete(a1.id), 404), NOT_FOUND);
    assert.equal(await guestClient().collection(name).delete(a1.id), true);
  });

  test('@request.auth.<relation>.<field>', async () => {
    const teams = await cols.create({
      name: uniqName('teams'), type: 'base', listRule: '', viewRule: '', fields: [{ name: 'name', type: 'text' }],
    });
    const red = await pb.collection(teams.name).create({ name: 'red' });
    const blue = await pb.collection(teams.name).create({ name: 'blue' });
    const people = await cols.create({
      name: uniqName('people'), type: 'auth', listRule: '', viewRule: '',
      fields: [{ name: 'name', type: 'text' }, { name: 'team', type: 'relation', collectionId: teams.id, maxSelect: 1 }],
    });
    const r = await createAuthRecord(pb, people.name, { team: red.id });
    const b = await createAuthRecord(pb, people.name, { team: blue.id });
    const n = await createAuthRecord(pb, people.name, { team: '' });
    const docs = await cols.create({
      name: uniqName('docs'), type: 'base', listRule: '@request.auth.team.name = "red"', fields: [{ name: 'title', type: 'text' }],
    });
    await pb.collection(docs.name).create({ title: 'd1' });
    await pb.collection(docs.name).create({ title: 'd2' });
    const count = async (u) => (await (await authClient(people.name, u.email)).collection(docs.name).getList()).totalItems;
    assert.equal(await count(r), 2);
    assert.equal(await count(b), 0);
    assert.equal(await count(n), 0);
    // a users token doesn't have that relation: no match, no error
    assert.equal((await A.collection(docs.name).getList()).totalItems, 0);
  });

  test('@request.body.x (create), :isset and :changed (update)', async () => {
    const { c, name, a1 } = await notesFixture({
      listRule: '', viewRule: '',
      createRule: '@request.body.status = "draft"',
      updateRule: '@request.body.owner:isset = false && @request.auth.id != ""',
    });
    const g = guestClient().collection(name);
    assert.equal((await g.create({ title: 'g', status: 'draft' })).status, 'draft');
    assert.deepEqual(await expectError(g.create({ title: 'g', status: 'live' }), 400), CREATE_FAILED);
    assert.deepEqual(await expectError(g.create({ title: 'g' }), 400), CREATE_FAILED);
    // :isset — sending the key at all fails the rule, even with the unchanged value
    const Bn = B.collection(name);
    assert.equal((await Bn.update(a1.id, { title: 'byB' })).title, 'byB');
    assert.deepEqual(await expectError(Bn.update(a1.id, { title: 'x', owner: bob.id }), 404), NOT_FOUND);
    assert.deepEqual(await expectError(Bn.update(a1.id, { owner: alice.id }), 404), NOT_FOUND);
    // :changed — sent and different from the stored value
    await pb.collections.update(c.id, { updateRule: '@request.body.title:changed = false' });
    assert.equal((await Bn.update(a1.id, { title: 'byB', status: 's1' })).status, 's1', 'same value');
    assert.equal((await Bn.update(a1.id, { status: 's2' })).status, 's2', 'not sent');
    assert.deepEqual(await expectError(Bn.update(a1.id, { title: 'other' }), 404), NOT_FOUND);
    assert.equal((await pb.collection(name).getOne(a1.id)).title, 'byB');
  });

  test('@request.body.<relation>.<field> (create)', async () => {
    const { name } = await notesFixture({ listRule: '', createRule: '@request.body.owner.name = "bob"' });
    const g = guestClient().collection(name);
    assert.equal((await g.create({ title: 'x', owner: bob.id })).owner, bob.id);
    assert.deepEqual(await expectError(g.create({ title: 'x', owner: alice.id }), 400), CREATE_FAILED);
    assert.deepEqual(await expectError(g.create({ title: 'x' }), 400), CREATE_FAILED);
  });

  test('@request.query.x / @request.headers.x / @request.method / @request.context', async () => {
    const { name, a1, b1 } = await notesFixture({
      listRule: '@request.headers.x_compat_token = "abc"',
      viewRule: '@request.method = "GET" && @request.context = "default"',
      deleteRule: '@request.query.confirm = "yes"',
    });
    const g = guestClient().collection(name);
    assert.equal((await g.getList()).totalItems, 0);
    assert.equal((await g.getList(1, 30, { headers: { 'X-Compat-Token': 'abc' } })).totalItems, 3);
    assert.equal((await g.getOne(a1.id)).title, 'a1');
    assert.deepEqual(await expectError(g.delete(b1.id), 404), NOT_FOUND);
    assert.deepEqual(await expectError(g.delete(b1.id, { confirm: 'no' }), 404), NOT_FOUND);
    assert.equal(await g.delete(b1.id, { confirm: 'yes' }), true);
  });
});

describe('@collection.* and back-relations in rules', () => {
  let projects; let memberships; let P;
  before(async () => {
    projects = await cols.create({
      name: uniqName('projects'), type: 'base', listRule: '', viewRule: '', fields: [{ name: 'title', type: 'text' }],
    });
    memberships = await cols.create({
      name: uniqName('members'), type: 'base',
      fields: [
        { name: 'user', type: 'relation', collectionId: '_pb_users_auth_', maxSelect: 1 },
        { name: 'project', type: 'relation', collectionId: projects.id, maxSelect: 1 },
        { name: 'role', type: 'text' },
      ],
    });
    const Pc = pb.collection(projects.name);
    P = { p1: await Pc.create({ title: 'P1' }), p2: await Pc.create({ title: 'P2' }), p3: await Pc.create({ title: 'P3' }) };
    const M = pb.collection(memberships.name);
    await M.create({ user: alice.id, project: P.p1.id, role: 'member' });
    await M.create({ user: alice.id, project: P.p2.id, role: 'admin' });
    await M.create({ user: bob.id, project: P.p3.id, role: 'member' });
  });
  const setList = (listRule) => pb.collections.update(projects.id, { listRule });

  test('@collection.<name>.field ?= ... joins the same row for every reference', async () => {
    const m = memberships.name;
    await setList(`@collection.${m}.user ?= @request.auth.id && @collection.${m}.project ?= id`);
    assert.deepEqual(await titles(A, projects.name), ['P1', 'P2']);
    assert.deepEqual(await titles(B, projects.name), ['P3']);
    assert.deepEqual(await titles(C, projects.name), []);
    assert.deepEqual(await titles(guestClient(), projects.name), []);
    // all three conditions must hold for one membership row
    await setList(`@collection.${m}.user ?= @request.auth.id && @collection.${m}.project ?= id && @collection.${m}.role ?= "admin"`);
    assert.deepEqual(await titles(A, projects.name), ['P2']);
    // a plain (non-?) operator requires ALL rows of the other collection to match
    await setList(`@collection.${m}.user = @request.auth.id`);
    assert.deepEqual(await titles(A, projects.name), []);
    assert.deepEqual(await titles(B, projects.name), []);
  });

  test('@collection.<name>:alias joins the collection again independently', async () => {
    const m = memberships.name;
    // "is a member of this project" AND (separately) "is an admin somewhere"
    await setList(
      `@collection.${m}:mine.user ?= @request.auth.id && @collection.${m}:mine.project ?= id && ` +
      `@collection.${m}:adm.user ?= @request.auth.id && @collection.${m}:adm.role ?= "admin"`,
    );
    assert.deepEqual(await titles(A, projects.name), ['P1', 'P2']);
    assert.deepEqual(await titles(B, projects.name), []);
  });

  test('back-relation <collection>_via_<field> in rules (?= any, = all)', async () => {
    const via = `${memberships.name}_via_project`;
    await setList(`${via}.user ?= @request.auth.id`);
    assert.deepEqual(await titles(A, projects.name), ['P1', 'P2']);
    assert.deepEqual(await titles(B, projects.name), ['P3']);
    assert.deepEqual(await titles(C, projects.name), []);
    await setList(`${via}.role = "member"`);
    assert.deepEqual(await titles(guestClient(), projects.name), ['P1', 'P3']);
    await setList('');
  });
});

describe('expand and filters for non-superusers', () => {
  test('expand respects the related collection viewRule for the requesting user', async () => {
    // users viewRule: id = @request.auth.id
    const { name, a1, b1 } = await notesFixture({ listRule: '', viewRule: '' });
    await pb.collection(name).create({ title: 'z-none', owner: '' });
    const rows = await A.collection(name).getFullList({ sort: 'title', expand: 'owner' });
    const byTitle = Object.fromEntries(rows.map((r) => [r.title, r]));
    assert.equal(byTitle.a1.expand.owner.id, alice.id);
    assert.equal(byTitle.a1.expand.owner.email, alice.email, 'own record: e-mail visible');
    assert.deepEqual(byTitle.b1.expand, {}, 'not viewable: empty expand object');
    assert.deepEqual(byTitle['z-none'].expand, {});
    const g = await guestClient().collection(name).getOne(a1.id, { expand: 'owner' });
    assert.deepEqual(g.expand, {});
    const su = await pb.collection(name).getOne(b1.id, { expand: 'owner' });
    assert.equal(su.expand.owner.email, bob.email);
  });

  test('expand of a null-viewRule collection: no expand key; back-relation expand uses the viewRule', async () => {
    const locked = await cols.create({ name: uniqName('locked'), type: 'base', fields: [{ name: 'name', type: 'text' }] });
    const l1 = await pb.collection(locked.name).create({ name: 'x' });
    const items = await cols.create({
      name: uniqName('items'), type: 'base', listRule: '', viewRule: '',
      fields: [{ name: 'title', type: 'text' }, { name: 'ref', type: 'relation', collectionId: locked.id, maxSelect: 1 }],
    });
    const i1 = await pb.collection(items.name).create({ title: 'i1', ref: l1.id });
    const r = await A.collection(items.name).getOne(i1.id, { expand: 'ref' });
    assert.equal('expand' in r, false);
    assert.equal(r.ref, l1.id);
    // back-relation expand from the other side: only items.viewRule matters (listRule null is fine)
    await pb.collections.update(locked.id, { listRule: '', viewRule: '' });
    await pb.collections.update(items.id, { listRule: null });
    const via = `${items.name}_via_ref`;
    const back = await A.collection(locked.name).getOne(l1.id, { expand: via });
    assert.deepEqual(back.expand[via].map((x) => x.id), [i1.id]);
    await pb.collections.update(items.id, { listRule: '', viewRule: null });
    const none = await A.collection(locked.name).getOne(l1.id, { expand: via });
    assert.equal('expand' in none, false);
  });

  test('filter/sort with @request. or @collection. -> 403 for non-superusers', async () => {
    const { name } = await notesFixture({ listRule: '', viewRule: '' });
    for (const client of [A, guestClient()]) {
      let body = await expectError(client.collection(name).getList(1, 5, { filter: '@request.auth.id != ""' }), 403);
      assert.deepEqual(body, { data: {}, message: 'Only superusers can filter by @request.', status: 403 });
      body = await expectError(client.collection(name).getList(1, 5, { sort: '@request.auth.id' }), 403);
      assert.deepEqual(body, { data: {}, message: 'Only superusers can filter by @request.', status: 403 });
      body = await expectError(client.collection(name).getList(1, 5, { filter: `@collection.${name}.id != ""` }), 403);
      assert.deepEqual(body, { data: {}, message: 'Only superusers can filter by @collection.', status: 403 });
    }
    assert.equal((await pb.collection(name).getList(1, 5, { filter: '@request.auth.id != ""' })).totalItems, 3);
  });

  test('filtering through a relation / back-relation into a null-listRule collection -> 400 for non-superusers', async () => {
    const locked = await cols.create({ name: uniqName('locked'), type: 'base', fields: [{ name: 'name', type: 'text' }] });
    const l1 = await pb.collection(locked.name).create({ name: 'x' });
    const items = await cols.create({
      name: uniqName('items'), type: 'base', listRule: '', viewRule: '',
      fields: [{ name: 'title', type: 'text' }, { name: 'ref', type: 'relation', collectionId: locked.id, maxSelect: 1 }],
    });
    await pb.collection(items.name).create({ title: 'i1', ref: l1.id });
    const bad = { data: {}, message: 'Something went wrong while processing your request.', status: 400 };
    assert.deepEqual(await expectError(A.collection(items.name).getList(1, 5, { filter: 'ref.name = "x"' }), 400), bad);
    // the relation id itself is a plain column
    assert.equal((await A.collection(items.name).getList(1, 5, { filter: `ref = "${l1.id}"` })).totalItems, 1);
    assert.equal((await pb.collection(items.name).getList(1, 5, { filter: 'ref.name = "x"' })).totalItems, 1);
    await pb.collections.update(locked.id, { listRule: '', viewRule: '' });
    assert.equal((await A.collection(items.name).getList(1, 5, { filter: 'ref.name = "x"' })).totalItems, 1);
    const via = `${items.name}_via_ref.title ?= "i1"`;
    assert.equal((await A.collection(locked.name).getList(1, 5, { filter: via })).totalItems, 1);
    await pb.collections.update(items.id, { listRule: null });
    assert.deepEqual(await expectError(A.collection(locked.name).getList(1, 5, { filter: via }), 400), bad);
    assert.deepEqual(ids((await pb.collection(locked.name).getList(1, 5, { filter: via })).items), [l1.id]);
  });
});

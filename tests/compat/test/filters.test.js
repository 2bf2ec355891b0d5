// Filter language, sort, expand and the `fields` picker, on a small blog fixture:
//   authors: ann(30), bob(40), cid(25)
//   posts:   p1 "Hello world"  views 10  published  tags [a,b]   live  author ann editors [bob,cid]
//            p2 "100% pure"    views 20             tags [c]     draft author bob editors [ann]
//            p3 "under_score"  views 0   published  tags []      ""    author ann editors []
//            p4 "Zed"          views 5.5            tags [a,c,d] live  author ""  editors [ann,bob]
//   comments: c1 first->p1 by bob, c2 second->p1 by cid, c3 third->p2 by ann, c4 orphan (no post) by ann
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { suClient, expectError, assertErrorBody, raw, Collections, createBlog } from './helpers.js';

let pb;
let cols;
let b; // fixture
let P; // posts service
let names; // id -> p1/p2/...

before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
  b = await createBlog(cols);
  P = pb.collection(b.posts.name);
  names = {};
  for (const [k, v] of Object.entries({ ...b.a, ...b.p, ...b.c })) names[v.id] = k;
});
after(async () => {
  await cols?.cleanup();
});

/** Names of the posts matching `filter`, in @rowid (insertion) order. */
async function match(filter, svc = P) {
  const l = await svc.getList(1, 100, { filter, sort: '@rowid' });
  return l.items.map((r) => names[r.id]).join(',');
}

const BAD_REQUEST = { data: {}, message: 'Something went wrong while processing your request.', status: 400 };

describe('filter operators', () => {
  test('= != > >= < <= on numbers', async () => {
    assert.equal(await match('views = 10'), 'p1');
    assert.equal(await match('views != 10'), 'p2,p3,p4');
    assert.equal(await match('views > 5'), 'p1,p2,p4');
    assert.equal(await match('views >= 5.5'), 'p1,p2,p4');
    assert.equal(await match('views < 10'), 'p3,p4');
    assert.equal(await match('views <= 10'), 'p1,p3,p4');
    assert.equal(await match('views = "10"'), 'p1');
  });

  test('~ and !~ (contains, ASCII case-insensitive; % makes a raw LIKE pattern; _ is literal)', async () => {
    assert.equal(await match('title ~ "o"'), 'p1,p3');
    assert.equal(await match('title !~ "o"'), 'p2,p4');
    assert.equal(await match('title ~ "HELLO"'), 'p1');
    assert.equal(await match('title ~ "Hel%"'), 'p1', 'starts-with');
    assert.equal(await match('title ~ "%pure"'), 'p2', 'ends-with');
    assert.equal(await match('title ~ "100%"'), 'p2');
    assert.equal(await match('title ~ "_"'), 'p3', '_ is escaped when there is no %');
    assert.equal(await match('title ~ "lo w"'), 'p1');
  });

  test('null / true / false literals and empty strings', async () => {
    assert.equal(await match('status = null'), 'p3');
    assert.equal(await match('status = ""'), 'p3');
    assert.equal(await match('status != null'), 'p1,p2,p4');
    assert.equal(await match('published = true'), 'p1,p3');
    assert.equal(await match('published = false'), 'p2,p4');
    assert.equal(await match('published != false'), 'p1,p3');
    assert.equal(await match('author = null'), 'p4');
    assert.equal(await match('author != ""'), 'p1,p2,p3');
    assert.equal(await match('publishAt = ""'), 'p3,p4');
    assert.equal(await match('null = null'), 'p1,p2,p3,p4');
    assert.equal(await match('1 = 1'), 'p1,p2,p3,p4');
    assert.equal(await match(''), 'p1,p2,p3,p4');
    assert.equal(await match('id = ""'), '');
  });

  test('&&, || and parentheses; single-quoted strings; // comments', async () => {
    assert.equal(await match('views > 5 && published = true'), 'p1');
    assert.equal(await match('views > 15 || tags:length = 0'), 'p2,p3');
    assert.equal(await match('(title ~ "o" || title ~ "Z") && views > 5'), 'p1,p4');
    assert.equal(await match("title = 'Zed'"), 'p4');
    assert.equal(await match('title = "Zed" // trailing comment'), 'p4');
  });

  test('relation paths (single relation)', async () => {
    assert.equal(await match('author.name = "Ann"'), 'p1,p3');
    assert.equal(await match('author.name != "Ann"'), 'p2,p4');
    assert.equal(await match('author.age > 35'), 'p2');
    assert.equal(await match('author.name ~ "b"'), 'p2');
  });

  test('multiple relation: plain operators need ALL values, ?-operators ANY', async () => {
    assert.equal(await match('editors.name ?= "Bob"'), 'p1,p4');
    assert.equal(await match('editors.name = "Bob"'), '');
    assert.equal(await match('editors.name ?!= "Bob"'), 'p1,p2,p3,p4');
    assert.equal(await match('editors.name != "Bob"'), 'p2,p3');
    assert.equal(await match('editors.age ?> 35'), 'p1,p4');
    assert.equal(await match('editors.age > 20'), 'p1,p2,p4');
    assert.equal(await match('editors.age ?>= 40'), 'p1,p4');
    assert.equal(await match('editors.age ?< 26'), 'p1');
    assert.equal(await match('editors.age ?<= 25'), 'p1');
    assert.equal(await match('editors.name ?~ "b"'), 'p1,p4');
    assert.equal(await match('editors.name ?!~ "b"'), 'p1,p2,p4');
  });

  test('back-relation <collection>_via_<field>', async () => {
    const via = `${b.comments.name}_via_post`;
    assert.equal(await match(`${via}.text ?= "first"`), 'p1');
    assert.equal(await match(`${via}.text = "first"`), '');
    assert.equal(await match(`${via}.text ~ "i"`), 'p2');
    assert.equal(await match(`${via}.text ?~ "i"`), 'p1,p2');
    assert.equal(await match(`${via}.user.name ?= "cid"`), 'p1');
    assert.equal(await match(`${via}.id ?!= ""`), 'p1,p2');
  });

  test('multi select: direct comparison uses the raw JSON text; use ~, :each or :length', async () => {
    assert.equal(await match('tags = "a"'), '');
    assert.equal(await match('tags ?= "a"'), '');
    assert.equal(await match('tags ~ "a"'), 'p1,p4');
    assert.equal(await match('tags:each ?= "a"'), 'p1,p4');
    assert.equal(await match('tags:each = "a"'), '');
    assert.equal(await match('tags:each != "b"'), 'p2,p3,p4');
    assert.equal(await match('tags:each ?~ "d"'), 'p4');
  });

  test(':length on multiple select / relation', async () => {
    assert.equal(await match('tags:length = 0'), 'p3');
    assert.equal(await match('tags:length >= 2'), 'p1,p4');
    assert.equal(await match('tags:length = 3'), 'p4');
    assert.equal(await match('editors:length = 2'), 'p1,p4');
    assert.equal(await match('editors:length < 1'), 'p3');
  });

  test(':lower', async () => {
    assert.equal(await match('title:lower = "hello world"'), 'p1');
    assert.equal(await match('author.name:lower = "ann"'), 'p1,p3');
    assert.equal(await match('title = "hello world"'), '', '= is case-sensitive');
  });

  test('datetime macros', async () => {
    assert.equal(await match('created <= @now'), 'p1,p2,p3,p4');
    assert.equal(await match('created >= @todayStart'), 'p1,p2,p3,p4');
    assert.equal(await match('created > @yesterday && created < @tomorrow'), 'p1,p2,p3,p4');
    assert.equal(await match('created > @now'), '');
    assert.equal(await match('created < @todayStart'), '');
    assert.equal(await match('publishAt != "" && publishAt < @now'), 'p1,p2');
    assert.equal(await match('publishAt > "2024-06-01 00:00:00.000Z"'), 'p2');
    assert.equal(await match('@year >= 2024'), 'p1,p2,p3,p4');
  });

  test('json paths', async () => {
    assert.equal(await match('meta.s = "x"'), 'p1,p4');
    assert.equal(await match('meta.k.0 = 1'), 'p1');
    assert.equal(await match('meta.k.0 = 3'), 'p2');
    assert.equal(await match('meta.nope = null'), 'p1,p2,p3,p4');
  });

  test('pb.filter() escapes quotes and backslashes; dates, numbers, bools, null', async () => {
    const A = pb.collection(b.authors.name);
    const nick = b.a.ann.nick; // O'Hara "the" \ann
    const f = pb.filter('nick = {:n}', { n: nick });
    assert.equal(f, 'nick = "O\'Hara \\"the\\" \\\\ann"');
    assert.equal(await match(f, A), 'ann');
    assert.equal(await match(pb.filter('nick ~ {:n}', { n: '"the" \\' }), A), 'ann');
    assert.equal(await match(pb.filter('nick = {:n}', { n: "O'Hara" }), A), '');
    const f2 = pb.filter('views >= {:v} && published = {:p} && status != {:s} && publishAt < {:d}',
      { v: 10, p: true, s: null, d: new Date('2024-06-01T00:00:00Z') });
    assert.equal(await match(f2), 'p1');
    assert.equal(await match(pb.filter('title = {:t}', { t: '100% pure' })), 'p2');
  });

  test('limits: filter <= 3500 chars and <= 200 expressions', async () => {
    const long = (n) => `title = "${'x'.repeat(n - 10)}"`;
    assert.equal(long(3500).length, 3500);
    assert.equal(await match(long(3500)), '');
    assert.deepEqual(await expectError(P.getList(1, 10, { filter: long(3501) }), 400), BAD_REQUEST);
    const many = (n) => Array(n).fill('views = 10').join(' || ');
    assert.equal(await match(many(200)), 'p1');
    assert.deepEqual(await expectError(P.getList(1, 10, { filter: many(201) }), 400), BAD_REQUEST);
  });

  test('invalid filters -> 400 with empty data', async () => {
    for (const f of ['nosuchfield = 1', 'views ==== 1', 'views =', 'title ~ "a" &&', 'true', '(views > 1', 'title = "unterminated']) {
      const body = await expectError(P.getList(1, 10, { filter: f }), 400);
      assert.deepEqual(body, BAD_REQUEST, f);
    }
  });
});

describe('injection-looking input', () => {
  async function assertIntact() {
    // the collection still exists with all its data
    const c = await pb.collections.getOne(b.posts.id);
    assert.equal(c.name, b.posts.name);
    const l = await P.getList(1, 100, { sort: '@rowid' });
    assert.equal(l.totalItems, 4);
    assert.deepEqual(l.items.map((r) => r.title), ['Hello world', '100% pure', 'under_score', 'Zed']);
    assert.equal((await pb.collection(b.authors.name).getList()).totalItems, 3);
  }

  test('filters: 400 or empty result, never executed', async () => {
    const t = b.posts.name;
    const rejected = [
      `title = "x" ; DROP TABLE ${t}`,
      'title = "x" OR 1=1',
      'title = "x") OR (1=1',
      "title = 'x'' OR ''1''=''1'",
      '1=1) UNION SELECT * FROM _superusers --',
      'title = "a" /* x */',
      `views = (SELECT count(*) FROM ${t})`,
    ];
    for (const f of rejected) {
      const body = await expectError(P.getList(1, 10, { filter: f }), 400);
      assert.deepEqual(body, BAD_REQUEST, f);
    }
    const empty = [
      'title = "x\\" OR 1=1 --"',
      'id = "1\' OR \'1\'=\'1"',
      'title ~ "%\' OR 1=1 --"',
      `title = "'; DROP TABLE ${t}; --"`,
    ];
    for (const f of empty) {
      assert.equal(await match(f), '', f);
    }
    await assertIntact();
  });

  test('sort: 400', async () => {
    for (const s of [`title; DROP TABLE ${b.posts.name}`, 'title) --', '(SELECT 1)', 'title desc', 'views,;']) {
      const body = await expectError(P.getList(1, 10, { sort: s }), 400);
      assert.deepEqual(body, BAD_REQUEST, s);
    }
    await assertIntact();
  });

  test('record ids / expand / fields: 404 or ignored', async () => {
    for (const id of ["' OR '1'='1", `x; DROP TABLE ${b.posts.name}`, '%27', 'a"b']) {
      const body = await expectError(P.getOne(id), 404);
      assert.deepEqual(body, { data: {}, message: "The requested resource wasn't found.", status: 404 }, id);
    }
    const r = await P.getOne(b.p.p1.id, { expand: `author; DROP TABLE ${b.posts.name}`, fields: 'id,title; DROP' });
    assert.equal(r.id, b.p.p1.id);
    await assertIntact();
  });
});

describe('sort', () => {
  const order = async (sort) => (await P.getList(1, 100, { sort })).items.map((r) => names[r.id]).join(',');

  test('asc / desc / + prefix', async () => {
    assert.equal(await order('views'), 'p3,p4,p1,p2');
    assert.equal(await order('+views'), 'p3,p4,p1,p2');
    assert.equal(await order('-views'), 'p2,p1,p4,p3');
  });

  test('text sort is case-sensitive (binary)', async () => {
    assert.equal(await order('title'), 'p2,p1,p4,p3'); // "100% pure" < "Hello world" < "Zed" < "under_score"
    assert.equal(await order('title:lower'), 'p2,p1,p3,p4');
  });

  test('multiple keys', async () => {
    assert.equal(await order('published,-title'), 'p4,p2,p3,p1');
    assert.equal(await order('-published,views'), 'p3,p1,p4,p2');
  });

  test('relation path (empty relation sorts first ascending)', async () => {
    assert.equal(await order('author.name,-views'), 'p4,p1,p3,p2');
    assert.equal(await order('-author.name,title'), 'p2,p1,p3,p4');
  });

  test('@rowid and json path', async () => {
    assert.equal(await order('@rowid'), 'p1,p2,p3,p4');
    assert.equal(await order('-@rowid'), 'p4,p3,p2,p1');
    assert.equal(await order('meta.s,-@rowid'), 'p3,p4,p1,p2');
  });

  test('@random returns every record', async () => {
    const l = await P.getList(1, 100, { sort: '@random' });
    assert.deepEqual(l.items.map((r) => names[r.id]).sort(), ['p1', 'p2', 'p3', 'p4']);
  });

  test('at most 8 sort fields', async () => {
    const keys = ['title', 'views', 'id', 'created', 'updated', 'body', 'status', 'published', 'publishAt'];
    assert.equal(await order(keys.slice(0, 8).join(',')), 'p2,p1,p4,p3');
    assert.deepEqual(await expectError(P.getList(1, 10, { sort: keys.join(',') }), 400), BAD_REQUEST);
  });

  test('unknown sort field -> 400', async () => {
    const body = await expectError(P.getList(1, 10, { sort: 'nosuchfield' }), 400);
    assert.deepEqual(body, BAD_REQUEST);
    await expectError(P.getList(1, 10, { sort: 'author.nosuch' }), 400);
  });
});

describe('expand', () => {
  test('single relation -> object', async () => {
    const r = await P.getOne(b.p.p1.id, { expand: 'author' });
    assert.deepEqual(r.expand, { author: b.a.ann });
    assert.equal(r.author, b.a.ann.id, 'the relation value itself is unchanged');
  });

  test('multiple relation -> array in stored order; several expands at once', async () => {
    const r = await P.getOne(b.p.p1.id, { expand: 'editors,author' });
    assert.deepEqual(Object.keys(r.expand).sort(), ['author', 'editors']);
    assert.deepEqual(r.expand.editors, [b.a.bob, b.a.cid]);
    assert.deepEqual(r.expand.author, b.a.ann);
  });

  test('empty relations give expand: {}; unknown expand names are ignored', async () => {
    const r = await P.getOne(b.p.p4.id, { expand: 'author' });
    assert.deepEqual(r.expand, {});
    const r3 = await P.getOne(b.p.p3.id, { expand: 'editors' });
    assert.deepEqual(r3.expand, {});
    const r2 = await P.getOne(b.p.p1.id, { expand: 'nosuchfield' });
    assert.equal('expand' in r2, false);
    const r5 = await P.getOne(b.p.p1.id, { expand: 'title' });
    assert.equal('expand' in r5, false);
    const r4 = await P.getOne(b.p.p1.id);
    assert.equal('expand' in r4, false);
  });

  test('nested 2 levels', async () => {
    const C = pb.collection(b.comments.name);
    const r = await C.getOne(b.c.c1.id, { expand: 'post.author,user' });
    assert.deepEqual(r.expand.user, b.a.bob);
    const { expand: postExpand, ...post } = r.expand.post;
    assert.deepEqual(post, b.p.p1);
    assert.deepEqual(postExpand, { author: b.a.ann });
  });

  test('back-relation <collection>_via_post -> array', async () => {
    const via = `${b.comments.name}_via_post`;
    const r = await P.getOne(b.p.p1.id, { expand: via });
    assert.deepEqual(Object.keys(r.expand), [via]);
    assert.deepEqual(r.expand[via].map((c) => c.id).sort(), [b.c.c1.id, b.c.c2.id].sort());
    assert.deepEqual(r.expand[via].find((c) => c.id === b.c.c1.id), b.c.c1);
    const r2 = await P.getOne(b.p.p3.id, { expand: via });
    assert.deepEqual(r2.expand, {});
    // nested inside the back-relation
    const r3 = await P.getOne(b.p.p2.id, { expand: `${via}.user` });
    assert.equal(r3.expand[via].length, 1);
    assert.deepEqual(r3.expand[via][0].expand, { user: b.a.ann });
  });

  test('expand on list, create and update responses', async () => {
    const l = await P.getList(1, 10, { expand: 'author', sort: '@rowid' });
    assert.deepEqual(l.items.map((r) => r.expand?.author?.name ?? null), ['Ann', 'Bob', 'Ann', null]);
    const c = await P.create({ title: 'tmp', author: b.a.bob.id }, { expand: 'author' });
    assert.deepEqual(c.expand, { author: b.a.bob });
    const u = await P.update(c.id, { author: b.a.cid.id }, { expand: 'author' });
    assert.deepEqual(u.expand, { author: b.a.cid });
    await P.delete(c.id);
  });
});

describe('fields', () => {
  test('id,title', async () => {
    const r = await P.getOne(b.p.p1.id, { fields: 'id,title' });
    assert.deepEqual(r, { id: b.p.p1.id, title: 'Hello world' });
  });

  test('* returns everything (without expand unless asked)', async () => {
    const r = await P.getOne(b.p.p1.id, { fields: '*' });
    assert.deepEqual(r, b.p.p1);
  });

  test('expand.author.name and *,expand...', async () => {
    const r = await P.getOne(b.p.p1.id, { expand: 'author', fields: 'id,expand.author.name' });
    assert.deepEqual(r, { id: b.p.p1.id, expand: { author: { name: 'Ann' } } });
    const r2 = await P.getOne(b.p.p1.id, { expand: 'author', fields: '*,expand.author.name' });
    assert.deepEqual(r2, { ...b.p.p1, expand: { author: { name: 'Ann' } } });
  });

  test(':excerpt(n, withEllipsis) strips HTML', async () => {
    let r = await P.getOne(b.p.p1.id, { fields: 'body:excerpt(10,true)' });
    assert.deepEqual(r, { body: 'Hello bold...' });
    r = await P.getOne(b.p.p1.id, { fields: 'body:excerpt(10)' });
    assert.deepEqual(r, { body: 'Hello bold' });
    r = await P.getOne(b.p.p1.id, { fields: 'id,body:excerpt(200,true)' });
    assert.deepEqual(r, { id: b.p.p1.id, body: 'Hello bold world, this is a longer body' });
    r = await P.getOne(b.p.p1.id, { fields: 'title:excerpt(5,true)' });
    assert.deepEqual(r, { title: 'Hello...' });
  });

  test('list: applies to items, top-level paging keys are kept', async () => {
    const l = await P.getList(1, 2, { fields: 'title', sort: '@rowid' });
    assert.deepEqual(l, { page: 1, perPage: 2, totalItems: 4, totalPages: 2, items: [{ title: 'Hello world' }, { title: '100% pure' }] });
    const l2 = await P.getList(1, 10, { expand: 'author', fields: 'title,expand.author.name', sort: '@rowid' });
    assert.deepEqual(l2.items, [
      { title: 'Hello world', expand: { author: { name: 'Ann' } } },
      { title: '100% pure', expand: { author: { name: 'Bob' } } },
      { title: 'under_score', expand: { author: { name: 'Ann' } } },
      { title: 'Zed', expand: {} },
    ]);
  });

  test('json sub-keys and unknown names', async () => {
    assert.deepEqual(await P.getOne(b.p.p1.id, { fields: 'meta.s' }), { meta: { s: 'x' } });
    assert.deepEqual(await P.getOne(b.p.p1.id, { fields: 'nosuchfield' }), {});
  });

  test('fields on create / update responses and on collections', async () => {
    const c = await P.create({ title: 'picked' }, { fields: 'title' });
    assert.deepEqual(c, { title: 'picked' });
    const col = await pb.collections.getOne(b.posts.id, { fields: 'id,name' });
    assert.deepEqual(col, { id: b.posts.id, name: b.posts.name });
    const all = await P.getFullList({ filter: 'title = "picked"', fields: 'id' });
    await P.delete(all[0].id);
  });

  test('fields is not applied to error responses', async () => {
    const r = await raw(`/api/collections/${b.posts.name}/records/nosuchrecord123?fields=status`, { token: pb.authStore.token });
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { data: {}, message: "The requested resource wasn't found.", status: 404 });
    assertErrorBody(r.json, 404, "The requested resource wasn't found.", {});
  });
});

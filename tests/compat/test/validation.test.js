// Record field validation: error codes, messages, params and the "required"/zero-value semantics.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { suClient, expectError, Collections, uniqName } from './helpers.js';

let pb;
let cols;
let target;
let t1; let t2; let t3;
let V; // record service of the validation collection

before(async () => {
  pb = await suClient();
  cols = new Collections(pb);
  target = await cols.create({ name: uniqName('vtarget'), fields: [{ name: 'name', type: 'text' }] });
  const T = pb.collection(target.name);
  t1 = await T.create({ name: 't1' });
  t2 = await T.create({ name: 't2' });
  t3 = await T.create({ name: 't3' });
  const c = await cols.create({
    name: uniqName('val'),
    fields: [
      { name: 'req', type: 'text', required: true },
      { name: 'txt', type: 'text', min: 3, max: 5, pattern: '^[a-z]+$' },
      { name: 'num', type: 'number', min: 1, max: 10, onlyInt: true },
      { name: 'mail', type: 'email', onlyDomains: ['ok.test'] },
      { name: 'mail2', type: 'email', exceptDomains: ['bad.test'] },
      { name: 'link', type: 'url' },
      { name: 'link2', type: 'url', onlyDomains: ['ok.test'] },
      { name: 'sel', type: 'select', values: ['x', 'y'], maxSelect: 1 },
      { name: 'msel', type: 'select', values: ['x', 'y', 'z'], maxSelect: 2 },
      { name: 'rel', type: 'relation', collectionId: target.id, maxSelect: 1 },
      { name: 'rels', type: 'relation', collectionId: target.id, maxSelect: 2 },
      { name: 'js', type: 'json', maxSize: 20 },
      { name: 'dt', type: 'date', min: '2020-01-01 00:00:00.000Z', max: '2030-01-01 00:00:00.000Z' },
      { name: 'geo', type: 'geoPoint' },
      { name: 'ed', type: 'editor', maxSize: 10 },
      { name: 'pw', type: 'password', min: 4 },
    ],
  });
  V = pb.collection(c.name);
});
after(async () => {
  await cols?.cleanup();
});

/** Create with `req` filled in; expect 400 "Failed to create record." and return `data`. */
async function createFails(body) {
  const err = await expectError(V.create({ req: 'r', ...body }), 400, 'Failed to create record.');
  assert.equal(err.status, 400);
  return err.data;
}

const one = (code, message, params) => (params ? { code, message, params } : { code, message });

describe('field validation codes', () => {
  test('required -> validation_required "Cannot be blank."', async () => {
    for (const body of [{}, { req: '' }, { req: null }]) {
      const err = await expectError(V.create(body), 400);
      assert.deepEqual(err, { data: { req: one('validation_required', 'Cannot be blank.') }, message: 'Failed to create record.', status: 400 });
    }
    // whitespace is not blank
    const r = await V.create({ req: '   ' });
    assert.equal(r.req, '   ');
  });

  test('text min / max / pattern', async () => {
    assert.deepEqual(await createFails({ txt: 'ab' }),
      { txt: one('validation_min_text_constraint', 'Must be at least 3 character(s).', { min: 3 }) });
    assert.deepEqual(await createFails({ txt: 'abcdef' }),
      { txt: one('validation_max_text_constraint', 'Must be no more than 5 character(s).', { max: 5 }) });
    assert.deepEqual(await createFails({ txt: 'ABC' }),
      { txt: one('validation_invalid_format', 'Invalid value format.') });
    // counts characters, not bytes
    const r = await V.create({ req: 'r', txt: 'abc' });
    assert.equal(r.txt, 'abc');
    // empty non-required text skips min/pattern
    assert.equal((await V.create({ req: 'r', txt: '' })).txt, '');
  });

  test('text default max is 5000 characters', async () => {
    const T = pb.collection(target.name);
    const err = await expectError(T.create({ name: 'x'.repeat(5001) }), 400);
    assert.deepEqual(err.data, { name: one('validation_max_text_constraint', 'Must be no more than 5000 character(s).', { max: 5000 }) });
    const ok = await T.create({ name: 'é'.repeat(5000) });
    assert.equal(ok.name.length, 5000);
    await T.delete(ok.id);
  });

  test('number min / max / onlyInt', async () => {
    assert.deepEqual(await createFails({ num: -1 }),
      { num: one('validation_min_number_constraint', 'Must be greater or equal than 1.', { min: 1 }) });
    assert.deepEqual(await createFails({ num: 11 }),
      { num: one('validation_max_number_constraint', 'Must be less or equal than 10.', { max: 10 }) });
    assert.deepEqual(await createFails({ num: 2.5 }),
      { num: one('validation_only_int_constraint', 'Decimal numbers are not allowed.') });
    // onlyInt is checked before min
    assert.deepEqual(await createFails({ num: 0.5 }),
      { num: one('validation_only_int_constraint', 'Decimal numbers are not allowed.') });
    // zero value of a non-required number skips the min check
    assert.equal((await V.create({ req: 'r', num: 0 })).num, 0);
    assert.equal((await V.create({ req: 'r', num: 10 })).num, 10);
  });

  test('email format and domains', async () => {
    assert.deepEqual(await createFails({ mail: 'nope' }), { mail: one('validation_is_email', 'Must be a valid email address.') });
    assert.deepEqual(await createFails({ mail: 'a@other.test' }),
      { mail: one('validation_email_domain_not_allowed', 'Email domain is not allowed.') });
    assert.deepEqual(await createFails({ mail2: 'a@bad.test' }),
      { mail2: one('validation_email_domain_not_allowed', 'Email domain is not allowed.') });
    assert.equal((await V.create({ req: 'r', mail: 'a@ok.test', mail2: 'b@fine.test' })).mail, 'a@ok.test');
  });

  test('url format and domains', async () => {
    assert.deepEqual(await createFails({ link: 'nope' }), { link: one('validation_invalid_url', 'Must be a valid url.') });
    assert.deepEqual(await createFails({ link2: 'https://other.test/x' }),
      { link2: one('validation_url_domain_not_allowed', 'Url domain is not allowed.') });
    assert.equal((await V.create({ req: 'r', link: 'ftp://x.test' })).link, 'ftp://x.test', 'any scheme is accepted');
  });

  test('select invalid value / too many values', async () => {
    assert.deepEqual(await createFails({ sel: 'q' }),
      { sel: one('validation_invalid_value', 'Invalid value q.', { value: 'q' }) });
    assert.deepEqual(await createFails({ msel: ['x', 'q'] }),
      { msel: one('validation_invalid_value', 'Invalid value q.', { value: 'q' }) });
    assert.deepEqual(await createFails({ msel: ['x', 'y', 'z'] }),
      { msel: one('validation_too_many_values', 'Select no more than 2.', { maxSelect: 2 }) });
    // a single select given several values keeps the last one
    assert.equal((await V.create({ req: 'r', sel: ['x', 'y'] })).sel, 'y');
  });

  test('relation: missing records / too many values', async () => {
    const missing = one('validation_missing_rel_records', 'Failed to find all relation records with the provided ids.');
    assert.deepEqual(await createFails({ rel: 'aaaaaaaaaaaaaaa' }), { rel: missing });
    assert.deepEqual(await createFails({ rels: [t1.id, 'aaaaaaaaaaaaaaa'] }), { rels: missing });
    assert.deepEqual(await createFails({ rels: [t1.id, t2.id, t3.id] }),
      { rels: one('validation_too_many_values', 'Select no more than 2.', { maxSelect: 2 }) });
    // duplicates collapse before the maxSelect check
    assert.deepEqual((await V.create({ req: 'r', rels: [t1.id, t1.id, t1.id] })).rels, [t1.id]);
  });

  test('json max size', async () => {
    assert.deepEqual(await createFails({ js: { a: 'x'.repeat(50) } }),
      { js: one('validation_json_size_limit', 'The maximum allowed JSON size is 20 bytes.', { maxSize: 20 }) });
    assert.deepEqual((await V.create({ req: 'r', js: [1, 2, 3] })).js, [1, 2, 3]);
  });

  test('date min / max', async () => {
    assert.deepEqual(await createFails({ dt: '2019-01-01 00:00:00.000Z' }), {
      dt: one('validation_min_greater_equal_than_required', 'Must be no less than 2020-01-01 00:00:00 +0000 UTC.', { threshold: '2020-01-01T00:00:00Z' }),
    });
    assert.deepEqual(await createFails({ dt: '2031-01-01 00:00:00.000Z' }), {
      dt: one('validation_max_less_equal_than_required', 'Must be no greater than 2030-01-01 00:00:00 +0000 UTC.', { threshold: '2030-01-01T00:00:00Z' }),
    });
    assert.equal((await V.create({ req: 'r', dt: '2025-01-01' })).dt, '2025-01-01 00:00:00.000Z');
  });

  test('geoPoint lat / lon range', async () => {
    assert.deepEqual(await createFails({ geo: { lon: 0, lat: 91 } }),
      { geo: one('validation_invalid_latitude', 'Latitude must be between -90 and 90 degrees.') });
    assert.deepEqual(await createFails({ geo: { lon: -181, lat: 0 } }),
      { geo: one('validation_invalid_longitude', 'Longitude must be between -180 and 180 degrees.') });
    // both out of range: only the latitude is reported
    assert.deepEqual(await createFails({ geo: { lon: 200, lat: -100 } }),
      { geo: one('validation_invalid_latitude', 'Latitude must be between -90 and 90 degrees.') });
    assert.deepEqual((await V.create({ req: 'r', geo: { lon: 180, lat: -90 } })).geo, { lon: 180, lat: -90 });
  });

  test('editor max size', async () => {
    assert.deepEqual(await createFails({ ed: 'x'.repeat(20) }),
      { ed: one('validation_content_size_limit', 'The maximum allowed content size is 10 bytes.', { maxSize: 10 }) });
  });

  test('password min (no params in the error)', async () => {
    assert.deepEqual(await createFails({ pw: 'abc' }),
      { pw: one('validation_min_text_constraint', 'Must be at least 4 character(s).') });
    assert.equal((await V.create({ req: 'r', pw: 'abcd' })).pw, '');
  });

  test('several invalid fields are reported together', async () => {
    const err = await expectError(V.create({ txt: 'A', num: 100, mail: 'x' }), 400);
    assert.deepEqual(Object.keys(err.data).sort(), ['mail', 'num', 'req', 'txt']);
    assert.deepEqual(Object.fromEntries(Object.entries(err.data).map(([k, v]) => [k, v.code])), {
      mail: 'validation_is_email',
      num: 'validation_max_number_constraint',
      req: 'validation_required',
      txt: 'validation_min_text_constraint',
    });
  });

  test('update validation uses "Failed to update record."', async () => {
    const r = await V.create({ req: 'r' });
    const err = await expectError(V.update(r.id, { req: '', num: 1.5 }), 400);
    assert.deepEqual(err, {
      data: {
        num: one('validation_only_int_constraint', 'Decimal numbers are not allowed.'),
        req: one('validation_required', 'Cannot be blank.'),
      },
      message: 'Failed to update record.',
      status: 400,
    });
    // a partial update keeps the other (valid) values
    const u = await V.update(r.id, { num: 3 });
    assert.equal(u.num, 3);
  });
});

describe('required zero values', () => {
  let Q;
  const full = () => ({
    n: 1, b: true, j: 1, d: '2024-01-01', g: { lon: 1, lat: 1 }, s: 'x', r: [t1.id], e: 'a@b.co', u: 'https://x.test', ed: 'x',
  });
  before(async () => {
    const c = await cols.create({
      name: uniqName('reqz'),
      fields: [
        { name: 'n', type: 'number', required: true },
        { name: 'b', type: 'bool', required: true },
        { name: 'j', type: 'json', required: true },
        { name: 'd', type: 'date', required: true },
        { name: 'g', type: 'geoPoint', required: true },
        { name: 's', type: 'select', values: ['x'], required: true },
        { name: 'r', type: 'relation', collectionId: target.id, required: true, maxSelect: 2 },
        { name: 'e', type: 'email', required: true },
        { name: 'u', type: 'url', required: true },
        { name: 'ed', type: 'editor', required: true },
      ],
    });
    Q = pb.collection(c.name);
  });

  test('zero values of every type are "blank" for required fields', async () => {
    const err = await expectError(Q.create({ n: 0, b: false, j: null, d: '', g: { lon: 0, lat: 0 }, s: '', r: [], e: '', u: '', ed: '' }), 400);
    const codes = Object.fromEntries(Object.entries(err.data).map(([k, v]) => [k, v.code]));
    assert.deepEqual(codes, Object.fromEntries(['b', 'd', 'e', 'ed', 'g', 'j', 'n', 'r', 's', 'u'].map((k) => [k, 'validation_required'])));
  });

  test('required bool must be true; required number non-zero', async () => {
    let err = await expectError(Q.create({ ...full(), b: false }), 400);
    assert.deepEqual(Object.keys(err.data), ['b']);
    err = await expectError(Q.create({ ...full(), n: 0 }), 400);
    assert.deepEqual(Object.keys(err.data), ['n']);
    assert.equal((await Q.create({ ...full(), n: -1 })).n, -1);
  });

  test('required json: null, "", {} and [] are blank; 0 and false are not', async () => {
    for (const j of [null, '', {}, []]) {
      const err = await expectError(Q.create({ ...full(), j }), 400);
      assert.deepEqual(Object.keys(err.data), ['j'], JSON.stringify(j));
    }
    for (const j of [0, false, 'x', [0]]) {
      const r = await Q.create({ ...full(), j });
      assert.deepEqual(r.j, j);
    }
  });

  test('required geoPoint: only {0,0} is blank', async () => {
    const err = await expectError(Q.create({ ...full(), g: { lon: 0, lat: 0 } }), 400);
    assert.deepEqual(Object.keys(err.data), ['g']);
    assert.deepEqual((await Q.create({ ...full(), g: { lon: 0, lat: 1 } })).g, { lon: 0, lat: 1 });
  });
});

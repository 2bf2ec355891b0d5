// Realtime through the SDK: `subscribe('*')`, `subscribe(id)` with options, events filtered by
// the list/view rules of the subscriber, and `unsubscribe`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import {
  guestClient, suClient, uniqName, Collections, createAuthRecord, authClient, delay,
} from './helpers.js';

// The SDK's realtime client needs a global EventSource (browsers have one, Node does not).
globalThis.EventSource = EventSource;

let su;
let cols;
let notes;

before(async () => {
  su = await suClient();
  cols = new Collections(su);
  const users = await cols.create({
    name: uniqName('rtu'), type: 'auth', createRule: '', listRule: '', viewRule: '',
  });
  notes = await cols.create({
    name: uniqName('rtn'),
    type: 'base',
    listRule: 'owner = @request.auth.id',
    viewRule: 'owner = @request.auth.id',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'owner', type: 'relation', collectionId: users.id, maxSelect: 1 },
    ],
  });
  notes.users = users;
});

after(async () => {
  await cols.cleanup();
});

/** Collect the events `subscribe` delivers until `count` arrived (or the wait runs out). */
function collector() {
  const events = [];
  const waiters = [];
  return {
    events,
    push(e) {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    },
    async until(count, ms = 3000) {
      const deadline = Date.now() + ms;
      while (events.length < count && Date.now() < deadline) {
        await Promise.race([new Promise((r) => waiters.push(r)), delay(50)]);
      }
      return events;
    },
  };
}

describe('realtime', () => {
  test('subscribers get the events their rules allow, in order', async () => {
    const ann = await createAuthRecord(su, notes.users.name);
    const bob = await createAuthRecord(su, notes.users.name);
    const annClient = await authClient(notes.users.name, ann.email);
    const bobClient = await authClient(notes.users.name, bob.email);
    const forAnn = collector();
    const forBob = collector();
    const unsubscribeAnn = await annClient.collection(notes.name).subscribe('*', (e) => forAnn.push(e));
    await bobClient.collection(notes.name).subscribe('*', (e) => forBob.push(e));

    const note = await su.collection(notes.name).create({ title: 'one', owner: ann.id });
    await su.collection(notes.name).update(note.id, { title: 'two' });
    await su.collection(notes.name).delete(note.id);

    const got = await forAnn.until(3);
    assert.deepEqual(got.map((e) => [e.action, e.record.id, e.record.title]),
      [['create', note.id, 'one'], ['update', note.id, 'two'], ['delete', note.id, 'two']]);
    assert.equal(got[0].record.collectionName, notes.name);
    await delay(200);
    assert.equal(forBob.events.length, 0, 'the list rule hides the record from bob');

    // after unsubscribing nothing more arrives
    await unsubscribeAnn();
    await su.collection(notes.name).create({ title: 'three', owner: ann.id });
    await delay(300);
    assert.equal(forAnn.events.length, 3);
    annClient.realtime.unsubscribe();
    bobClient.realtime.unsubscribe();
  });

  test('a record subscription with fields and filter options', async () => {
    const cy = await createAuthRecord(su, notes.users.name);
    const cyClient = await authClient(notes.users.name, cy.email);
    const note = await su.collection(notes.name).create({ title: 'draft', owner: cy.id });
    const got = collector();
    await cyClient.collection(notes.name).subscribe(note.id, (e) => got.push(e), {
      fields: 'id,title', filter: "title != 'skip'",
    });
    await su.collection(notes.name).update(note.id, { title: 'skip' });
    await su.collection(notes.name).update(note.id, { title: 'final' });
    const events = await got.until(1);
    await delay(200);
    assert.deepEqual(events.map((e) => [e.action, e.record]), [['update', { id: note.id, title: 'final' }]]);
    cyClient.realtime.unsubscribe();
  });

  test('guests see nothing of a rule-guarded collection', async () => {
    const g = guestClient();
    const got = collector();
    await g.collection(notes.name).subscribe('*', (e) => got.push(e));
    const owner = await createAuthRecord(su, notes.users.name);
    await su.collection(notes.name).create({ title: 'guarded', owner: owner.id });
    // with no owner, `owner = @request.auth.id` compares '' with a guest's '' and holds
    const open = await su.collection(notes.name).create({ title: 'ownerless' });
    const events = await got.until(1);
    await delay(200);
    assert.deepEqual(events.map((e) => [e.action, e.record.id]), [['create', open.id]]);
    g.realtime.unsubscribe();
  });
});

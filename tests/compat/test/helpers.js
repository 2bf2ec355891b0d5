// Shared helpers for the PocketBase/Keelbase compatibility suite.
//
// Every test talks to the server through the official `pocketbase` JS SDK; `raw()` (plain fetch)
// is only used where the SDK has no method (raw status codes, headers, malformed bodies).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
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

// ---------------------------------------------------------------------------------------------
// Auth helpers
// ---------------------------------------------------------------------------------------------

/** Decode a JWT payload (no signature check). */
export function jwtPayload(token) {
  const parts = String(token).split('.');
  assert.equal(parts.length, 3, `not a JWT: ${token}`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

/** Unique lower-case e-mail address `<prefix>_<random>@compat.test`. */
export function uniqEmail(prefix = 'u') {
  return `${prefix}_${randomBytes(6).toString('hex')}@compat.test`;
}

export const PASSWORD = 'password123';

/**
 * Create an auth record through `pb` (guest sign-up or superuser) with `PASSWORD` (or
 * `extra.password`) and return the response record with `email`/`password` filled in (create
 * responses hide the e-mail from guests).
 */
export async function createAuthRecord(pb, collection, extra = {}) {
  const email = extra.email ?? uniqEmail(extra.prefix || 'u');
  const password = extra.password ?? PASSWORD;
  const body = { email, password, passwordConfirm: password, ...extra };
  delete body.prefix;
  const rec = await pb.collection(collection).create(body);
  return { ...rec, email, password };
}

/** A new client authenticated with authWithPassword(identity, password) on `collection`. */
export async function authClient(collection, identity, password = PASSWORD) {
  const pb = guestClient();
  await pb.collection(collection).authWithPassword(identity, password);
  return pb;
}

/** Resolve after `ms` (for bounded polling only). */
export function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// SMTP sink: a minimal SMTP server on 127.0.0.1 (no TLS, no AUTH) capturing messages.
// ---------------------------------------------------------------------------------------------

function decodeQP(s) {
  const bytes = [];
  const str = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < str.length; i++) {
    const c = str[i];
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(str.slice(i + 1, i + 3))) {
      bytes.push(parseInt(str.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(str.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Decode RFC 2047 encoded words (`=?utf-8?q?...?=` / `=?utf-8?b?...?=`). */
function decodeWords(s) {
  return String(s)
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_, _cs, enc, text) => {
      if (enc.toLowerCase() === 'b') return Buffer.from(text, 'base64').toString('utf8');
      return decodeQP(text.replace(/_/g, ' '));
    });
}

function parseHeaders(block) {
  const headers = {};
  const lines = block.split(/\r?\n/);
  let cur = null;
  for (const line of lines) {
    if (/^[ \t]/.test(line) && cur) {
      headers[cur] += ' ' + line.trim();
    } else {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      cur = line.slice(0, i).trim().toLowerCase();
      headers[cur] = line.slice(i + 1).trim();
    }
  }
  return headers;
}

function headerParam(value, name) {
  const m = new RegExp(`${name}\\s*=\\s*("([^"]*)"|[^;\\s]+)`, 'i').exec(value || '');
  return m ? (m[2] ?? m[1]) : undefined;
}

/** Walk a MIME entity, collecting decoded text/plain and text/html parts. */
function walkMime(raw, out) {
  const sep = raw.search(/\r?\n\r?\n/);
  const head = sep >= 0 ? raw.slice(0, sep) : raw;
  const body = sep >= 0 ? raw.slice(sep).replace(/^\r?\n\r?\n/, '') : '';
  const headers = parseHeaders(head);
  const ctype = (headers['content-type'] || 'text/plain').toLowerCase();
  if (ctype.startsWith('multipart/')) {
    const boundary = headerParam(headers['content-type'], 'boundary');
    if (!boundary) return headers;
    const parts = body.split('--' + boundary);
    for (const part of parts.slice(1)) {
      if (part.startsWith('--')) break;
      walkMime(part.replace(/^\r?\n/, ''), out);
    }
    return headers;
  }
  const cte = (headers['content-transfer-encoding'] || '').toLowerCase();
  let text = body;
  if (cte === 'quoted-printable') text = decodeQP(body);
  else if (cte === 'base64') text = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  else text = Buffer.from(body, 'latin1').toString('utf8');
  if (ctype.startsWith('text/html')) out.html += text;
  else if (ctype.startsWith('text/')) out.text += text;
  return headers;
}

/** Extract bare addresses from an address header / SMTP path (`Name <a@b>`, `<a@b>`, `a@b`). */
export function addresses(value) {
  return (String(value || '').match(/[^\s<>",;:]+@[^\s<>",;]+/g) || []).map((a) => a.toLowerCase());
}

/**
 * Parse a raw RFC 5322 message: {headers, subject, from, to, text, html, body}; `body` = html + text.
 */
export function parseMail(raw) {
  const out = { text: '', html: '' };
  const headers = walkMime(raw, out);
  return {
    headers,
    subject: decodeWords(headers.subject || ''),
    from: decodeWords(headers.from || ''),
    to: decodeWords(headers.to || ''),
    text: out.text,
    html: out.html,
    body: out.html + '\n' + out.text,
  };
}

/** First JWT found in a text (e.g. a link in a mail body). */
export function findJwt(text) {
  const m = /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(text || '');
  return m ? m[0] : undefined;
}

/**
 * Start the sink. Returns {port, messages, waitFor(pred, timeoutMs), find(pred), close()}.
 * Each message: {mailFrom, rcptTo[], raw, ...parseMail(raw)}.
 */
export async function startSmtpSink() {
  const messages = [];
  const listeners = new Set();
  const sockets = new Set();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    let inData = false;
    let env = { mailFrom: '', rcptTo: [] };
    const reply = (s) => sock.write(s + '\r\n');
    reply('220 compat-sink ESMTP ready');
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          let raw;
          if (buf.startsWith('.\r\n')) {
            raw = '';
            buf = buf.slice(3);
          } else {
            const end = buf.indexOf('\r\n.\r\n');
            if (end < 0) return;
            raw = buf.slice(0, end);
            buf = buf.slice(end + 5);
          }
          inData = false;
          raw = raw.split('\r\n').map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n');
          const msg = { mailFrom: env.mailFrom, rcptTo: env.rcptTo, raw, ...parseMail(raw) };
          messages.push(msg);
          env = { mailFrom: '', rcptTo: [] };
          reply('250 OK queued');
          for (const l of [...listeners]) l();
          continue;
        }
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const verb = line.split(' ')[0].toUpperCase();
        if (verb === 'EHLO') sock.write('250-compat-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n');
        else if (verb === 'HELO') reply('250 compat-sink');
        else if (verb === 'MAIL') {
          env.mailFrom = addresses(line.slice(5))[0] || '';
          reply('250 OK');
        } else if (verb === 'RCPT') {
          env.rcptTo.push(addresses(line.slice(5))[0] || '');
          reply('250 OK');
        } else if (verb === 'DATA') {
          inData = true;
          reply('354 End data with <CR><LF>.<CR><LF>');
        } else if (verb === 'RSET') {
          env = { mailFrom: '', rcptTo: [] };
          reply('250 OK');
        } else if (verb === 'NOOP') reply('250 OK');
        else if (verb === 'QUIT') {
          reply('221 Bye');
          sock.end();
          return;
        } else reply('502 Command not implemented');
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  const find = (pred) => messages.filter(pred);
  const waitFor = (pred, timeoutMs = 5000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const m = messages.find(pred);
        if (m) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no matching mail within ${timeoutMs} ms (got ${messages.length}: ` +
          `${messages.map((m) => `${m.rcptTo.join(',')} "${m.subject}"`).join('; ')})`));
      }, timeoutMs);
      if (!check()) listeners.add(check);
    });
  const close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return { port: server.address().port, messages, find, waitFor, close };
}

/** Mail predicate: sent to `email` (envelope) and, optionally, with the exact `subject`. */
export function mailTo(email, subject) {
  const e = email.toLowerCase();
  return (m) => m.rcptTo.includes(e) && (subject === undefined || m.subject === subject);
}

export const MAIL_APP_NAME = 'Compat Mail App';
export const MAIL_APP_URL = 'http://app.compat.test';
export const MAIL_SENDER_NAME = 'Compat Sender';
export const MAIL_SENDER_ADDRESS = 'noreply@compat.test';

/**
 * Point the server's SMTP settings at `sink` (and set meta.appName/appURL/sender*). Returns an
 * async restore() that puts the previous smtp/meta values back.
 */
export async function useSmtpSink(su, sink) {
  const before = await su.settings.getAll();
  await su.settings.update({
    smtp: { enabled: true, host: '127.0.0.1', port: sink.port, username: '', password: '', tls: false, authMethod: '' },
    meta: { appName: MAIL_APP_NAME, appURL: MAIL_APP_URL, senderName: MAIL_SENDER_NAME, senderAddress: MAIL_SENDER_ADDRESS },
  });
  return async () => {
    const { smtp, meta } = before;
    await su.settings.update({
      smtp: { enabled: smtp.enabled, host: smtp.host, port: smtp.port, username: smtp.username, password: '', tls: smtp.tls, authMethod: smtp.authMethod, localName: smtp.localName },
      meta: { appName: meta.appName, appURL: meta.appURL, senderName: meta.senderName, senderAddress: meta.senderAddress },
    });
  };
}

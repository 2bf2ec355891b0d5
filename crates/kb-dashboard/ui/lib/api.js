// The dashboard's client for the public HTTP API: the same endpoints the SDKs use, with the
// signed-in superuser's token.

const STORAGE_KEY = 'keelbase.dashboard.session';

/** An answer other than 2xx, in the API's error format ({status, message, data}). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `Request failed (${status}).`);
    this.status = status;
    this.body = body;
    this.data = body?.data && typeof body.data === 'object' ? body.data : {};
  }

  /** The message for one input, from `data.<name>.message`, or ''. */
  fieldMessage(name) {
    return this.data?.[name]?.message || '';
  }
}

/** The signed-in superuser: token and record, kept across reloads. */
export const session = {
  token: '',
  record: null,
  listeners: new Set(),

  load() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
      if (saved?.token) Object.assign(this, { token: saved.token, record: saved.record });
    } catch {
      localStorage.removeItem(STORAGE_KEY);
    }
  },

  save(token, record) {
    this.token = token;
    this.record = record;
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ token, record }));
    this.listeners.forEach((listener) => listener());
  },

  clear() {
    this.token = '';
    this.record = null;
    localStorage.removeItem(STORAGE_KEY);
    this.listeners.forEach((listener) => listener());
  },

  get signedIn() {
    return Boolean(this.token);
  },
};

/** `path` with `query` (null and '' values left out). */
export function url(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

/**
 * Sends one request. `body` is sent as JSON unless it is FormData. Resolves to the parsed
 * JSON (null for 204) or rejects with an ApiError; a 401 on a signed-in session signs out.
 */
export async function send(method, path, { query, body, signal } = {}) {
  const headers = {};
  if (session.token) headers.Authorization = session.token;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), { method, headers, body: payload, signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, { message: 'The server cannot be reached.' });
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { message: text.slice(0, 300) };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && session.signedIn && !path.includes('/auth-')) session.clear();
    throw new ApiError(response.status, parsed);
  }
  return parsed;
}

export const api = {
  get: (path, query, signal) => send('GET', path, { query, signal }),
  post: (path, body, query) => send('POST', path, { body, query }),
  patch: (path, body, query) => send('PATCH', path, { body, query }),
  put: (path, body) => send('PUT', path, { body }),
  delete: (path, query) => send('DELETE', path, { query }),
};

/** Every collection, sorted by name. */
export async function listCollections() {
  const page = await api.get('/api/collections', { perPage: 1000, sort: 'name', skipTotal: 1 });
  return page.items;
}

export function recordsPath(collection, id) {
  const base = `/api/collections/${encodeURIComponent(collection)}/records`;
  return id ? `${base}/${encodeURIComponent(id)}` : base;
}

/** The URL of a stored file (thumb like '100x100' for images), with a file token if given. */
export function fileUrl(record, filename, { thumb, token } = {}) {
  const path = `/api/files/${encodeURIComponent(record.collectionId)}/${encodeURIComponent(record.id)}/${encodeURIComponent(filename)}`;
  return url(path, { thumb, token });
}

/**
 * Realtime: one SSE connection; `subscribe(topic, handler)` returns an unsubscribe function.
 * Subscriptions are sent again after every reconnect (the server gives a new client id).
 */
export const realtime = {
  source: null,
  clientId: '',
  handlers: new Map(),
  /** 'live' while the stream is up, 'reconnecting' while the browser retries it. */
  status: 'reconnecting',
  statusListeners: new Set(),

  /** Calls `listener(status)` now and on every change; returns a function that stops it. */
  onStatus(listener) {
    this.statusListeners.add(listener);
    listener(this.status);
    return () => this.statusListeners.delete(listener);
  },

  setStatus(status) {
    this.status = status;
    this.statusListeners.forEach((listener) => listener(status));
  },

  subscribe(topic, handler) {
    if (!this.handlers.has(topic)) this.handlers.set(topic, new Set());
    this.handlers.get(topic).add(handler);
    this.connect();
    this.sync();
    return () => {
      const set = this.handlers.get(topic);
      set?.delete(handler);
      if (set && set.size === 0) this.handlers.delete(topic);
      if (this.handlers.size === 0) this.disconnect();
      else this.sync();
    };
  },

  connect() {
    if (this.source) return;
    this.source = new EventSource('/api/realtime');
    this.source.addEventListener('PB_CONNECT', (event) => {
      this.clientId = JSON.parse(event.data).clientId;
      this.listened = new Set();
      this.setStatus('live');
      this.sync();
    });
    this.source.addEventListener('error', () => this.setStatus('reconnecting'));
  },

  disconnect() {
    this.source?.close();
    this.source = null;
    this.clientId = '';
    this.setStatus('reconnecting');
  },

  async sync() {
    if (!this.clientId) return;
    const topics = [...this.handlers.keys()];
    for (const topic of topics) {
      if (this.listened.has(topic)) continue;
      this.listened.add(topic);
      this.source.addEventListener(topic, (event) => {
        const message = JSON.parse(event.data);
        this.handlers.get(topic)?.forEach((handler) => handler(message));
      });
    }
    try {
      await api.post('/api/realtime', { clientId: this.clientId, subscriptions: topics });
    } catch {
      // The connection is being replaced; PB_CONNECT will sync again.
    }
  },
};

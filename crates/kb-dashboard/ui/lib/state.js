// What the views share: the list of collections, reloaded after any schema change.

import { api, listCollections } from './api.js';

export const state = {
  collections: [],
  listeners: new Set(),

  async reloadCollections() {
    this.collections = await listCollections();
    this.listeners.forEach((listener) => listener());
    return this.collections;
  },

  collection(nameOrId) {
    return this.collections.find((c) => c.name === nameOrId || c.id === nameOrId);
  },

  /** A file token (for protected files and backup downloads), renewed after a minute. */
  fileToken: '',
  fileTokenAt: 0,
  async ensureFileToken() {
    if (this.fileToken && Date.now() - this.fileTokenAt < 60_000) return this.fileToken;
    try {
      const { token } = await api.post('/api/files/token');
      this.fileToken = token;
      this.fileTokenAt = Date.now();
    } catch {
      this.fileToken = '';
    }
    return this.fileToken;
  },
};

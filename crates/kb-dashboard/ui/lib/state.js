// What the views share: the list of collections, reloaded after any schema change.

import { listCollections } from './api.js';

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
};

// What a collection's API looks like from a client: endpoints, who may call them, a request
// with the JavaScript SDK and an example of the JSON that comes back.

import { h } from '../lib/dom.js';
import { openDialog } from '../lib/ui.js';

function exampleValue(f) {
  switch (f.type) {
    case 'number':
      return 123;
    case 'bool':
      return true;
    case 'email':
      return 'someone@example.com';
    case 'url':
      return 'https://example.com';
    case 'date':
    case 'autodate':
      return '2026-01-01 10:00:00.000Z';
    case 'select':
      return (f.maxSelect || 1) > 1 ? (f.values || []).slice(0, 2) : (f.values || [''])[0];
    case 'relation':
      return (f.maxSelect || 1) > 1 ? ['RELATION_RECORD_ID'] : 'RELATION_RECORD_ID';
    case 'file':
      return (f.maxSelect || 1) > 1 ? ['filename.jpg'] : 'filename.jpg';
    case 'json':
      return { any: 'JSON' };
    case 'geoPoint':
      return { lon: 0, lat: 0 };
    default:
      return f.name === 'id' ? 'RECORD_ID' : 'text';
  }
}

function access(rule) {
  if (rule === null || rule === undefined) return 'superusers only';
  if (rule === '') return 'everyone';
  return `when: ${rule}`;
}

export function openApiPreview(collection) {
  const base = `/api/collections/${collection.name}/records`;
  const example = { collectionId: collection.id, collectionName: collection.name };
  for (const f of collection.fields) {
    if (f.hidden || f.type === 'password' || f.name === 'tokenKey') continue;
    example[f.name] = exampleValue(f);
  }
  const endpoints = [
    ['GET', base, 'List and search', collection.listRule, `await pb.collection('${collection.name}').getList(1, 30, { filter: '', sort: '-created' });`],
    ['GET', `${base}/:id`, 'View', collection.viewRule, `await pb.collection('${collection.name}').getOne('RECORD_ID');`],
  ];
  if (collection.type !== 'view') {
    endpoints.push(
      ['POST', base, 'Create', collection.createRule, `await pb.collection('${collection.name}').create({ /* fields */ });`],
      ['PATCH', `${base}/:id`, 'Update', collection.updateRule, `await pb.collection('${collection.name}').update('RECORD_ID', { /* fields */ });`],
      ['DELETE', `${base}/:id`, 'Delete', collection.deleteRule, `await pb.collection('${collection.name}').delete('RECORD_ID');`],
    );
  }
  if (collection.type === 'auth') {
    endpoints.push(['POST', `/api/collections/${collection.name}/auth-with-password`, 'Sign in', '', `await pb.collection('${collection.name}').authWithPassword(email, password);`]);
  }
  endpoints.push(['SSE', '/api/realtime', 'Live changes', collection.listRule, `pb.collection('${collection.name}').subscribe('*', (e) => console.log(e.action, e.record));`]);
  return openDialog({
    title: `${collection.name}: API`,
    side: true,
    wide: true,
    body: h(
      'div',
      { class: 'stack api-preview' },
      endpoints.map(([method, path, label, rule, sdk]) =>
        h(
          'section',
          { class: 'endpoint' },
          h('h3', null, h('span', { class: ['method', method.toLowerCase()] }, method), h('code', null, path)),
          h('p', null, label, ' · ', h('span', { class: 'muted' }, access(rule))),
          h('pre', null, h('code', null, sdk)),
        ),
      ),
      h('h3', null, 'A record looks like'),
      h('pre', null, h('code', null, JSON.stringify(example, null, 2))),
    ),
  });
}

// Backups and the automatic-backup cron job through the SDK: create, list, name rules,
// download with a superuser file token, delete, and a job run by hand. A server that keeps
// no backups (Keelbase on PostgreSQL, whose health check says canBackup: false) skips them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { suClient, guestClient, expectError, delay } from './helpers.js';

let pb;
let canBackup = false;
let originalBackups;

before(async () => {
  pb = await suClient();
  canBackup = (await pb.health.check()).data.canBackup === true;
  originalBackups = (await pb.settings.getAll()).backups;
});
after(async () => {
  if (!canBackup) return;
  await pb.settings.update({ backups: { cron: originalBackups.cron, cronMaxKeep: originalBackups.cronMaxKeep } });
  for (const backup of await pb.backups.getFullList()) {
    if (backup.key.startsWith('compat_') || backup.key.startsWith('@auto_')) await pb.backups.delete(backup.key);
  }
});

describe('backups', () => {
  test('are created, listed, downloaded and deleted', async (t) => {
    if (!canBackup) return t.skip('this server keeps no backups');
    await pb.backups.create('compat_one.zip');
    const listed = (await pb.backups.getFullList()).find((b) => b.key === 'compat_one.zip');
    assert.ok(listed, 'listed');
    assert.deepEqual(Object.keys(listed).sort(), ['key', 'modified', 'size']);
    assert.ok(listed.size > 1000);
    assert.match(listed.modified, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$/);

    const duplicate = await expectError(pb.backups.create('compat_one.zip'), 400);
    assert.equal(duplicate.data.name.code, 'validation_backup_name_exists');
    const invalid = await expectError(pb.backups.create('Compat One.zip'), 400);
    assert.equal(invalid.data.name.code, 'validation_match_invalid');
    await expectError(guestClient().backups.getFullList(), 401);

    const token = await pb.files.getToken();
    const download = await fetch(pb.backups.getDownloadURL(token, 'compat_one.zip'));
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'application/zip');
    const bytes = Buffer.from(await download.arrayBuffer());
    assert.equal(bytes.subarray(0, 4).toString('latin1'), 'PK\x03\x04');
    assert.equal(bytes.length, listed.size);
    const noToken = await fetch(pb.backups.getDownloadURL('', 'compat_one.zip'));
    assert.equal(noToken.status, 403);

    await pb.backups.delete('compat_one.zip');
    assert.equal((await pb.backups.getFullList()).some((b) => b.key === 'compat_one.zip'), false);
    const gone = await expectError(pb.backups.delete('compat_one.zip'), 400);
    assert.match(gone.message, /^Invalid or already deleted backup file\./);
  });

  test('the automatic backup is a cron job that can be run by hand', async (t) => {
    if (!canBackup) return t.skip('this server keeps no backups');
    const invalid = await expectError(pb.settings.update({ backups: { cron: 'every day' } }), 400);
    assert.equal(invalid.data.backups.cron.code, 'validation_invalid_cron');
    await pb.settings.update({ backups: { cron: '0 3 * * *', cronMaxKeep: 3 } });
    const jobs = await pb.crons.getFullList();
    assert.deepEqual(jobs.find((j) => j.id === '__pbAutoBackup__'), { id: '__pbAutoBackup__', expression: '0 3 * * *' });

    await pb.crons.run('__pbAutoBackup__');
    let automatic = [];
    for (let i = 0; i < 100 && !automatic.length; i += 1) {
      await delay(100);
      automatic = (await pb.backups.getFullList()).filter((b) => b.key.startsWith('@auto_pb_backup_'));
    }
    assert.equal(automatic.length, 1, 'one automatic backup');
    assert.match(automatic[0].key, /^@auto_pb_backup_[a-z0-9_]+_\d{14}\.zip$/);
    await expectError(pb.crons.run('no_such_job'), 404, 'Missing or invalid cron job.');
  });
});

// Issue 7: a namespace name can outlive its namespace. After `ip netns del
// X; ip netns add X`, a handle opened on the old X still acts in the old
// (now nameless) namespace — its socket holds it — so its applies must be
// recorded under the old namespace's inode, not under whatever /run/netns/X
// names now; and a handle on the new X must not see or prune the old one's
// claims.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { applyDesired } from '../../lib/apply.js';
import { Ipvs } from '../../lib/index.js';
import { listServices, ok, run } from './support.js';

const name = `ipvsts-renew-${process.pid}-${randomBytes(3).toString('hex')}`;
const path = `/run/netns/${name}`;
let stateDir: string;

beforeAll(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'ipvs-ts-renew-'));
});
afterAll(() => {
  if (existsSync(path)) run('ip', ['netns', 'delete', name]);
  rmSync(stateDir, { recursive: true, force: true });
});

const ipvsadmIn = (...args: string[]): string => ok(run('ip', ['netns', 'exec', name, 'ipvsadm', ...args]));
const SERVICE = { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'rr' } as const;

it('an apply through a handle on a namespace since deleted and made again is recorded under the namespace it acted in', async () => {
  ok(run('ip', ['netns', 'add', name]));
  const oldInode = statSync(path).ino;
  await using old = await Ipvs.open({ netns: name });
  expect(old.netnsInode).toBe(oldInode);

  ok(run('ip', ['netns', 'delete', name]));
  ok(run('ip', ['netns', 'add', name]));
  const newInode = statSync(path).ino;
  expect(newInode).not.toBe(oldInode);

  // The old handle still acts in the old namespace: the service lands there, and so does its record.
  const plan = await applyDesired(old, { owner: 'web', services: [SERVICE] }, { stateDir });
  expect(plan.ok).toBe(true);
  expect(plan.statePath).toBe(join(stateDir, 'apply', `netns-${oldInode}`, 'web.json'));
  expect(JSON.parse(readFileSync(plan.statePath, 'utf8'))).toMatchObject({ netnsInode: oldInode, services: ['tcp 10.0.0.1:80'] });
  expect((await old.snapshot()).map((s) => s.scheduler)).toEqual(['rr']);
  expect(listServices(ipvsadmIn('-Ln'))).toEqual([]);

  // Someone else adds a service with the same key in the new namespace: a
  // handle there finds no claims on it, so pruning leaves it alone.
  ipvsadmIn('-A', '-t', '10.0.0.1:80', '-s', 'wlc');
  await using fresh = await Ipvs.open({ netns: name });
  expect(fresh.netnsInode).toBe(newInode);
  const pruned = await applyDesired(fresh, { owner: 'web', services: [] }, { stateDir, prune: 'owned' });
  expect(pruned.statePath).toBe(join(stateDir, 'apply', `netns-${newInode}`, 'web.json'));
  expect(pruned.steps).toEqual([]);
  expect(listServices(ipvsadmIn('-Ln'))).toEqual(['TCP 10.0.0.1:80 wlc']);

  // The old namespace's record and service are untouched; its own handle prunes them.
  expect(JSON.parse(readFileSync(plan.statePath, 'utf8')).services).toEqual(['tcp 10.0.0.1:80']);
  const oldPrune = await applyDesired(old, { owner: 'web', services: [] }, { stateDir, prune: 'owned' });
  expect(oldPrune.steps.map((s) => `${s.action} ${s.target} ${s.status}`)).toEqual(['delete service done']);
  expect(await old.snapshot()).toEqual([]);
  expect(listServices(ipvsadmIn('-Ln'))).toEqual(['TCP 10.0.0.1:80 wlc']);
});

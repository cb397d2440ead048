// applyDesired against a small model of the kernel's table: the ownership
// record is trusted only where no one else can write it and only when every
// field is well formed; it is keyed by the namespace the handle's socket
// lives in; and steps that meet a change someone else made meanwhile are
// planned again from a fresh read without losing the owner's claims.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { applyDesired, describePlan, type ApplyPlan, type ApplyTarget, type DesiredService } from '../../lib/apply.js';
import { IpvsError } from '../../lib/errors.js';
import { StateFileError } from '../../lib/state-file.js';
import type { BatchOp, BatchResult, ServiceWithDestinations, SnapshotOptions } from '../../lib/types.js';

const asRoot = process.geteuid?.() === 0;
const ZERO = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

interface ModelService {
  address: string;
  port: number;
  scheduler: string;
  dests: Map<string, { address: string; port: number; weight: number }>;
}

/** IPv4 TCP services and their real servers, refusing as the kernel does (EEXIST, ESRCH, ENOENT). */
class Model {
  readonly services = new Map<string, ModelService>();
  readonly reads: SnapshotOptions[] = [];
  /** Read by read: service ids the read misses (a torn read). */
  readonly misses: string[][] = [];
  /** Run once before the next batch: someone else changing the table between the read and the send. */
  meanwhile: (() => void) | undefined;
  /** Refuse every op this says, with this errno code. */
  refuse: (op: BatchOp) => string | undefined = () => undefined;

  add(address: string, scheduler = 'wlc', dests: string[] = []): void {
    this.services.set(`tcp ${address}:80`, {
      address,
      port: 80,
      scheduler,
      dests: new Map(dests.map((d) => [`${d}:80`, { address: d, port: 80, weight: 1 }])),
    });
  }

  ids(): string[] {
    return [...this.services].flatMap(([sid, s]) => [sid, ...[...s.dests.keys()].map((d) => `${sid} -> ${d}`)]);
  }

  handle(netnsPath: string, netnsInode = 0): ApplyTarget {
    const snapshot = async (options: SnapshotOptions = {}): Promise<ServiceWithDestinations[]> => {
      this.reads.push(options);
      const miss = this.misses.shift() ?? [];
      return [...this.services]
        .filter(([sid]) => !miss.includes(sid))
        .map(([, s]) => ({
          protocol: 'tcp',
          address: s.address,
          port: s.port,
          family: 'inet',
          scheduler: s.scheduler,
          stats: ZERO,
          rates: RATES,
          destinations: [...s.dests.values()].map((d) => ({
            ...d,
            family: 'inet',
            forwarding: 'route',
            upperThreshold: 0,
            lowerThreshold: 0,
            activeConnections: 0,
            inactiveConnections: 0,
            persistentConnections: 0,
            stats: ZERO,
            rates: RATES,
          })),
        })) as ServiceWithDestinations[];
    };
    const batch = async (ops: readonly BatchOp[]): Promise<BatchResult[]> => {
      const meanwhile = this.meanwhile;
      this.meanwhile = undefined;
      meanwhile?.();
      return ops.map((op) => {
        const code = this.refuse(op) ?? this.#apply(op);
        return code ? { ok: false, error: new IpvsError(`refused (${code})`, { errno: 1, code, op: op.type }) } : { ok: true };
      });
    };
    return { netnsPath, netnsInode, snapshot, batch };
  }

  #apply(op: BatchOp): string | undefined {
    const key = op.service as { address: string; port: number };
    const sid = `tcp ${key.address}:${key.port}`;
    const s = this.services.get(sid);
    switch (op.type) {
      case 'addService':
        if (s) return 'EEXIST';
        this.services.set(sid, { address: key.address, port: key.port, scheduler: op.service.scheduler ?? 'wlc', dests: new Map() });
        return undefined;
      case 'updateService':
        if (!s) return 'ESRCH';
        s.scheduler = op.service.scheduler ?? 'wlc';
        return undefined;
      case 'deleteService':
        return this.services.delete(sid) ? undefined : 'ESRCH';
    }
    if (!s) return 'ESRCH';
    const did = `${op.destination.address}:${op.destination.port ?? 80}`;
    const d = s.dests.get(did);
    switch (op.type) {
      case 'addDestination':
        if (d) return 'EEXIST';
        s.dests.set(did, { address: op.destination.address, port: op.destination.port ?? 80, weight: op.destination.weight ?? 1 });
        return undefined;
      case 'updateDestination':
        if (!d) return 'ENOENT';
        d.weight = op.destination.weight ?? 1;
        return undefined;
      case 'deleteDestination':
        return s.dests.delete(did) ? undefined : 'ENOENT';
    }
  }
}

let dir: string;
let netnsFile: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-own-'));
  netnsFile = join(dir, 'netns');
  writeFileSync(netnsFile, '');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const svc = (address: string, dests: string[] = [], more: Partial<DesiredService> = {}): DesiredService =>
  ({ protocol: 'tcp', address, port: 80, ...more, destinations: dests.map((d) => ({ address: d })) }) as DesiredService;
const summary = (plan: ApplyPlan): string[] =>
  plan.steps.map((s) => `${s.action} ${s.target} ${s.destination ? `${s.destination.address}` : (s.service as { address: string }).address} ${s.status}`);
const record = (plan: ApplyPlan): { services: string[]; destinations: string[] } => JSON.parse(readFileSync(plan.statePath, 'utf8'));
const recordPath = (stateDir: string, owner = 'web'): string => join(stateDir, 'apply', `netns-${statSync(netnsFile).ino}`, `${owner}.json`);

const forged = (stateDir: string, claims: { services?: string[]; destinations?: string[] }, more: object = {}): string => {
  const path = recordPath(stateDir);
  mkdirSync(join(path, '..'), { recursive: true });
  const data = { format: 'ipvs-ts/apply-ownership', version: 1, owner: 'web', netnsInode: statSync(netnsFile).ino, updated: '2025-01-01T00:00:00.000Z', services: [], destinations: [], ...claims, ...more };
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
  return path;
};

const rejection = async (p: Promise<unknown>): Promise<Error> => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error;
};

describe('the ownership record is trusted only where no one else can write it', () => {
  it('a record forged in a shared folder is refused, and nothing is deleted', async () => {
    const model = new Model();
    model.add('10.0.0.1', 'wlc', ['192.168.1.1']); // someone else's
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777); // IPVS_TS_STATE_DIR in a folder every user can write
    forged(shared, { services: ['tcp 10.0.0.1:80'], destinations: ['tcp 10.0.0.1:80 -> 192.168.1.1:80'] });
    const e = await rejection(applyDesired(model.handle(netnsFile), { owner: 'web', services: [] }, { stateDir: shared, prune: 'owned' }));
    expect(e).toBeInstanceOf(StateFileError);
    expect(e.message).toBe(
      `refusing state folder ${join(shared, 'apply', `netns-${statSync(netnsFile).ino}`)}: ${shared} is writable by group or others (mode 0777) and not a root-owned sticky folder like /tmp`,
    );
    expect(model.ids()).toEqual(['tcp 10.0.0.1:80', 'tcp 10.0.0.1:80 -> 192.168.1.1:80']);
  });

  it.runIf(asRoot)('in a root-owned sticky folder (/tmp), a record or folder another user planted is refused', async () => {
    const model = new Model();
    model.add('10.0.0.1');
    const shared = join(dir, 'sticky');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const path = forged(shared, { services: ['tcp 10.0.0.1:80'] });
    chownSync(path, 4242, 4242);
    const ipvs = model.handle(netnsFile);
    const e = await rejection(applyDesired(ipvs, { owner: 'web', services: [] }, { stateDir: shared }));
    expect(e.message).toBe(`refusing state file ${path}: it is owned by uid 4242, not by root or uid 0 (this process)`);
    chownSync(path, 0, 0);
    chownSync(join(shared, 'apply'), 4242, 4242);
    expect((await rejection(applyDesired(ipvs, { owner: 'web', services: [] }, { stateDir: shared }))).message).toMatch(
      new RegExp(`^refusing state folder .*: ${join(shared, 'apply')} is owned by uid 4242, not by root or uid 0 \\(this process\\)$`),
    );
    expect(model.ids()).toEqual(['tcp 10.0.0.1:80']);
  });

  it('a record that is a link is refused', async () => {
    const model = new Model();
    const path = forged(dir, {});
    const elsewhere = join(dir, 'elsewhere.json');
    writeFileSync(elsewhere, readFileSync(path));
    rmSync(path);
    symlinkSync(elsewhere, path);
    expect((await rejection(applyDesired(model.handle(netnsFile), [], { owner: 'web', stateDir: dir }))).message).toBe(
      `refusing state file ${path}: it is a symbolic link`,
    );
  });

  it('every field is checked, every id must be one ipvs-ts writes; the message names the field', async () => {
    const model = new Model();
    model.add('10.0.0.1');
    const ino = statSync(netnsFile).ino;
    const cases: [object, string][] = [
      [{ owner: 'db' }, "owner must be 'web' (the file's name), got 'db'"],
      [{ netnsInode: ino + 1 }, `netnsInode must be ${ino} (the namespace its folder is for), got ${ino + 1}`],
      [{ version: 2 }, 'version must be 1, got 2'],
      [{ extra: true }, "unknown field 'extra'"],
      [{ updated: 'yesterday' }, "updated must be a date, got 'yesterday'"],
      [{ services: 'tcp 10.0.0.1:80' }, "services must be an array, got 'tcp 10.0.0.1:80'"],
      [{ services: ['tcp 10.0.0.1:80', 'TCP 10.0.0.1:80'] }, "services[1] must be a service id such as 'tcp 10.0.0.1:80', 'udp [2001:db8::1]:53' or 'fwmark 7', got 'TCP 10.0.0.1:80'"],
      [{ services: ['tcp 010.0.0.1:80'] }, "got 'tcp 010.0.0.1:80'"],
      [{ services: ['tcp [2001:DB8::1]:80'] }, "got 'tcp [2001:DB8::1]:80'"],
      [{ services: ['tcp 2001:db8::1:80'] }, "got 'tcp 2001:db8::1:80'"],
      [{ services: ['tcp 10.0.0.1:65536'] }, "got 'tcp 10.0.0.1:65536'"],
      [{ services: ['fwmark 0'] }, "got 'fwmark 0'"],
      [{ services: ['fwmark 4294967296'] }, "got 'fwmark 4294967296'"],
      [{ services: [7] }, 'got 7'],
      [{ destinations: ['tcp 10.0.0.1:80 -> 192.168.1.1'] }, "destinations[0] must be 'SERVICE -> ADDRESS:PORT' such as 'tcp 10.0.0.1:80 -> 10.0.0.2:80', got 'tcp 10.0.0.1:80 -> 192.168.1.1'"],
      [{ destinations: ['tcp 10.0.0.1:80->192.168.1.1:80'] }, "got 'tcp 10.0.0.1:80->192.168.1.1:80'"],
      [{ destinations: ['tcp 10.0.0.1:80 -> 192.168.1.1:80 -> 192.168.1.2:80'] }, "got 'tcp 10.0.0.1:80 -> 192.168.1.1:80 -> 192.168.1.2:80'"],
    ];
    for (const [fields, why] of cases) {
      const path = forged(dir, {}, fields);
      const e = await rejection(applyDesired(model.handle(netnsFile), { owner: 'web', services: [] }, { stateDir: dir }));
      expect(e, why).toBeInstanceOf(StateFileError);
      expect(e.message, why).toContain(`${path} is not an ipvs-ts ownership record: `);
      expect(e.message, why).toContain(why);
    }
    expect(model.ids()).toEqual(['tcp 10.0.0.1:80']);
  });

  it('a record laid out otherwise (compact JSON) reads the same as one ipvs-ts wrote', async () => {
    const model = new Model();
    model.add('10.0.0.1', 'wlc', ['192.168.1.1', '192.168.1.2']);
    model.add('10.0.0.2');
    const claims = { services: ['tcp 10.0.0.1:80', 'udp [2001:db8::1]:53', 'fwmark 7 inet6'], destinations: ['tcp 10.0.0.1:80 -> 192.168.1.1:80', 'fwmark 7 -> [2001:db8::2]:0'] };
    const path = forged(dir, claims);
    const pretty = readFileSync(path, 'utf8');
    writeFileSync(path, JSON.stringify(JSON.parse(pretty)));
    const ipvs = model.handle(netnsFile);
    const plan = await applyDesired(ipvs, { owner: 'web', services: [] }, { stateDir: dir, dryRun: true });
    writeFileSync(path, pretty);
    expect((await applyDesired(ipvs, { owner: 'web', services: [] }, { stateDir: dir, dryRun: true })).steps).toEqual(plan.steps);
    // The owned real server goes; the service stays while it holds a foreign one.
    expect(summary(plan)).toEqual(['delete destination 192.168.1.1 planned']);
    expect(plan.kept).toEqual([{ service: { protocol: 'tcp', address: '10.0.0.1', port: 80 }, reason: 'it holds real servers another tool added (192.168.1.2:80)' }]);
  });
});

describe('the namespace a record is for', () => {
  it('is the one the handle’s socket lives in (its inode), not whatever its path names now', async () => {
    const model = new Model();
    const plan = await applyDesired(model.handle(netnsFile, 4026532999), { owner: 'web', services: [svc('10.0.0.1')] }, { stateDir: dir });
    expect(plan.statePath).toBe(join(dir, 'apply', 'netns-4026532999', 'web.json'));
    expect(record(plan).services).toEqual(['tcp 10.0.0.1:80']);
    expect(JSON.parse(readFileSync(plan.statePath, 'utf8')).netnsInode).toBe(4026532999);
    // A handle that cannot tell (0: the test peer, kernels before 4.9) falls back to its path.
    const fallback = await applyDesired(model.handle(netnsFile, 0), { owner: 'web', services: [] }, { stateDir: dir });
    expect(fallback.statePath).toBe(recordPath(dir));
    expect(fallback.steps).toEqual([]); // the service is not this record's
  });
});

describe('changes made meanwhile by someone else', () => {
  it('the table is read with consistent snapshots', async () => {
    const model = new Model();
    await applyDesired(model.handle(netnsFile), { owner: 'web', services: [svc('10.0.0.1')] }, { stateDir: dir });
    await applyDesired(model.handle(netnsFile), { owner: 'web', services: [svc('10.0.0.1')] }, { stateDir: dir, dryRun: true });
    expect(model.reads).toEqual([{ consistent: true }, { consistent: true }]);
  });

  it('a read that misses an owned entry: the creation meets EEXIST, the claim stays, and a second round converges', async () => {
    const model = new Model();
    const ipvs = model.handle(netnsFile);
    const first = await applyDesired(ipvs, { owner: 'web', services: [svc('10.0.0.1', ['192.168.1.1'])] }, { stateDir: dir });
    expect(record(first)).toMatchObject({ services: ['tcp 10.0.0.1:80'], destinations: ['tcp 10.0.0.1:80 -> 192.168.1.1:80'] });

    model.misses.push(['tcp 10.0.0.1:80']); // the next read misses the service
    const plan = await applyDesired(ipvs, { owner: 'web', services: [svc('10.0.0.1', ['192.168.1.1', '192.168.1.2'], { scheduler: 'rr' })] }, { stateDir: dir });
    expect(plan.rounds).toBe(2);
    expect(plan.retried.map((s) => `${s.action} ${s.target} ${s.error?.code}`)).toEqual(['create service EEXIST', 'create destination EEXIST']);
    expect(summary(plan)).toEqual(['create destination 192.168.1.2 done', 'update service 10.0.0.1 done']);
    expect(plan.ok).toBe(true);
    expect(describePlan(plan)).toContain('= 2 step(s) met changes made meanwhile by someone else and were planned again from a fresh read (2 rounds)\n');
    // Still the owner's: the claims held before the torn read survived.
    expect(record(plan)).toMatchObject({
      services: ['tcp 10.0.0.1:80'],
      destinations: ['tcp 10.0.0.1:80 -> 192.168.1.1:80', 'tcp 10.0.0.1:80 -> 192.168.1.2:80'],
    });
    expect(model.services.get('tcp 10.0.0.1:80')?.scheduler).toBe('rr');
    const prune = await applyDesired(ipvs, { owner: 'web', services: [] }, { stateDir: dir });
    expect(summary(prune)).toEqual(['delete service 10.0.0.1 done']);
    expect(model.ids()).toEqual([]);
  });

  it('an entry someone else created between the read and the send is not claimed; the next round edits it', async () => {
    const model = new Model();
    const ipvs = model.handle(netnsFile);
    model.meanwhile = () => model.add('10.0.0.1', 'sh', ['192.168.1.1']);
    const plan = await applyDesired(ipvs, { owner: 'web', services: [svc('10.0.0.1', ['192.168.1.1', '192.168.1.2'])] }, { stateDir: dir });
    expect(plan.rounds).toBe(2);
    expect(plan.retried.map((s) => `${s.action} ${s.target} ${s.status} ${s.error?.code}`)).toEqual([
      'create service failed EEXIST',
      'create destination failed EEXIST',
    ]);
    expect(summary(plan)).toEqual(['create destination 192.168.1.2 done', 'update service 10.0.0.1 done']);
    // Only what this apply created is its owner's.
    expect(record(plan)).toMatchObject({ services: [], destinations: ['tcp 10.0.0.1:80 -> 192.168.1.2:80'] });
    await applyDesired(ipvs, { owner: 'web', services: [] }, { stateDir: dir });
    expect(model.ids()).toEqual(['tcp 10.0.0.1:80', 'tcp 10.0.0.1:80 -> 192.168.1.1:80']);
  });

  it('an update or deletion of an entry removed meanwhile is planned again from a fresh read', async () => {
    const model = new Model();
    const ipvs = model.handle(netnsFile);
    await applyDesired(ipvs, { owner: 'web', services: [svc('10.0.0.1', ['192.168.1.1']), svc('10.0.0.2')] }, { stateDir: dir });
    model.meanwhile = () => {
      model.services.get('tcp 10.0.0.1:80')!.dests.delete('192.168.1.1:80');
      model.services.delete('tcp 10.0.0.2:80');
    };
    const desired = { owner: 'web', services: [{ ...svc('10.0.0.1'), destinations: [{ address: '192.168.1.1', weight: 5 }] }] };
    const plan = await applyDesired(ipvs, desired, { stateDir: dir });
    expect(plan.retried.map((s) => `${s.action} ${s.target} ${s.error?.code}`)).toEqual(['update destination ENOENT', 'delete service ESRCH']);
    expect(summary(plan)).toEqual(['create destination 192.168.1.1 done']);
    expect(plan.rounds).toBe(2);
    expect(model.services.get('tcp 10.0.0.1:80')?.dests.get('192.168.1.1:80')?.weight).toBe(5);
    expect(record(plan)).toMatchObject({ services: ['tcp 10.0.0.1:80'], destinations: ['tcp 10.0.0.1:80 -> 192.168.1.1:80'] });
  });

  it('stops after three rounds; what still fails is reported', async () => {
    const model = new Model();
    // A table that keeps changing under the apply: the service is always created meanwhile, and gone from each read.
    model.refuse = (op) => (op.type === 'addService' ? 'EEXIST' : undefined);
    const plan = await applyDesired(model.handle(netnsFile), { owner: 'web', services: [svc('10.0.0.1')] }, { stateDir: dir });
    expect(plan.rounds).toBe(3);
    expect(plan.retried).toHaveLength(2);
    expect(summary(plan)).toEqual(['create service 10.0.0.1 failed']);
    expect(plan.ok).toBe(false);
    expect(() => readFileSync(recordPath(dir))).toThrow(); // never created: never owned
  });

  it('a refusal a fresh read cannot change is not tried again, nor are the real servers it took with it', async () => {
    const model = new Model();
    model.refuse = (op) => (op.type === 'addService' && op.service.scheduler === 'nosuch' ? 'ENOENT' : undefined);
    const plan = await applyDesired(model.handle(netnsFile), { owner: 'web', services: [svc('10.0.0.1', ['192.168.1.1'], { scheduler: 'nosuch' }), svc('10.0.0.2')] }, { stateDir: dir });
    expect(plan.rounds).toBe(1);
    expect(summary(plan)).toEqual(['create service 10.0.0.1 failed', 'create service 10.0.0.2 done', 'create destination 192.168.1.1 failed']);
    expect(plan.steps[2]?.error?.code).toBe('ESRCH');
    expect(record(plan)).toMatchObject({ services: ['tcp 10.0.0.2:80'], destinations: [] });
  });
});

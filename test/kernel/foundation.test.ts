// Issue 2: the chain from TypeScript to the kernel, handles and namespaces.
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

import { Ipvs, IpvsError } from '../../lib/index.js';
import { listServices, ok, useFreshNetns } from './support.js';

const ns = useFreshNetns();
const other = useFreshNetns();

const openFds = () => readdirSync('/proc/self/fd').length;

describe('open / info / flush', () => {
  it('info() equals the ipvsadm -Ln header in the same kernel', async () => {
    await using ipvs = await Ipvs.open({ netns: ns.name });
    const info = await ipvs.info();
    const header = ok(ns.ipvsadm('-Ln')).split('\n')[0];
    expect(header).toBe(`IP Virtual Server version ${info.version} (size=${info.connectionTableSize})`);
    expect(info).toEqual({ version: '1.2.1', connectionTableSize: 4096 });
  });

  it('flush() empties a table that ipvsadm filled', async () => {
    ok(ns.ipvsadm('-A', '-t', '10.9.0.1:80', '-s', 'rr'));
    ok(ns.ipvsadm('-A', '-u', '10.9.0.1:53', '-s', 'wlc'));
    ok(ns.ipvsadm('-A', '-f', '7', '-s', 'wlc'));
    expect(listServices(ok(ns.ipvsadm('-Ln')))).toHaveLength(3);
    await using ipvs = await Ipvs.open({ netns: ns.name });
    await ipvs.flush();
    expect(listServices(ok(ns.ipvsadm('-Ln')))).toEqual([]);
    expect(await ipvs.listServices()).toEqual([]);
  });

  it('open() on a missing namespace rejects with an IpvsError', async () => {
    const err = await Ipvs.open({ netns: 'ipvsts-no-such-namespace' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpvsError);
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, op: 'open' });
    expect((err as Error).message).toContain('/run/netns/ipvsts-no-such-namespace');
  });

  it('open() on a file that is not a namespace rejects with EINVAL', async () => {
    const err = await Ipvs.open({ netns: '/etc/hostname' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpvsError);
    expect(err).toMatchObject({ code: 'EINVAL', op: 'open' });
  });

  it('a table changed in namespace A is untouched in namespace B', async () => {
    await using a = await Ipvs.open({ netns: ns.name });
    await using b = await Ipvs.open({ netns: other.name });
    await a.addService({ protocol: 'tcp', address: '10.9.1.1', port: 443 });
    expect((await a.listServices()).map((s) => s.scheduler)).toEqual(['wlc']);
    expect(await b.listServices()).toEqual([]);
    expect(listServices(ok(other.ipvsadm('-Ln')))).toEqual([]);
    expect(listServices(ok(ns.ipvsadm('-Ln')))).toEqual(['TCP 10.9.1.1:443 wlc']);
    await a.flush();
  });
});

describe('handles', () => {
  it('1000 open()/close() cycles leave the fd count unchanged', async () => {
    const before = openFds();
    for (let i = 0; i < 1000; i++) {
      const ipvs = await Ipvs.open({ netns: ns.name });
      ipvs.close();
    }
    expect(openFds()).toBe(before);
  });

  it('an operation on a closed handle rejects with EBADF, no crash', async () => {
    const ipvs = await Ipvs.open({ netns: ns.name });
    ipvs.close();
    ipvs.close(); // idempotent
    await expect(ipvs.info()).rejects.toMatchObject({ name: 'IpvsError', code: 'EBADF' });
    await expect(ipvs.listServices()).rejects.toBeInstanceOf(IpvsError);
  });

  it('close() lets every call made before it finish, refuses the ones after, and releases the socket', async () => {
    const before = openFds();
    const ipvs = await Ipvs.open({ netns: ns.name });
    const pending = Array.from({ length: 20 }, () => ipvs.info().then(() => 'ok', (e: IpvsError) => e.code));
    ipvs.close();
    const after = ipvs.info().then(() => 'ok', (e: IpvsError) => e.code);
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 20 }, () => 'ok'));
    expect(await after).toBe('EBADF');
    expect(openFds()).toBe(before);
  });

  it('close() in the middle of a batch: the batch rejects with EBADF, and no chunk is left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const before = openFds();
      const ipvs = await Ipvs.open({ netns: ns.name });
      await using watcher = await Ipvs.open({ netns: ns.name });
      const key = (i: number) => ({ protocol: 'tcp' as const, address: '10.9.5.1', port: 1 + i });
      const ops = Array.from({ length: 20_000 }, (_, i) => ({ type: 'addService' as const, service: key(i) }));
      const outcome = ipvs.batch(ops).then(() => 'resolved', (e: IpvsError) => e);
      // Close once the first chunk is in the kernel, with the rest still to come.
      while (!(await watcher.getService(key(0)))) await new Promise((r) => setImmediate(r));
      ipvs.close();
      const e = await outcome;
      expect(e).toBeInstanceOf(IpvsError);
      expect(e).toMatchObject({ code: 'EBADF' });
      const created = (await watcher.listServices()).length;
      expect(created).toBeGreaterThan(0);
      expect(created).toBeLessThan(ops.length);
      // Whatever was in flight has settled: a later turn sees no stray rejection, and the socket is gone.
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
      await watcher.flush();
      watcher.close();
      expect(openFds()).toBe(before);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a burst of calls on one handle leaves the libuv pool to others', async () => {
    await using ipvs = await Ipvs.open({ netns: ns.name });
    let settled = 0;
    const burst = Array.from({ length: 60 }, () => ipvs.info().then(() => settled++));
    // Pool work queued after the burst: were each call waiting for its turn
    // on a pool thread, it would start only once ~57 of them had run.
    const settledWhenStatDone = await stat('/').then(() => settled);
    await Promise.all(burst);
    expect(settled).toBe(60);
    expect(settledWhenStatDone).toBeLessThan(10);
  });

  it('the native layer refuses a read command among mutations before sending any', async () => {
    const { native } = await import('../../lib/native.js');
    const { RecordWriter } = await import('../../lib/wire.js');
    const { CMD_GET_SERVICE, CMD_NEW_SERVICE } = await import('../../lib/kernel.js');
    await using ipvs = await Ipvs.open({ netns: ns.name });
    const w = new RecordWriter();
    w.serviceSpec(CMD_NEW_SERVICE, { protocol: 'tcp', address: '10.9.6.1', port: 80 });
    w.serviceKey(CMD_GET_SERVICE, { protocol: 'tcp', address: '10.9.6.1', port: 80 });
    const raw = await native().open(`/run/netns/${ns.name}`);
    try {
      expect(() => native().mutate(raw, w.records, w.names)).toThrow(/GET_SERVICE is not a mutation/);
    } finally {
      native().close(raw);
    }
    expect(await ipvs.listServices()).toEqual([]);
  });

  it('the native layer refuses a foreign object as a handle', async () => {
    const { native } = await import('../../lib/native.js');
    expect(() => native().info({} as never)).toThrow(/not an ipvs-ts native handle/);
    expect(() => native().close({ __brand: 'ipvs-ts.NativeHandle' } as never)).toThrow(TypeError);
  });

  it('many concurrent calls on one handle each resolve with their own reply', async () => {
    await using ipvs = await Ipvs.open({ netns: ns.name });
    const ports = Array.from({ length: 50 }, (_, i) => 1000 + i);
    await Promise.all(ports.map((port) => ipvs.addService({ protocol: 'tcp', address: '10.9.2.1', port, scheduler: 'rr' })));
    const got = await Promise.all(ports.map((port) => ipvs.getService({ protocol: 'tcp', address: '10.9.2.1', port })));
    expect(got.map((s) => (s && 'port' in s ? s.port : -1))).toEqual(ports);
    await ipvs.flush();
  });
});

describe('privileges', () => {
  it('without CAP_NET_ADMIN, operations reject with EPERM and say why', () => {
    // An unprivileged process in the same namespace: `nobody`, no capabilities.
    const script = `
      const { Ipvs } = await import(${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)});
      try { const ipvs = await Ipvs.open(); await ipvs.info(); console.log('no error'); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, errno: e.errno, message: e.message })); }`;
    const r = ns.exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '--input-type=module', '-e', script]);
    const out = JSON.parse(ok(r).trim()) as { name: string; code: string; errno: number; message: string };
    expect(out).toMatchObject({ name: 'IpvsError', code: 'EPERM', errno: 1 });
    expect(out.message).toMatch(/CAP_NET_ADMIN/);
  });
});

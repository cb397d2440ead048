// Faults only a scripted peer can produce (test/peer/server.h), each against
// the real native client: the exact error, the next call on the same handle
// answered correctly, and no descriptor left open.
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';

import { IpvsError } from '../../lib/errors.js';
import type { Ipvs } from '../../lib/ipvs.js';
import { TestPeer, openFds, type Fault } from '../peer/peer.js';

const { errno } = constants;
const CMD_GET_SERVICE = 4;
const CMD_GET_DEST = 8;
const CMD_GET_INFO = 15;
const SERVICES = 400; // a services dump of several datagrams
const DESTS = 2;

/** Runs `fn` on a fresh peer with a populated table; checks that every descriptor it opened is closed again. */
async function onPeer(fn: (peer: TestPeer, ipvs: Ipvs) => Promise<void>, replyTimeout = 300): Promise<void> {
  const before = openFds();
  const peer = new TestPeer();
  try {
    peer.populate(SERVICES, DESTS);
    const ipvs = await peer.open({ replyTimeout });
    try {
      await fn(peer, ipvs);
    } finally {
      ipvs.close();
    }
  } finally {
    peer.stop();
  }
  // close() drops the socket once no call is in flight; give the pool thread a moment.
  for (let i = 0; i < 100 && openFds() !== before; i++) await sleep(10);
  expect(openFds()).toBe(before);
}

async function rejection(p: Promise<unknown>): Promise<IpvsError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(IpvsError);
  return e as IpvsError;
}

/** The next call on the handle is right: the whole table, as the peer holds it. */
async function tableIsRight(ipvs: Ipvs): Promise<void> {
  const t = await ipvs.snapshot();
  expect(t).toHaveLength(SERVICES);
  expect(t.every((s) => s.destinations.length === DESTS)).toBe(true);
  expect((await ipvs.info()).version).toBe('1.2.1');
}

function fault(peer: TestPeer, f: Fault): void {
  peer.fault(f);
}

describe('faults of the netlink peer', () => {
  it('a reply cut inside an attribute: EPROTO in words, and the dump is not left half read', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'truncate', cmd: CMD_GET_SERVICE });
      const e = await rejection(ipvs.listServices());
      expect(e).toMatchObject({ code: 'EPROTO', errno: errno.EPROTO, op: 'listServices' });
      expect(e.message).toMatch(/^malformed reply from the kernel: /);
      console.log(e.message);
      await tableIsRight(ipvs);
    });
  });

  it('NLMSG_ERROR in the middle of a dump: that error, nothing waits for the missing DONE', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'errorMidDump', cmd: CMD_GET_SERVICE, after: 2, error: errno.ENOMEM });
      const e = await rejection(ipvs.listServices());
      expect(e).toMatchObject({ code: 'ENOMEM', errno: errno.ENOMEM, op: 'listServices' });
      await tableIsRight(ipvs);
    });
  });

  it('a dump without NLMSG_DONE: the reply timeout, then the next call is right', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'noDone', cmd: CMD_GET_SERVICE });
      const e = await rejection(ipvs.listServices());
      expect(e).toMatchObject({ code: 'ETIMEDOUT', errno: errno.ETIMEDOUT, op: 'listServices' });
      expect(e.message).toBe('no reply within 300 ms (the reply timeout)');
      await tableIsRight(ipvs);
    });
  });

  it.each(['wrongSeq', 'wrongPort'] as const)('%s: a stray reply is skipped; alone, it times out', async (kind) => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind, cmd: CMD_GET_INFO, thenCorrect: true });
      expect(await ipvs.info()).toEqual({ version: '1.2.1', connectionTableSize: 4096 });
      fault(peer, { kind, cmd: CMD_GET_SERVICE, thenCorrect: true });
      expect(await ipvs.listServices()).toHaveLength(SERVICES);
      fault(peer, { kind, cmd: CMD_GET_INFO });
      expect(await rejection(ipvs.info())).toMatchObject({ code: 'ETIMEDOUT', op: 'info' });
      await tableIsRight(ipvs);
    });
  });

  it('ENOBUFS (receive overrun): the overrun in words; the replies left queued are skipped', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'errno', error: errno.ENOBUFS, cmd: CMD_GET_INFO });
      const e = await rejection(ipvs.info());
      expect(e).toMatchObject({ code: 'ENOBUFS', errno: errno.ENOBUFS, op: 'info' });
      expect(e.message).toBe('netlink receive buffer overrun: the kernel dropped replies');
      fault(peer, { kind: 'errno', error: errno.ENOBUFS, cmd: CMD_GET_SERVICE });
      expect(await rejection(ipvs.listServices())).toMatchObject({ code: 'ENOBUFS', op: 'listServices' });
      await tableIsRight(ipvs);
    });
  });

  it('ENOBUFS inside an io_uring chain of destination dumps: the dumps are redone one by one', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'errno', error: errno.ENOBUFS, cmd: CMD_GET_DEST, skip: 5 });
      await tableIsRight(ipvs);
      expect(peer.counts().faults).toBe(1);
    });
  });

  it('EINTR: the receive is retried, the call succeeds', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'errno', error: errno.EINTR, cmd: CMD_GET_INFO });
      fault(peer, { kind: 'errno', error: errno.EINTR, cmd: CMD_GET_SERVICE });
      expect((await ipvs.info()).version).toBe('1.2.1');
      expect(await ipvs.listServices()).toHaveLength(SERVICES);
      expect(peer.counts().faults).toBe(2);
    });
  });

  it('a peer that stops answering: ETIMEDOUT after the reply timeout, in a plain call and in a chain', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'silence', cmd: CMD_GET_INFO });
      const started = Date.now();
      expect(await rejection(ipvs.info())).toMatchObject({ code: 'ETIMEDOUT', op: 'info' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      fault(peer, { kind: 'silence', cmd: CMD_GET_DEST, skip: 40 });
      expect(await rejection(ipvs.snapshot())).toMatchObject({ code: 'ETIMEDOUT', op: 'snapshot' });
      await tableIsRight(ipvs);
    });
  });

  it('the peer closing mid-call: ECONNRESET, and so does every later call, none hangs', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'close', cmd: CMD_GET_DEST, skip: 3 });
      const e = await rejection(ipvs.snapshot());
      expect(e).toMatchObject({ code: 'ECONNRESET', errno: errno.ECONNRESET, op: 'snapshot' });
      expect(e.message).toBe('the netlink peer closed the connection');
      expect(await rejection(ipvs.info())).toMatchObject({ code: 'ECONNRESET', op: 'info' });
      expect(await rejection(ipvs.listServices())).toMatchObject({ code: 'ECONNRESET', op: 'listServices' });
    });
  });

  it('a dump that repeats entries, as IPVS does when it resumes by position after an insertion: each entry once', async () => {
    await onPeer(async (peer, ipvs) => {
      fault(peer, { kind: 'repeat', cmd: CMD_GET_SERVICE });
      const services = await ipvs.listServices();
      expect(services).toHaveLength(SERVICES);
      fault(peer, { kind: 'repeat', cmd: CMD_GET_SERVICE });
      fault(peer, { kind: 'repeat', cmd: CMD_GET_DEST, skip: 7 });
      await tableIsRight(ipvs);
      expect(peer.counts().faults).toBe(3);
    });
  });

  it('a handle closed with 1 000 calls in flight: each settles, in order; later calls reject EBADF', async () => {
    await onPeer(async (_peer, ipvs) => {
      const order: number[] = [];
      const calls = Array.from({ length: 1000 }, (_, i) =>
        (i % 3 === 0 ? ipvs.info() : i % 3 === 1 ? ipvs.getTimeouts() : ipvs.listDaemons()).then(() => order.push(i)),
      );
      ipvs.close();
      await Promise.all(calls);
      expect(order).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      expect(await rejection(ipvs.info())).toMatchObject({ code: 'EBADF', op: 'info' });
    });
  });
});

// Issue 3, concurrency: "each call resolves with its own reply" — also when
// the kernel sends none. A sync daemon stopped before its kernel thread first
// ran: stop_sync_thread() returns kthread_stop()'s -EINTR, and
// netlink_rcv_skb() sends no ACK at all for a handler that returns -EINTR
// (net/netlink/af_netlink.c). The daemon is stopped all the same. A client
// that waited for that ACK would wait forever, and so would every later call
// on the handle; ipvs-ts ends each window of requests with a barrier instead.
// On the one-CPU guest, a stop sent right behind a start (no turn of the event
// loop between them) reaches the kernel before the new thread runs.
//
// Kept in a file of its own: should the bug come back, the handle it uses
// stays stuck for good.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs } from '../../lib/index.js';
import { daemonsByIpvsadm } from './api-ipvsadm.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns();
let ipvs: Ipvs;

beforeAll(async () => {
  const script = ['link set lo up', 'link add sync0 type veth peer name sync1', 'link set sync0 up', 'link set sync1 up'].join('\n');
  ok(ns.exec('ip', ['-batch', '-'], { input: `${script}\n` }));
  ipvs = await Ipvs.open({ netns: ns.name });
});
afterAll(() => ipvs?.close());

/** Resolves to the outcome of `p`, or to 'no answer' after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<{ settled: true; value?: T; error?: unknown } | { settled: false }> {
  return Promise.race([
    p.then(
      (value) => ({ settled: true as const, value }),
      (error: unknown) => ({ settled: true as const, error }),
    ),
    new Promise<{ settled: false }>((r) => setTimeout(() => r({ settled: false }), ms).unref()),
  ]);
}

describe('sync daemons: a stop right behind a start', () => {
  it('stopDaemon settles (the kernel stops the daemon but sends no ACK when its thread has not run yet)', async () => {
    for (let round = 0; round < 5; round++) {
      const start = ipvs.startDaemon({ state: 'master', interface: 'sync0', syncId: round });
      const stop = ipvs.stopDaemon('master');
      expect(await within(start, 10_000), `round ${round}: startDaemon`).toMatchObject({ settled: true });
      const outcome = await within(stop, 10_000);
      // The kernel did stop it, whatever the client heard.
      expect(daemonsByIpvsadm(ns), `round ${round}: daemons after the stop`).toEqual([]);
      expect(outcome, `round ${round}: stopDaemon right after startDaemon never settled`).toMatchObject({ settled: true });
    }
  });
});

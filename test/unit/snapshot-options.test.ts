// snapshot()'s options, and the fingerprint a consistent read compares: the
// same table reads the same whatever its counters do; any change of a
// service, destination or setting reads differently.
import { describe, expect, it } from 'vitest';

import { tableFingerprint } from '../../lib/wire.js';
import { TestPeer } from '../peer/peer.js';

describe('snapshot({ consistent, maxReads })', () => {
  it('refuses bad options in words, before anything is sent', async () => {
    using peer = new TestPeer();
    const ipvs = await peer.open();
    const before = peer.counts().datagrams;
    await expect(ipvs.snapshot({ consistent: 'yes' as unknown as boolean })).rejects.toThrow(
      new TypeError("options.consistent must be true or false, got 'yes'"),
    );
    await expect(ipvs.snapshot({ consistent: true, maxReads: 1 })).rejects.toThrow(
      new RangeError('options.maxReads must be an integer 2–100, got 1'),
    );
    await expect(ipvs.snapshot({ consistnt: true } as never)).rejects.toThrow(/options has an unknown property 'consistnt' \(did you mean 'consistent'\?\)/);
    expect(peer.counts().datagrams).toBe(before);
    ipvs.close();
  });

  it('on a table that holds still: two reads, the same table as a plain read', async () => {
    using peer = new TestPeer();
    peer.populate(300, 3);
    const ipvs = await peer.open();
    const plain = await ipvs.snapshot();
    const before = peer.counts().datagrams;
    const consistent = await ipvs.snapshot({ consistent: true });
    // Each read: one services dump and one destination dump per service.
    expect(peer.counts().datagrams - before).toBe(2 * (1 + 300));
    expect(consistent).toEqual(plain);
    ipvs.close();
  });
});

describe('tableFingerprint', () => {
  const R = 40; // words per record (native/ipvs/records.h)
  const reply = (edit?: (w: Uint32Array) => void) => {
    const words = new Uint32Array(R * 3);
    words[0] = 2; // a service with two destinations
    words[1] = 2; // AF_INET
    words[R + 7] = 100; // destination weight
    words[2 * R + 7] = 50;
    edit?.(words);
    return { records: words.buffer, length: words.byteLength, names: ['wlc'] };
  };

  it('ignores counters, rates and connection counts', () => {
    const a = tableFingerprint(reply());
    const b = tableFingerprint(
      reply((w) => {
        w[R + 14] = 7; // active connections
        w[R + 15] = 9; // inactive
        w[R + 18] = 1; // has stats
        for (let i = 20; i < 40; i++) w[R + i] = i * 1000; // stats and rates
      }),
    );
    expect(b).toBe(a);
  });

  it('sees a weight, a scheduler name or an entry more', () => {
    const a = tableFingerprint(reply());
    expect(tableFingerprint(reply((w) => (w[R + 7] = 101)))).not.toBe(a);
    expect(tableFingerprint({ ...reply(), names: ['rr'] })).not.toBe(a);
    const shorter = reply();
    expect(tableFingerprint({ ...shorter, length: R * 2 * 4 })).not.toBe(a);
  });
});

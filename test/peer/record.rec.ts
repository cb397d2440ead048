// Records test/peer/fixtures/*.json from the real kernel: each scenario of
// scenarios.ts runs through a proxy peer (server.h, Proxy) whose netlink
// socket lives in a fresh network namespace, and every request datagram with
// the kernel's reply datagrams is written down. Run by
// scripts/record-peer-fixtures.mjs (inside User-Mode Linux when the host
// kernel has no IPVS), never by npm test.
import { writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';

import { ok, useFreshNetns } from '../kernel/support.js';
import { TestPeer, recordingToJson } from './peer.js';
import { scenarios } from './scenarios.js';

const spaces = Object.fromEntries(Object.keys(scenarios).map((name) => [name, useFreshNetns()]));

for (const [name, scenario] of Object.entries(scenarios)) {
  it(`records ${name}`, async () => {
    const ns = spaces[name]!;
    for (const args of scenario.setup) ok(ns.exec('ip', args));
    const peer = new TestPeer({ mode: 'proxy', netns: ns.path });
    try {
      const ipvs = await peer.open();
      const result = await scenario.run(ipvs, { settle: (ms) => sleep(ms) });
      ipvs.close();
      const exchanges = peer.exchanges();
      // The first request after the family lookup carries the family's id.
      const familyId = Buffer.from(exchanges[1]!.request).readUInt16LE(4);
      expect(familyId).toBeGreaterThan(0x10);
      const file = new URL(`./fixtures/${name}.json`, import.meta.url);
      writeFileSync(file, recordingToJson({ scenario: name, kernel: release(), familyId, result, exchanges }));
    } finally {
      peer.stop();
    }
  });
}

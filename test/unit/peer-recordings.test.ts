// The netlink test peer against the real kernel's own words: every scenario
// of test/peer/scenarios.ts was recorded from Linux 6.1 (User-Mode Linux) by
// scripts/record-peer-fixtures.mjs. Here, on the host:
//  - replayed, the client sends exactly the recorded requests, byte for
//    byte, and reaches exactly the recorded outcomes (errors in words too);
//  - the IPVS model (test/peer/model.cc) answers each recorded request with
//    exactly the recorded reply datagrams, and runs each scenario to the
//    same outcomes.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { TestPeer, peerBinding, readRecording } from '../peer/peer.js';
import { SCENARIO_INTERFACES, scenarios } from '../peer/scenarios.js';

const fixtures = new URL('../peer/fixtures/', import.meta.url);
const names = readdirSync(fixtures)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length));
const noWait = { settle: async () => {} };

it('has a recording of every scenario, and a scenario for every recording', () => {
  expect(names.sort()).toEqual(Object.keys(scenarios).sort());
});

describe.each(names)('%s', (name) => {
  const recording = readRecording(new URL(`${name}.json`, fixtures));
  const scenario = scenarios[name]!;

  it('replays byte for byte with the recorded outcome', async () => {
    using peer = new TestPeer({ mode: 'replay', exchanges: recording.exchanges });
    const ipvs = await peer.open({ replyTimeout: 2000 });
    const result = await scenario.run(ipvs, noWait);
    ipvs.close();
    expect(peer.replayState()).toEqual({ played: recording.exchanges.length, total: recording.exchanges.length, mismatches: [] });
    expect(result).toEqual(recording.result);
  });

  it('the model answers every recorded request with the recorded datagrams', () => {
    const check = peerBinding().checkModel({ familyId: recording.familyId, interfaces: SCENARIO_INTERFACES }, recording.exchanges);
    expect(check.mismatches).toEqual([]);
  });

  it('the model gives the recorded outcome', async () => {
    const { salt } = peerBinding().checkModel({ familyId: recording.familyId, interfaces: SCENARIO_INTERFACES }, recording.exchanges);
    using peer = new TestPeer({ familyId: recording.familyId, interfaces: SCENARIO_INTERFACES, hashSalt: salt });
    const ipvs = await peer.open();
    const result = await scenario.run(ipvs, noWait);
    ipvs.close();
    expect(result).toEqual(recording.result);
  });
});

#!/usr/bin/env node
// The bench's hands: runs the commands scripts/bench.mjs asks for (ip, nsenter
// ipvsadm) and times them, so that the measuring process itself never forks.
// A fork marks every page of the forking process copy-on-write, and each page
// it writes afterwards faults once; in User-Mode Linux that is ~190 us a page,
// and a fork between two snapshot() calls made the second one 100 ms slower.
//
// Protocol: one JSON request per stdin line, { id, cmd, args, input? }; one
// JSON answer per stdout line, { id, status, ms, stderr }.
import { spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

for await (const line of createInterface({ input: process.stdin })) {
  const { id, cmd, args, input } = JSON.parse(line);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(`${JSON.stringify({ id, status: r.status, ms, stderr: r.stderr || String(r.error ?? '') })}\n`);
}

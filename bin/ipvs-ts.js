#!/usr/bin/env node
// The ipvs-ts command (lib/cli/main.ts, built into dist/).
import { main } from '../dist/cli/main.js';

// A reader that stops early (`ipvs-ts adm -Ln | head`): end quietly, with the
// status a shell gives a program killed by SIGPIPE, as ipvsadm would be.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(141);
    throw e;
  });
}

process.exitCode = await main(process.argv.slice(2));

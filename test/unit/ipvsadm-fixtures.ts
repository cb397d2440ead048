// Loads the golden ipvsadm 1.31 outputs that test/unit/fixtures/ipvsadm/capture.sh
// took in User-Mode Linux, and table.json, the same table in ipvs-ts's types.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Daemon, Info, ServiceWithDestinations, Timeouts } from '../../lib/types.js';

export const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ipvsadm');

/** stdout of one captured ipvsadm command (`out/NAME.txt`). */
export function golden(name: string): string {
  return readFileSync(join(fixtureDir, 'out', `${name}.txt`), 'utf8');
}

/** A text file of the fixture folder. */
export function fixtureText(name: string): string {
  return readFileSync(join(fixtureDir, name), 'utf8');
}

const COUNTERS = new Set(['conns', 'inPkts', 'outPkts', 'inBytes', 'outBytes']);

export interface CapturedTable {
  info: Info;
  timeouts: Timeouts;
  daemons: Daemon[];
  services: ServiceWithDestinations[];
}

/** table.json with its counters as bigints again. */
export function capturedTable(): CapturedTable {
  return JSON.parse(fixtureText('table.json'), (key, value: unknown) =>
    COUNTERS.has(key) && typeof value === 'string' ? BigInt(value) : value,
  ) as CapturedTable;
}

/** One line of errors.txt fed alone to `ipvsadm -R` on an empty table. */
export interface ErrorCase {
  line: string;
  status: number;
  stderr: string;
  save: string;
}

export function errorCases(): ErrorCase[] {
  return JSON.parse(fixtureText('errors.json')) as ErrorCase[];
}


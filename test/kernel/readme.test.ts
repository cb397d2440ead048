// The README's JavaScript example, run as it stands: a plain .mjs file on
// this node (20 in the guest), as root, in a namespace of its own, against
// the real kernel. It must run to the end and leave the three weighted real
// servers in the table.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';

import { listServices, ok, useFreshNetns } from './support.js';

const repo = path.resolve(import.meta.dirname, '../..');
const ns = useFreshNetns('ipvsts-readme');
const dir = mkdtempSync(path.join(tmpdir(), 'ipvs-readme-js-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('the README JavaScript runs on node as plain .mjs and does what it says', () => {
  const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(example).toBeTruthy();
  // The package as a user imports it (the built dist/, ES module).
  const file = path.join(dir, 'director.mjs');
  writeFileSync(file, example!.replace("from 'ipvs-ts'", `from ${JSON.stringify(path.join(repo, 'dist/index.js'))}`));
  // Real servers the kernel can route to.
  ok(ns.exec('ip', ['link', 'add', 'rs0', 'type', 'dummy']));
  ok(ns.exec('ip', ['link', 'set', 'rs0', 'up']));
  ok(ns.exec('ip', ['addr', 'add', '10.0.0.1/24', 'dev', 'rs0']));
  const out = ok(ns.exec(process.execPath, [file]));
  expect(out).toBe("wlc 0n [ [ '10.0.0.13', 800 ], [ '10.0.0.12', 500 ], [ '10.0.0.11', 1000 ] ]\n");
  expect(listServices(ok(ns.ipvsadm('-Ln')))).toEqual(['TCP 192.0.2.10:22136 wlc']);
  expect(ok(ns.ipvsadm('-Ln')).match(/-> 10\.0\.0\.1\d:22136\s+Route\s+\d+/g)).toHaveLength(3);
});

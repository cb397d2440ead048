// A namespace path is checked before it is opened (native/nl/netns.cc): a
// FIFO would block the pool thread for ever (and process.exit with it), a
// device would be opened for real. Each is refused at once, in words; none
// of this needs IPVS (the check comes before the socket is made).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IpvsError } from '../../lib/errors.js';
import { Ipvs } from '../../lib/ipvs.js';

let dir = '';
let fifo = '';
let plain = '';
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-netns-paths-'));
  fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  plain = path.join(dir, 'plain');
  writeFileSync(plain, 'not a namespace');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(netns: string): Promise<IpvsError> {
  const e = await Ipvs.open({ netns }).then(
    (h) => {
      h.close();
      return undefined;
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(IpvsError);
  return e as IpvsError;
}

describe('Ipvs.open({ netns }) refuses what is not a network namespace file, before opening it', () => {
  it('a FIFO: EINVAL at once, not a hang', async () => {
    const started = Date.now();
    const e = await refusal(fifo);
    expect(e).toMatchObject({ code: 'EINVAL', op: 'open' });
    expect(e.message).toBe(`network namespace ${fifo}: not a namespace file (a FIFO)`);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('four FIFOs at once leave the libuv pool free for fs work', async () => {
    const opens = [fifo, fifo, fifo, fifo].map((f) => refusal(f));
    await stat(dir); // would wait behind four stuck pool threads
    expect((await Promise.all(opens)).map((e) => e.code)).toEqual(['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL']);
  });

  it('a device is never opened', async () => {
    const e = await refusal('/dev/null');
    expect(e).toMatchObject({ code: 'EINVAL' });
    expect(e.message).toBe('network namespace /dev/null: not a namespace file (a character device)');
    // /dev/null's access time would move if it had been opened and read; opening alone
    // leaves no trace, so the check is the message: the stat() before open() refused it.
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('a regular file that is not on nsfs, and a folder', async () => {
    expect((await refusal(plain)).message).toBe(`network namespace ${plain}: not a namespace file`);
    expect((await refusal(dir)).message).toBe(`network namespace ${dir}: not a namespace file (a directory)`);
  });

  it('a namespace of another kind', async () => {
    const e = await refusal('/proc/self/ns/mnt');
    expect(e).toMatchObject({ code: 'EINVAL' });
    expect(e.message).toBe('network namespace /proc/self/ns/mnt: not a network namespace (a mount namespace)');
  });

  it('a missing path keeps its own errno', async () => {
    const e = await refusal(path.join(dir, 'missing'));
    expect(e).toMatchObject({ code: 'ENOENT', errno: 2 });
    expect(e.message).toBe(`network namespace ${path.join(dir, 'missing')}: No such file or directory`);
  });
});

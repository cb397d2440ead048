// Progress of long restores and applies: drawn on standard error only when it is a terminal.
import { describe, expect, it } from 'vitest';

import { progress } from '../../lib/cli/io.js';

const io = (isTTY: boolean) => {
  let err = '';
  return { io: { stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s), isTTY }, readStdin: async () => '' }, err: () => err };
};

describe('progress', () => {
  it('draws and erases a line on a terminal, always showing the end', () => {
    const t = io(true);
    const bar = progress(t.io, 'apply');
    bar.update(1000, 3000);
    bar.update(2000, 3000); // within 100 ms of the last: skipped
    bar.update(3000, 3000);
    bar.end();
    expect(t.err()).toBe('\rapply: 1000/3000\x1b[K\rapply: 3000/3000\x1b[K\r\x1b[K');
  });

  it('writes nothing when standard error is not a terminal', () => {
    const t = io(false);
    const bar = progress(t.io, 'restore');
    bar.update(5, 10);
    bar.update(10, 10);
    bar.end();
    expect(t.err()).toBe('');
  });
});

/**
 * Where the CLI reads and writes: the process's streams, or buffers in
 * tests. Commands never exit the process; they return a status.
 *
 * @internal
 * @module
 */

import { readFile } from 'node:fs/promises';

/** A text sink. */
export interface CliOutput {
  write(text: string): unknown;
  /** True on a terminal: progress is drawn only there. */
  isTTY?: boolean;
}

/** The CLI's surroundings. */
export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** All of standard input as text. */
  readStdin(): Promise<string>;
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** Reads a file, or standard input for `-`. */
export async function readInput(io: CliIo, file: string): Promise<string> {
  return file === '-' ? io.readStdin() : readFile(file, 'utf8');
}

/**
 * A progress line on standard error (`label: 1200/5000`), drawn only when it
 * is a terminal and at most ten times a second; erased by `end()`.
 */
export function progress(io: CliIo, label: string): { update(done: number, total: number): void; end(): void } {
  const tty = io.stderr.isTTY === true;
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      if (!tty) return;
      const now = Date.now();
      if (done < total && now - last < 100) return;
      last = now;
      drawn = true;
      io.stderr.write(`\r${label}: ${done}/${total}\x1b[K`);
    },
    end() {
      if (drawn) io.stderr.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/**
 * Where the CLI reads and writes: the process's streams, or buffers in
 * tests. Commands never exit the process; they return a status.
 *
 * @internal
 * @module
 */

import { open } from 'node:fs/promises';

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

/** The most a command reads from a file or standard input: a desired state of 100 000 services is ~20 MiB. */
export const INPUT_MAX_BYTES = 64 * 1024 * 1024;

/** A file or standard input that cannot be read, in words (the CLI exits 2). */
export class InputError extends Error {}

const tooLarge = (what: string): InputError =>
  new InputError(`${what}: larger than ${INPUT_MAX_BYTES / 1024 / 1024} MiB, the most ipvs-ts reads`);

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of process.stdin) {
        size += (chunk as Buffer).length;
        if (size > INPUT_MAX_BYTES) throw tooLarge('standard input');
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

function reason(e: unknown): string {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a folder, not a file';
    default:
      return (e as Error).message;
  }
}

/**
 * Reads a file, or standard input for `-`, as UTF-8 text: at most
 * {@link INPUT_MAX_BYTES} (a device such as /dev/zero never ends), and any
 * failure as an {@link InputError} naming the file.
 */
export async function readInput(io: CliIo, file: string): Promise<string> {
  if (file === '-') return io.readStdin();
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    throw new InputError(`${file}: ${reason(e)}`);
  }
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(1024 * 1024);
      let bytesRead;
      try {
        ({ bytesRead } = await handle.read(chunk, 0, chunk.length, null));
      } catch (e) {
        throw new InputError(`${file}: ${reason(e)}`);
      }
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > INPUT_MAX_BYTES) throw tooLarge(file);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await handle.close();
  }
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

/**
 * State files that root's later runs act on (the apply ownership records,
 * the real-server setup record), kept where other users must not be able to
 * plant, forge or redirect them.
 *
 * Rules, the same for every state file:
 *
 * - **Folders**: every folder from `/` down to the file's must be owned by
 *   root or by this process's effective uid and writable by neither group
 *   nor others — except a root-owned sticky folder such as `/tmp`, where
 *   others cannot rename or remove what is not theirs. Symbolic links on the
 *   way are followed only when they are owned by root or the effective uid
 *   (their folder passed the same checks); the checks then go on from the
 *   target, and every later operation uses the path with no link left in it.
 *   Missing folders are created one at a time (mode 0755), never through a
 *   link, and checked after they were made.
 * - **Reading**: opened with `O_NOFOLLOW | O_NONBLOCK` (a link or a FIFO
 *   planted there is refused, not followed or waited on); the opened
 *   descriptor must be a regular file with one link, owned by root or the
 *   effective uid, writable by neither group nor others, and no larger than
 *   the caller's cap. The text must be UTF-8.
 * - **Writing**: a temporary file with a random name, created with
 *   `O_CREAT | O_EXCL | O_NOFOLLOW`, written, `fsync`ed, renamed over the
 *   file, then the folder `fsync`ed: the file is always whole, old or new.
 * - **Claiming**: {@link createStateFile} creates the file itself
 *   exclusively, so that of two processes only one gets it.
 *
 * @internal
 * @module
 */

// A statement of its own first: the module's @internal above must not attach
// to the first declaration (stripInternal would drop it from the .d.ts).
export {};
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readlink, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants;
const S_ISVTX = 0o1000;
/** The most symbolic links followed on the way to a folder, as the kernel's own limit. */
const MAX_LINKS = 40;

/** A state file or folder that is unsafe to use, malformed, or missing where it is needed. */
export class StateFileError extends Error {
  /**
   * @param message - What is wrong, in words, naming the path.
   * @param path - The state file or folder concerned.
   */
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'StateFileError';
  }
}

const euid = (): number => process.geteuid?.() ?? 0;
const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/** Why the owner of `st` is not trusted, or undefined when it is (root or the effective uid). */
function foreignOwner(st: Stats): string | undefined {
  const me = euid();
  if (st.uid === 0 || st.uid === me) return undefined;
  return `owned by uid ${st.uid}, not by root or uid ${me} (this process)`;
}

/** Why folder `st` is unsafe to keep state in, or undefined when it is safe. */
function unsafeFolder(st: Stats): string | undefined {
  const owner = foreignOwner(st);
  if (owner) return owner;
  if ((st.mode & 0o022) !== 0 && !(st.uid === 0 && (st.mode & S_ISVTX) !== 0)) {
    return `writable by group or others (mode ${octal(st.mode)}) and not a root-owned sticky folder like /tmp`;
  }
  return undefined;
}

/** The path made absolute, without resolving `..` by name (a link may stand before it). */
function absolute(path: string): string {
  return isAbsolute(path) ? path : join(process.cwd(), path);
}

/**
 * Checks every folder from `/` down to `folder` (see the module's rules)
 * and returns its path with no symbolic link left in it; with `create`,
 * makes the missing folders one at a time (mode 0755). Without `create`, a
 * missing folder gives `undefined`.
 *
 * @param folder - The state folder.
 * @param options - `create`: make missing folders.
 * @returns The checked real path, or undefined when missing and not created.
 * @throws StateFileError naming the folder and what is wrong with it.
 */
export async function secureFolder(folder: string, options: { create: boolean }): Promise<string | undefined> {
  const wanted = absolute(folder);
  const refuse = (at: string, clause: string): StateFileError =>
    new StateFileError(`refusing state folder ${wanted}: ${at === wanted ? 'it' : at} ${clause}`, wanted);
  let current = '/';
  const rootStat = await lstat('/');
  const rootProblem = unsafeFolder(rootStat);
  if (rootProblem) throw refuse('/', `is ${rootProblem}`);
  const pending = wanted.split('/').filter((s) => s !== '' && s !== '.');
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '..') {
      current = dirname(current); // every folder above was checked already
      continue;
    }
    const next = join(current, name);
    let st: Stats;
    try {
      st = await lstat(next);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (!options.create) return undefined;
      try {
        // One component, never recursive: mkdir does not follow a link in its last component.
        await mkdir(next, { mode: 0o755 });
      } catch (made) {
        if ((made as NodeJS.ErrnoException).code !== 'EEXIST') throw made;
      }
      st = await lstat(next);
      if (st.isSymbolicLink()) throw refuse(next, 'appeared as a symbolic link while it was being created');
    }
    if (st.isSymbolicLink()) {
      const owner = foreignOwner(st);
      if (owner) throw refuse(next, `is a symbolic link ${owner}`);
      if (++links > MAX_LINKS) throw refuse(next, `leads through more than ${MAX_LINKS} symbolic links`);
      const target = await readlink(next);
      if (isAbsolute(target)) current = '/';
      pending.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
      continue;
    }
    if (!st.isDirectory()) throw refuse(next, 'is not a folder');
    const problem = unsafeFolder(st);
    if (problem) throw refuse(next, `is ${problem}`);
    current = next;
  }
  return current;
}

/** The checked folder of `path` and the file's name in it. */
async function locate(path: string, create: boolean): Promise<{ folder: string; file: string } | undefined> {
  const name = basename(path);
  if (name === '' || name === '.' || name === '..' || path.endsWith('/')) throw new StateFileError(`state file ${path} does not name a file`, path);
  const folder = await secureFolder(dirname(absolute(path)), { create });
  return folder === undefined ? undefined : { folder, file: join(folder, name) };
}

/** Makes a rename or a new name in `folder` durable. Filesystems that cannot sync a folder (EINVAL) are let be. */
async function syncFolder(folder: string): Promise<void> {
  const fh = await open(folder, O_RDONLY | O_DIRECTORY);
  try {
    await fh.sync();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
  } finally {
    await fh.close();
  }
}

/** Writes every chunk and syncs the file. */
async function writeAll(fh: FileHandle, content: string | AsyncIterable<string> | Iterable<string>): Promise<void> {
  if (typeof content === 'string') await fh.writeFile(content, 'utf8');
  else for await (const chunk of content) await fh.write(chunk, null, 'utf8');
  await fh.sync();
}

/**
 * Reads a state file, checked as the module says.
 *
 * @param path - The state file.
 * @param options - `maxBytes`: the largest file accepted.
 * @returns Its text, or undefined when it (or its folder) does not exist.
 * @throws StateFileError when the file or a folder on its way is unsafe, too large or not UTF-8.
 */
export async function readStateFile(path: string, options: { maxBytes: number }): Promise<string | undefined> {
  const where = await locate(path, false);
  if (!where) return undefined;
  let fh: FileHandle;
  try {
    fh = await open(where.file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new StateFileError(`refusing state file ${path}: it is a symbolic link`, path);
    throw e;
  }
  try {
    const st = await fh.stat();
    const refuse = (why: string): StateFileError => new StateFileError(`refusing state file ${path}: ${why}`, path);
    if (!st.isFile()) throw refuse('it is not a regular file');
    const owner = foreignOwner(st);
    if (owner) throw refuse(`it is ${owner}`);
    if ((st.mode & 0o022) !== 0) throw refuse(`it is writable by group or others (mode ${octal(st.mode)})`);
    if (st.nlink !== 1) throw refuse(`it has ${st.nlink} hard links (a state file has one)`);
    if (st.size > options.maxBytes) throw refuse(`it is larger than ${options.maxBytes} bytes (${st.size})`);
    // Read to the cap and one byte more: the file may have grown since fstat.
    const buffer = Buffer.alloc(Math.min(st.size, options.maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) {
        if (length > options.maxBytes) throw refuse(`it is larger than ${options.maxBytes} bytes`);
        break;
      }
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, length));
    } catch {
      throw refuse('it is not UTF-8 text');
    }
  } finally {
    await fh.close();
  }
}

/**
 * Replaces a state file whole: a temporary file with a random name created
 * exclusively without following links, written, synced, renamed over
 * `path`, and the folder synced. Missing folders are created (checked).
 *
 * @param path - The state file.
 * @param content - Its text, whole or in chunks (so a large file need not be one string).
 * @param options - `mode` of a new file (default 0644, less the umask).
 * @throws StateFileError when a folder on the way is unsafe.
 */
export async function writeStateFile(
  path: string,
  content: string | AsyncIterable<string> | Iterable<string>,
  options: { mode?: number } = {},
): Promise<void> {
  const { folder, file } = (await locate(path, true))!;
  const tmp = join(folder, `.${basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  const fh = await open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, options.mode ?? 0o644);
  try {
    try {
      await writeAll(fh, content);
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncFolder(folder);
}

/**
 * Creates a state file that must not exist yet (`O_CREAT | O_EXCL |
 * O_NOFOLLOW`): of processes racing for it, exactly one gets `true`.
 *
 * @param path - The state file.
 * @param content - Its text.
 * @param options - `mode` of the file (default 0644, less the umask).
 * @returns True when this call created it; false when something was there (a file or a link).
 * @throws StateFileError when a folder on the way is unsafe.
 */
export async function createStateFile(path: string, content: string, options: { mode?: number } = {}): Promise<boolean> {
  const { folder, file } = (await locate(path, true))!;
  let fh: FileHandle;
  try {
    fh = await open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, options.mode ?? 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    try {
      await writeAll(fh, content);
    } finally {
      await fh.close();
    }
    await syncFolder(folder);
  } catch (e) {
    await unlink(file).catch(() => undefined);
    throw e;
  }
  return true;
}

/**
 * Removes a state file (not through a link in its folders) and syncs the folder.
 *
 * @param path - The state file.
 * @returns True when a file was removed, false when there was none.
 * @throws StateFileError when a folder on the way is unsafe.
 */
export async function removeStateFile(path: string): Promise<boolean> {
  const where = await locate(path, false);
  if (!where) return false;
  try {
    await unlink(where.file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  await syncFolder(where.folder);
  return true;
}

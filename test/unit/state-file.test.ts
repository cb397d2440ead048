// lib/state-file.ts: the checks every state file root acts on goes through
// (the apply ownership records, the real-server record). Each test plants
// what another user could plant — links, files, folders they own or can
// write — and checks it is refused, never followed or trusted.
//
// Files owned by another user can only be made as root: those tests run as
// root (as npm test does in CI and in the UML guest) and are skipped, visibly,
// otherwise.
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { StateFileError, createStateFile, readStateFile, removeStateFile, secureFolder, writeStateFile } from '../../lib/state-file.js';

const asRoot = process.geteuid?.() === 0;
/** A uid that is neither root nor this process. */
const OTHER = 4242;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const refusal = async (p: Promise<unknown>): Promise<StateFileError> => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(StateFileError);
  return e as StateFileError;
};

describe('writing', () => {
  it('creates missing folders one at a time (0755) and replaces the file whole, leaving no temporary file', async () => {
    const path = join(dir, 'a', 'b', 'state.json');
    await writeStateFile(path, 'one\n');
    await writeStateFile(path, (async function* () {
      yield 'two';
      yield '\n';
    })());
    expect(readFileSync(path, 'utf8')).toBe('two\n');
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir, 'a', 'b')).mode & 0o777).toBe(0o755);
    expect(statSync(path).mode & 0o022).toBe(0);
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['state.json']);
    expect(await readStateFile(path, { maxBytes: 100 })).toBe('two\n');
  });

  it('replaces a link planted at the file’s name, never writing through it', async () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const path = join(dir, 'state.json');
    symlinkSync(victim, path);
    await writeStateFile(path, 'state\n');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('state\n');
  });

  it.runIf(asRoot)('never follows a link another user planted where a folder is to be', async () => {
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    mkdirSync(join(dir, 'state'));
    symlinkSync(elsewhere, join(dir, 'state', 'apply'));
    execFileSync('chown', ['-h', `${OTHER}:${OTHER}`, join(dir, 'state', 'apply')]);
    const e = await refusal(writeStateFile(join(dir, 'state', 'apply', 'x.json'), '{}'));
    expect(e.message).toBe(`refusing state folder ${join(dir, 'state', 'apply')}: it is a symbolic link owned by uid ${OTHER}, not by root or uid 0 (this process)`);
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});

describe('claiming', () => {
  it('of claims racing for one name exactly one wins; a link planted there is not followed', async () => {
    const path = join(dir, 'claim.json');
    const won = await Promise.all(Array.from({ length: 8 }, (_, i) => createStateFile(path, `${i}\n`)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(readFileSync(path, 'utf8')).toBe(`${won.indexOf(true)}\n`);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const planted = join(dir, 'planted.json');
    symlinkSync(victim, planted);
    expect(await createStateFile(planted, 'mine\n')).toBe(false);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(await removeStateFile(path)).toBe(true);
    expect(await removeStateFile(path)).toBe(false);
  });
});

describe('reading', () => {
  it('a missing file or folder is no file', async () => {
    expect(await readStateFile(join(dir, 'none.json'), { maxBytes: 10 })).toBeUndefined();
    expect(await readStateFile(join(dir, 'no', 'such', 'x.json'), { maxBytes: 10 })).toBeUndefined();
    expect(await secureFolder(join(dir, 'no', 'such'), { create: false })).toBeUndefined();
  });

  it('refuses a link, a FIFO (without waiting on it), a file with two names, one too large, not UTF-8, or writable by others', async () => {
    const path = join(dir, 'state.json');
    const cases: [() => void, string][] = [
      [() => symlinkSync(join(dir, 'target'), path), 'it is a symbolic link'],
      [() => execFileSync('mkfifo', [path]), 'it is not a regular file'],
      [
        () => {
          writeFileSync(join(dir, 'other'), '{}');
          linkSync(join(dir, 'other'), path);
        },
        'it has 2 hard links (a state file has one)',
      ],
      [() => writeFileSync(path, 'x'.repeat(101)), 'it is larger than 100 bytes (101)'],
      [() => writeFileSync(path, Buffer.from([0x7b, 0xff, 0x7d])), 'it is not UTF-8 text'],
      [
        () => {
          writeFileSync(path, '{}');
          chmodSync(path, 0o666);
        },
        'it is writable by group or others (mode 0666)',
      ],
      [
        () => {
          writeFileSync(path, '{}');
          chmodSync(path, 0o620);
        },
        'it is writable by group or others (mode 0620)',
      ],
    ];
    writeFileSync(join(dir, 'target'), '{}');
    for (const [plant, why] of cases) {
      rmSync(path, { force: true });
      rmSync(join(dir, 'other'), { force: true });
      plant();
      const e = await refusal(readStateFile(path, { maxBytes: 100 }));
      expect(e.message).toBe(`refusing state file ${path}: ${why}`);
      expect(e.path).toBe(path);
    }
  });

  it.runIf(asRoot)('refuses a file another user owns', async () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, '{}');
    chownSync(path, OTHER, OTHER);
    const e = await refusal(readStateFile(path, { maxBytes: 100 }));
    expect(e.message).toBe(`refusing state file ${path}: it is owned by uid ${OTHER}, not by root or uid 0 (this process)`);
  });
});

describe('folders', () => {
  it('refuses a folder group or others can write, at any depth; a root-owned sticky one (/tmp) is fine', async () => {
    const shared = join(dir, 'shared');
    mkdirSync(join(shared, 'apply'), { recursive: true });
    const path = join(shared, 'apply', 'x.json');
    writeFileSync(path, '{}');
    chmodSync(shared, 0o777);
    const attempts = [() => readStateFile(path, { maxBytes: 10 }), () => writeStateFile(path, '{}'), () => createStateFile(join(shared, 'apply', 'y'), ''), () => removeStateFile(path)];
    for (const attempt of attempts) {
      const e = await refusal(attempt());
      expect(e.message).toBe(
        `refusing state folder ${join(shared, 'apply')}: ${shared} is writable by group or others (mode 0777) and not a root-owned sticky folder like /tmp`,
      );
    }
    expect(readdirSync(join(shared, 'apply'))).toEqual(['x.json']);
    chmodSync(shared, 0o775);
    expect((await refusal(secureFolder(shared, { create: false }))).message).toBe(
      `refusing state folder ${shared}: it is writable by group or others (mode 0775) and not a root-owned sticky folder like /tmp`,
    );
    // Sticky: others cannot rename or remove what is not theirs.
    chmodSync(shared, 0o1777);
    if (asRoot) expect(await readStateFile(path, { maxBytes: 10 })).toBe('{}');
    else await refusal(readStateFile(path, { maxBytes: 10 })); // sticky but not root's
    expect(statSync(tmpdir()).mode & 0o1000).toBe(0o1000);
    expect(await secureFolder(tmpdir(), { create: false })).toBe(tmpdir());
  });

  it.runIf(asRoot)('refuses a folder another user owns, and a sticky one that is not root’s', async () => {
    const theirs = join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, OTHER, OTHER);
    const e = await refusal(writeStateFile(join(theirs, 'sub', 'x.json'), '{}'));
    expect(e.message).toBe(`refusing state folder ${join(theirs, 'sub')}: ${theirs} is owned by uid ${OTHER}, not by root or uid 0 (this process)`);
    expect(readdirSync(theirs)).toEqual([]);
    chmodSync(theirs, 0o1777);
    await refusal(readStateFile(join(theirs, 'x.json'), { maxBytes: 10 }));
  });

  it('follows a link root or the caller owns, and checks where it leads', async () => {
    const real = join(dir, 'real');
    mkdirSync(real, { mode: 0o755 });
    symlinkSync(real, join(dir, 'via'));
    symlinkSync('real', join(dir, 'relative'));
    expect(await secureFolder(join(dir, 'via'), { create: false })).toBe(real);
    expect(await secureFolder(join(dir, 'relative', '..', 'real'), { create: false })).toBe(real);
    await writeStateFile(join(dir, 'via', 'sub', 'x.json'), 'x');
    expect(readFileSync(join(real, 'sub', 'x.json'), 'utf8')).toBe('x');
    chmodSync(real, 0o777);
    expect((await refusal(secureFolder(join(dir, 'via'), { create: false }))).message).toBe(
      `refusing state folder ${join(dir, 'via')}: ${real} is writable by group or others (mode 0777) and not a root-owned sticky folder like /tmp`,
    );
    chmodSync(real, 0o755);
    writeFileSync(join(dir, 'file'), '');
    expect((await refusal(secureFolder(join(dir, 'file', 'x'), { create: true }))).message).toBe(
      `refusing state folder ${join(dir, 'file', 'x')}: ${join(dir, 'file')} is not a folder`,
    );
    symlinkSync('loop', join(dir, 'loop'));
    expect((await refusal(secureFolder(join(dir, 'loop'), { create: false }))).message).toMatch(/leads through more than 40 symbolic links$/);
  });
});

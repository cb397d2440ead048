// What the CLI says without a kernel: `ipvs-ts check FILE` (every problem of a
// desired state with its field path), errors as JSON with --json, and a
// --netns that exists but may not be read told apart from one that does not
// exist. None of these opens a netlink socket.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { checkDesiredState } from '../../lib/apply.js';
import { main } from '../../lib/cli/main.js';

const repo = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-cli-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], stdin = ''): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await main(args, {
    io: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, readStdin: async () => stdin },
  });
  return { status, stdout, stderr };
}

function file(name: string, content: unknown): string {
  const p = path.join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

const BAD = {
  owner: 'web',
  services: [
    { protocol: 'tcp', address: '300.1.1.1', port: 80, destinations: [{ address: '10.0.0.1', weight: -1 }] },
    {
      protocol: 'tcp',
      address: '192.0.2.10',
      port: 443,
      scheduler: 'wlc',
      destinations: [
        { address: '10.0.0.1', weight: -1 },
        { address: '10.0.0.2', wieght: 5 },
        { address: '10.0.0.3', port: 8443, forwarding: 'route' },
        { address: '10.0.0.4' },
      ],
    },
    { protocol: 'tcp', address: '192.0.2.10', port: 443 },
  ],
};

describe('ipvs-ts check FILE', () => {
  it('lists every problem with its field path, one per line, and exits 2', async () => {
    const f = file('bad.json', BAD);
    const r = await cli(['check', f]);
    expect(r.status).toBe(2);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.slice(f.length + 2).split(' ')[0])).toEqual([
      'services[0].address',
      'services[1].destinations[0].weight',
      'services[1].destinations[1]',
      'services[1].destinations[2].port',
      'services[2]',
    ]);
    expect(lines[0]).toBe(`${f}: services[0].address is not an IPv4 or IPv6 address: '300.1.1.1'`);
    expect(lines[2]).toContain("unknown property 'wieght' (did you mean 'weight'?)");
    expect(lines[3]).toContain("only 'masq' rewrites the port");
    expect(lines[4]).toBe(`${f}: services[2] repeats service tcp 192.0.2.10:443`);
    expect(r.stderr).toBe(`ipvs-ts check: ${f}: 5 problems\n`);
  });

  it('says a valid file is valid, with what it holds (exit 0); rules files too', async () => {
    const good = { services: [{ protocol: 'tcp', address: '192.0.2.10', port: 22136, scheduler: 'wlc', destinations: [{ address: '10.0.0.1', weight: 1000 }, { address: '10.0.0.2', weight: 500 }] }] };
    expect(await cli(['check', file('good.json', good)])).toEqual({ status: 0, stdout: `${path.join(dir, 'good.json')}: valid: 1 service, 2 real servers\n`, stderr: '' });
    const rules = '-A -t 192.0.2.10:22136 -s wlc\n-a -t 192.0.2.10:22136 -r 10.0.0.1:22136 -g -w 1000\n';
    expect(await cli(['check', '-'], rules)).toEqual({ status: 0, stdout: '-: valid: 1 service, 1 real server\n', stderr: '' });
  });

  it('--json: the problems as data', async () => {
    const f = file('bad2.json', { owner: '.hidden', services: [{ fwmark: 0, destinations: [] }] });
    const r = await cli(['check', f, '--json']);
    expect(r.status).toBe(2);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ file: f, valid: false, services: 1, destinations: 0 });
    expect(out.problems.map((p: { field: string }) => p.field)).toEqual(['owner', 'services[0].fwmark']);
  });

  it('a file that is not a desired state at all is one problem, not a stack', async () => {
    const r = await cli(['check', file('broken.json', '{"services": [')]);
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/^.*broken\.json: not valid JSON: /);
  });

  it('the API gives the same problems, and apply would throw the first of them', async () => {
    const problems = await checkDesiredState(BAD);
    expect(problems).toHaveLength(5);
    expect(problems[0]).toEqual({ field: 'services[0].address', message: "services[0].address is not an IPv4 or IPv6 address: '300.1.1.1'" });
    expect(await checkDesiredState([])).toEqual([]);
  });
});

describe('errors with --json', () => {
  it('are one JSON line on standard error, with the exit status they give', async () => {
    const missing = path.join(dir, 'missing.json');
    const r = await cli(['apply', missing, '--json']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toEqual({ error: { command: 'ipvs-ts apply', message: `${missing}: no such file`, exitCode: 2, kind: 'usage' } });
    const u = await cli(['list', '--bogus', '--json']);
    expect(u.status).toBe(2);
    expect(JSON.parse(u.stderr).error).toMatchObject({ command: 'ipvs-ts list', kind: 'usage', exitCode: 2 });
    const n = await cli(['--netns', 'no-such-namespace-here', 'list', '--json']);
    expect(JSON.parse(n.stderr)).toEqual({
      error: {
        command: 'ipvs-ts list',
        message: "no network namespace 'no-such-namespace-here' (/run/netns/no-such-namespace-here does not exist)",
        exitCode: 2,
        kind: 'namespace',
        code: 'ENOENT',
        errno: 2,
      },
    });
  });
});

describe('--netns that may not be read', () => {
  // Root reads every namespace file, so this runs the CLI as nobody against
  // init's namespace: /proc/1/ns/net exists, but entering it is not allowed.
  it.runIf(process.getuid?.() === 0)('says permission denied (EACCES, exit 1), not "does not exist"', () => {
    const cliJs = path.join(repo, 'dist/cli/main.js');
    const script = `import(${JSON.stringify(cliJs)}).then(async ({ main }) => process.exit(await main(['--netns', '/proc/1/ns/net', 'list'])))`;
    const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
    expect(r.stderr).toBe(
      "ipvs-ts list: network namespace '/proc/1/ns/net': permission denied on /proc/1/ns/net (EACCES): another process's namespace needs root, or CAP_SYS_ADMIN and the right to trace that process\n",
    );
    expect(r.status).toBe(1);
  });
});

// Issue 5: the `ipvs-ts` command as scripts run it — a real process inside
// the namespace. The origin's director script with `ipvsadm` replaced by
// `ipvs-ts adm` runs unchanged and prints what ipvsadm printed; the friendly
// commands (list, save, restore, apply, realserver) end to end.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs } from '../../lib/index.js';
import { fixtureDir } from '../unit/ipvsadm-fixtures.js';
import { buildCli, ipvsTs, ipvsTsHere, labLinks } from './cli-support.js';
import { ok, useFreshNetns } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const withIpvsadm = useFreshNetns('ipvsts-scripta');
const withIpvsTs = useFreshNetns('ipvsts-scriptb');
let bin: string;
let dir: string;

const rules = readFileSync(join(fixtureDir, 'rules.txt'), 'utf8').replace(/^-[aA] -f 4294967295 .*\n/gm, '');
const sorted = (text: string): string[] => text.split('\n').sort();

/**
 * Reads `theirs`, then `ours`, then `theirs` again, until both readings of
 * `theirs` agree (nothing changed in between: the kernel folds its counters
 * into what readers see every 2 s, and connection entries expire), at most
 * ten times; returns `ours` and that reading.
 */
async function whileUnchanged<T>(theirs: () => string | Promise<string>, ours: () => T): Promise<{ ours: T; theirs: string }> {
  for (let attempt = 1; ; attempt++) {
    const before = await theirs();
    const mine = ours();
    const after = await theirs();
    if (before === after || attempt === 10) return { ours: mine, theirs: before };
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(() => {
  bin = buildCli();
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-cli-'));
  labLinks(withIpvsadm);
  labLinks(withIpvsTs);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the director script', () => {
  it('runs unchanged with `ipvsadm` replaced by `ipvs-ts adm`, printing the same', () => {
    const original = readFileSync(join(here, 'cli-director.sh'), 'utf8');
    const converted = original.replace(/^ipvsadm /gm, 'ipvs-ts adm ');
    expect(converted.match(/^ipvs-ts adm /gm)).toHaveLength(7);
    const script = join(dir, 'director-ipvs-ts.sh');
    writeFileSync(script, converted);
    // `ipvs-ts` on PATH, as `npm install -g` would put it.
    writeFileSync(join(dir, 'ipvs-ts'), `#!/bin/sh\nexec ${process.execPath} ${bin} "$@"\n`);
    chmodSync(join(dir, 'ipvs-ts'), 0o755);

    const a = withIpvsadm.exec('sh', [join(here, 'cli-director.sh')]);
    const b = withIpvsTs.exec('env', [`PATH=${dir}:${process.env.PATH ?? ''}`, 'sh', script]);
    expect(a.status).toBe(0);
    expect(b.stderr).toBe('');
    expect(b.status).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(b.stdout).toContain('TCP  10.0.0.100:22136 wlc\n  -> 10.0.0.11:22136              Route   1000   0          0         \n');
    expect(b.stdout).toContain('Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n');
    expect(ok(withIpvsTs.ipvsadm('-Sn'))).toBe(ok(withIpvsadm.ipvsadm('-Sn')));
  });
});

describe('friendly commands', () => {
  const ns = withIpvsTs;
  const cli = (args: string[], input?: string) => ipvsTs(ns, bin, args, input === undefined ? {} : { input });

  it('list, list --stats, save print what ipvsadm -Ln, -Ln --stats and -Sn print; list --json carries exact counters', async () => {
    ok(ns.ipvsadm('-C'));
    ok(ns.exec('ipvsadm', ['-R'], { input: rules }));
    ns.exec('bash', ['-c', 'for i in 1 2 3; do timeout 1 bash -c "exec 3<>/dev/tcp/10.0.0.1/80" 2>/dev/null; done; true']);
    const list = await whileUnchanged(() => ok(ns.ipvsadm('-Ln')), () => cli(['list']));
    expect(list.ours).toMatchObject({ status: 0, stdout: list.theirs, stderr: '' });
    const stats = await whileUnchanged(() => ok(ns.ipvsadm('-Ln', '--stats', '--exact')), () => cli(['list', '--stats', '--exact']));
    expect(stats.ours.stdout).toBe(stats.theirs);
    expect(cli(['save']).stdout).toBe(ok(ns.ipvsadm('-Sn')));

    await using ipvs = await Ipvs.open({ netns: ns.name });
    const read = await whileUnchanged(
      async () => JSON.stringify(await ipvs.snapshot(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
      () => cli(['list', '--json']),
    );
    const json = read.ours;
    expect(json.status).toBe(0);
    const data = JSON.parse(json.stdout) as { ipvs: { version: string }; services: { address?: string; stats: { conns: string }; destinations: unknown[] }[] };
    expect(data.ipvs.version).toMatch(/^\d+\.\d+\.\d+$/);
    // The snapshot read beside it, its counters as decimal text.
    const table = JSON.parse(read.theirs) as { address?: string; port?: number; stats: { conns: string }; destinations: unknown[] }[];
    expect(data.services).toHaveLength(table.length);
    const web = data.services.find((s) => s.address === '10.0.0.1' && 'port' in s && (s as { port: number }).port === 80)!;
    const kernel = table.find((s) => s.address === '10.0.0.1' && s.port === 80)!;
    expect(typeof web.stats.conns).toBe('string');
    expect(web.stats.conns).toBe(kernel.stats.conns);
    expect(BigInt(web.stats.conns)).toBeGreaterThan(0n);
    expect(web.destinations).toHaveLength(kernel.destinations.length);
  });

  it('restore loads rules in one batch; a bad line stops it before anything is sent; --flush empties first', () => {
    ok(ns.ipvsadm('-C'));
    expect(cli(['restore'], rules)).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const loaded = ok(ns.ipvsadm('-Sn'));
    expect(sorted(loaded)).toEqual(sorted(ok(withIpvsadm.exec('sh', ['-c', 'ipvsadm -C && ipvsadm -R && ipvsadm -Sn'], { input: rules }))));
    // Everything already there: each rule refused with its line number, status 1.
    const again = cli(['restore'], rules);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^ipvs-ts restore: line 1: service tcp 10\.0\.0\.1:80 already exists \(EEXIST\)$/m);
    // A bad line: nothing sent at all.
    ok(ns.ipvsadm('-C'));
    const bad = cli(['restore'], '-A -t 10.0.0.1:80\n-A -t 10.0.0.2:80 -s rr -w 3\n');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("ipvs-ts restore: stdin: line 2: Illegal 'weight' option with the 'add-service' command\n");
    expect(ok(ns.ipvsadm('-Sn'))).toBe('');
    // From a file, after a flush.
    const file = join(dir, 'rules.txt');
    writeFileSync(file, '-A -u 10.0.0.5:53 -s rr\n-a -u 10.0.0.5:53 -r 192.168.5.5 -m -w 2\n');
    ok(ns.ipvsadm('-A', '-t', '10.0.0.9:80'));
    expect(cli(['restore', '--flush', file])).toMatchObject({ status: 0, stderr: '' });
    expect(ok(ns.ipvsadm('-Sn'))).toBe('-A -u 10.0.0.5:53 -s rr\n-a -u 10.0.0.5:53 -r 192.168.5.5:53 -m -w 2\n');
  });

  it('apply FILE: JSON, rules text or list --json output; the second run has nothing to do; --dry-run --json', () => {
    ok(ns.ipvsadm('-C'));
    const stateDir = join(dir, 'state');
    const env = ['env', `IPVS_TS_STATE_DIR=${stateDir}`, process.execPath, bin];
    const applyCli = (args: string[]) => ns.exec(env[0]!, [...env.slice(1), ...args]);
    const desired = {
      owner: 'web',
      services: [
        {
          protocol: 'tcp',
          address: '10.0.0.100',
          port: 22136,
          scheduler: 'wlc',
          destinations: [
            { address: '10.0.0.11', weight: 1000 },
            { address: '10.0.0.12', weight: 500 },
            { address: '10.0.0.13', weight: 800 },
          ],
        },
      ],
    };
    const file = join(dir, 'desired.json');
    writeFileSync(file, JSON.stringify(desired));

    const dry = applyCli(['apply', file, '--dry-run', '--json']);
    expect(dry.status).toBe(0);
    const plan = JSON.parse(dry.stdout) as { dryRun: boolean; steps: { action: string; status: string }[] };
    expect(plan.dryRun).toBe(true);
    expect(plan.steps.map((s) => `${s.action}:${s.status}`)).toEqual(Array(4).fill('create:planned'));
    expect(ok(ns.ipvsadm('-Sn'))).toBe('');

    const first = applyCli(['apply', file]);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe(
      [
        '+ service tcp 10.0.0.100:22136',
        '+ destination 10.0.0.11:22136 of tcp 10.0.0.100:22136',
        '+ destination 10.0.0.12:22136 of tcp 10.0.0.100:22136',
        '+ destination 10.0.0.13:22136 of tcp 10.0.0.100:22136',
        '4 created, 0 updated, 0 deleted',
        '',
      ].join('\n'),
    );
    expect(applyCli(['apply', file]).stdout).toBe('nothing to do: the table is as desired\n');
    // The same state as rules text, and as list --json prints it: nothing to do either.
    const rulesFile = join(dir, 'desired.rules');
    writeFileSync(rulesFile, ok(ns.ipvsadm('-Sn')));
    expect(applyCli(['apply', rulesFile, '--owner', 'web']).stdout).toBe('nothing to do: the table is as desired\n');
    const listed = join(dir, 'listed.json');
    writeFileSync(listed, cli(['list', '--json']).stdout);
    expect(applyCli(['apply', listed, '--owner', 'web', '--prune', 'all']).stdout).toBe('nothing to do: the table is as desired\n');

    // A change: one weight edited in place, one server left out (owned: deleted).
    desired.services[0]!.destinations = [
      { address: '10.0.0.11', weight: 1000 },
      { address: '10.0.0.12', weight: 700 },
    ];
    writeFileSync(file, JSON.stringify(desired));
    const change = applyCli(['apply', file]);
    expect(change.status).toBe(0);
    expect(change.stdout).toBe(
      [
        '- destination 10.0.0.13:22136 of tcp 10.0.0.100:22136',
        '~ destination 10.0.0.12:22136 of tcp 10.0.0.100:22136: weight 500 → 700',
        '0 created, 1 updated, 1 deleted',
        '',
      ].join('\n'),
    );
    expect(ok(ns.ipvsadm('-Sn'))).toBe(
      '-A -t 10.0.0.100:22136 -s wlc\n-a -t 10.0.0.100:22136 -r 10.0.0.11:22136 -g -w 1000\n-a -t 10.0.0.100:22136 -r 10.0.0.12:22136 -g -w 700\n',
    );
    // Bad input: exit 2, nothing changed.
    writeFileSync(file, JSON.stringify({ services: [{ protocol: 'tcp', address: '10.0.0.100', port: 22136, destinations: [{ address: 'x' }] }] }));
    const bad = applyCli(['apply', file]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/services\[0\]\.destinations\[0\]\.address is not an IPv4 or IPv6 address/);
    expect(applyCli(['apply', file, '--prune', 'some']).status).toBe(2);
  });

  it('realserver setup records its changes and restore puts exactly them back', () => {
    const state = join(dir, 'rs.json');
    const snap = (): string =>
      ok(ns.exec('sh', ['-c', 'ip -o addr show dev lo; for k in all dummy0; do sysctl -n net.ipv4.conf.$k.arp_ignore net.ipv4.conf.$k.arp_announce; done']));
    const before = snap();
    const setup = cli(['realserver', 'setup', '--vip', '10.0.0.100', '--vip', '2001:db8::100', '--dev', 'dummy0', '--state', state]);
    expect(setup.stderr).toBe('');
    expect(setup.status).toBe(0);
    expect(setup.stdout).toContain('address 10.0.0.100/32 added to lo:0');
    const during = snap();
    expect(during).toMatch(/inet 10\.0\.0\.100\/32 .*lo:0/);
    expect(during).toContain('inet6 2001:db8::100/128');
    expect(during.split('\n').slice(-5, -1)).toEqual(['1', '2', '1', '2']);
    // A second setup is refused while the first is recorded.
    expect(cli(['realserver', 'setup', '--vip', '10.0.0.101', '--state', state]).status).toBe(1);
    const restore = cli(['realserver', 'restore', '--state', state]);
    expect(restore).toMatchObject({ status: 0, stderr: '' });
    expect(snap()).toBe(before);
    expect(cli(['realserver', 'restore', '--state', state]).status).toBe(1);
  });

  it('--netns from outside, bad usage, help', () => {
    expect(ipvsTsHere(bin, ['--netns', ns.name, 'save']).stdout).toBe(ok(ns.ipvsadm('-Sn')));
    expect(ipvsTsHere(bin, ['--netns', ns.name, 'adm', '-Ln']).stdout).toBe(ok(ns.ipvsadm('-Ln')));
    expect(ipvsTsHere(bin, ['adm', '--netns', ns.name, '-Sn']).stdout).toBe(ok(ns.ipvsadm('-Sn')));
    expect(ipvsTsHere(bin, ['--netns', 'no-such-namespace', 'list'])).toMatchObject({ status: 2, stderr: "ipvs-ts list: no network namespace 'no-such-namespace' (/run/netns/no-such-namespace does not exist)\n" });
    expect(ipvsTsHere(bin, ['frobnicate']).status).toBe(2);
    expect(ipvsTsHere(bin, ['list', '--bogus']).status).toBe(2);
    for (const args of [['--help'], ['help'], ['list', '--help'], ['apply', '-h'], ['restore', '--help'], ['save', '--help'], ['realserver', '--help'], ['help', 'apply']]) {
      const r = ipvsTsHere(bin, args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/^Usage: ipvs-ts /);
    }
    expect(ipvsTsHere(bin, ['adm', '--help']).stdout).toMatch(/^ipvs-ts adm .*\nUsage:\n {2}ipvs-ts adm -A\|E virtual-service/);
    expect(ipvsTsHere(bin, ['version']).stdout).toMatch(/^ipvs-ts \d+\.\d+\.\d+\n$/);
  });
});

// Tests of the kernel-test harness itself (test/kernel/support.ts, scripts/uml.mjs):
// it must give every file a namespace of its own with an empty IPVS table, and a
// kernel that behaves like a real host's (on-demand module loading included).

import { existsSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { inUml, listServices, ok, run, useFreshNetns } from './support.js';

const a = useFreshNetns();
const b = useFreshNetns();

const moduleLoaded = (m: string): boolean => existsSync(`/sys/module/${m}`);

describe('kernel test harness', () => {
  it('creates distinct, fresh network namespaces', () => {
    expect(a.name).not.toBe(b.name);
    expect(existsSync(a.path)).toBe(true);
    expect(existsSync(b.path)).toBe(true);
    const own = readlinkSync('/proc/self/ns/net');
    const nsA = ok(a.exec('readlink', ['/proc/self/ns/net'])).trim();
    const nsB = ok(b.exec('readlink', ['/proc/self/ns/net'])).trim();
    expect(nsA).toMatch(/^net:\[\d+\]$/);
    expect(new Set([own, nsA, nsB]).size).toBe(3);
  });

  it('starts each namespace with an empty IPVS table', () => {
    const out = ok(a.ipvsadm('-Ln'));
    expect(listServices(out)).toEqual([]);
    expect(out.trimEnd().split('\n')).toHaveLength(3); // header lines only
    expect(listServices(ok(b.ipvsadm('-Ln')))).toEqual([]);
  });

  it('reports IPVS 1.2.1 with a 4096-entry connection table', () => {
    const header = ok(a.ipvsadm('-Ln')).split('\n')[0];
    expect(header).toBe('IP Virtual Server version 1.2.1 (size=4096)');
  });

  it('loads a scheduler module on demand (ipvsadm -s mh -> ip_vs_mh)', async () => {
    if (inUml) {
      // The guest preloads every scheduler but mh. Should an earlier file have
      // loaded it, unload it (retrying while deleted namespaces release it).
      for (let i = 0; i < 50 && moduleLoaded('ip_vs_mh'); i++) {
        run('rmmod', ['ip_vs_mh']);
        if (moduleLoaded('ip_vs_mh')) await sleep(100);
      }
      expect(moduleLoaded('ip_vs_mh'), 'ip_vs_mh must not be loaded before the test').toBe(false);
    }
    ok(a.ipvsadm('-A', '-t', '10.1.2.3:80', '-s', 'mh'));
    expect(listServices(ok(a.ipvsadm('-Ln')))).toEqual(['TCP 10.1.2.3:80 mh']);
    if (inUml) expect(moduleLoaded('ip_vs_mh')).toBe(true);
  });

  it('keeps a table change in namespace A out of namespace B', () => {
    const before = listServices(ok(a.ipvsadm('-Ln')));
    ok(b.ipvsadm('-A', '-u', '10.9.9.9:53', '-s', 'rr'));
    expect(listServices(ok(b.ipvsadm('-Ln')))).toEqual(['UDP 10.9.9.9:53 rr']);
    expect(listServices(ok(a.ipvsadm('-Ln')))).toEqual(before);
    ok(a.ipvsadm('-C'));
    expect(listServices(ok(a.ipvsadm('-Ln')))).toEqual([]);
    expect(listServices(ok(b.ipvsadm('-Ln')))).toEqual(['UDP 10.9.9.9:53 rr']);
  });

  it('reports a failing command with its status and stderr', () => {
    const r = a.ipvsadm('-A', '-t', '10.1.2.4:80', '-s', 'no-such-scheduler');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/scheduler.* not found/i);
    expect(() => ok(r)).toThrow(/ipvsadm -A .*exit status/s);
  });
});

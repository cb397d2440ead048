// `ipvs-ts import keepalived FILE`: the origin setup as keepalived.conf
// describes it becomes a run FILE that `ipvs-ts check` accepts, with
// keepalived's defaults and options mapped as docs/health.md's table says;
// what has no equivalent is refused with its line; other blocks are skipped
// and named.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { importKeepalived } from '../../lib/cli/keepalived.js';
import { main } from '../../lib/cli/main.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-keepalived-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ORIGIN = `! the dcap doors behind one director
global_defs {
   router_id LVS_DCAP
}

vrrp_instance VI_1 {
    state MASTER
    interface bond0.4001
    virtual_router_id 51
}

virtual_server 192.0.2.10 22136 {
    delay_loop 6
    lb_algo wlc
    lb_kind DR
    protocol TCP
    persistence_timeout 300
    sorry_server 10.0.0.99 22136

    real_server 10.0.0.11 22136 {
        weight 1000
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 3
            retry 3
            delay_before_retry 2
        }
    }
    real_server 10.0.0.12 22136 {
        weight 500
        TCP_CHECK {
            connect_port 22136
            connect_timeout 3
        }
    }
    real_server 10.0.0.13 22136 {
        weight 800
        inhibit_on_failure
        HTTP_GET {
            url {
              path /health
              status_code 200
            }
            connect_port 8080
        }
    }
}
`;

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await main(args, { io: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, readStdin: async () => '' } });
  return { status, stdout, stderr };
}

describe('import keepalived', () => {
  it('turns the origin setup into a run FILE that check accepts', async () => {
    const { file, problems, skipped } = importKeepalived(ORIGIN);
    expect(problems).toEqual([]);
    expect(skipped).toEqual(['global_defs (line 2)', 'vrrp_instance VI_1 (line 6)']);
    expect(file.services).toEqual([
      {
        protocol: 'tcp',
        address: '192.0.2.10',
        port: 22136,
        scheduler: 'wlc',
        persistence: { timeout: 300 },
        sorryServer: { address: '10.0.0.99', port: 22136, weight: 1 },
        check: { probe: { type: 'tcp' }, interval: 6000, rise: 1, fall: 3, timeout: 3000 },
        destinations: [
          { address: '10.0.0.11', forwarding: 'route', port: 22136, weight: 1000, check: { probe: { type: 'tcp' }, fall: 3, onDown: 'weight0', timeout: 3000 } },
          { address: '10.0.0.12', forwarding: 'route', port: 22136, weight: 500, check: { probe: { type: 'tcp', port: 22136 }, fall: 1, onDown: 'remove', timeout: 3000 } },
          { address: '10.0.0.13', forwarding: 'route', port: 22136, weight: 800, check: { probe: { type: 'http', path: '/health', port: 8080, status: 200 }, fall: 1, onDown: 'weight0' } },
        ],
      },
    ]);
    const conf = path.join(dir, 'keepalived.conf');
    writeFileSync(conf, ORIGIN);
    const r = await cli(['import', 'keepalived', conf]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      `ipvs-ts import: ${conf}: skipped global_defs (line 2): only virtual_server blocks are imported\n` +
        `ipvs-ts import: ${conf}: skipped vrrp_instance VI_1 (line 6): only virtual_server blocks are imported\n`,
    );
    const out = path.join(dir, 'dcap.json');
    writeFileSync(out, r.stdout);
    expect(await cli(['check', out])).toEqual({ status: 0, stdout: `${out}: valid: 1 service, 3 real servers\n`, stderr: '' });
  });

  it('refuses what has no equivalent, each with its line', async () => {
    const conf = path.join(dir, 'unsupported.conf');
    writeFileSync(
      conf,
      `include /etc/keepalived/more.conf
virtual_server 192.0.2.10 80 {
    lb_kind DSR
    quorum 2
    real_server 10.0.0.11 80 {
        MISC_CHECK {
            misc_path /bin/true
        }
    }
    real_server 10.0.0.12 80 {
        HTTP_GET {
            url {
              path /
              digest 9b3a0c85a887a256d6939da88aabd8cd
            }
        }
    }
}
`,
    );
    const r = await cli(['import', 'keepalived', conf]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `ipvs-ts import: ${conf}: line 1: include is not supported: import the included file itself`,
      `ipvs-ts import: ${conf}: line 3: lb_kind must be DR, NAT or TUN, got 'DSR'`,
      `ipvs-ts import: ${conf}: line 4: virtual_server quorum is not supported`,
      `ipvs-ts import: ${conf}: line 6: MISC_CHECK runs a script: use a custom probe from the API (docs/health.md)`,
      `ipvs-ts import: ${conf}: line 14: url digest is not supported (ipvs-ts checks path and status_code; a body match is "probe.body")`,
      `ipvs-ts import: ${conf}: line 2: real_server 10.0.0.11 has no checker while others of this virtual_server have: ipvs-ts checks every real server of a checked service`,
    ]);
  });

  it('an unclosed block is an error, and a converted value the API refuses is named by its field', async () => {
    expect(importKeepalived('virtual_server 192.0.2.10 80 {\n  real_server 10.0.0.1 80 {\n').problems).toEqual(["end of file: a block is not closed ('}' missing)", "end of file: a block is not closed ('}' missing)"]);
    const conf = path.join(dir, 'bad-weight.conf');
    writeFileSync(conf, 'virtual_server 300.0.2.10 80 {\n  lb_kind DR\n  real_server 10.0.0.1 80 {\n    weight 5\n  }\n}\n');
    const r = await cli(['import', 'keepalived', conf]);
    expect(r).toMatchObject({ status: 2, stderr: `ipvs-ts import: ${conf}: services[0].address is not an IPv4 or IPv6 address: '300.0.2.10'\n` });
  });
});

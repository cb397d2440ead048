// lib/kernel.ts holds the kernel's numbers by hand (so that no part of the
// package needs C headers at run time). Here they are checked against the
// headers themselves: a C program prints each from <linux/ip_vs.h> and
// friends, compiled with the system's C compiler.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';

import * as kernel from '../../lib/kernel.js';

// lib/kernel.ts name → the C expression it must equal.
const FROM_HEADERS: Record<string, string> = {
  AF_INET: 'AF_INET',
  AF_INET6: 'AF_INET6',
  IPPROTO_TCP: 'IPPROTO_TCP',
  IPPROTO_UDP: 'IPPROTO_UDP',
  IPPROTO_SCTP: 'IPPROTO_SCTP',
  SVC_F_PERSISTENT: 'IP_VS_SVC_F_PERSISTENT',
  SVC_F_HASHED: 'IP_VS_SVC_F_HASHED',
  SVC_F_ONEPACKET: 'IP_VS_SVC_F_ONEPACKET',
  SVC_F_SCHED1: 'IP_VS_SVC_F_SCHED1',
  SVC_F_SCHED2: 'IP_VS_SVC_F_SCHED2',
  SVC_F_SCHED3: 'IP_VS_SVC_F_SCHED3',
  FWD_MASQ: 'IP_VS_CONN_F_MASQ',
  FWD_LOCALNODE: 'IP_VS_CONN_F_LOCALNODE',
  FWD_TUNNEL: 'IP_VS_CONN_F_TUNNEL',
  FWD_DROUTE: 'IP_VS_CONN_F_DROUTE',
  TUN_IPIP: 'IP_VS_CONN_F_TUNNEL_TYPE_IPIP',
  TUN_GUE: 'IP_VS_CONN_F_TUNNEL_TYPE_GUE',
  TUN_GRE: 'IP_VS_CONN_F_TUNNEL_TYPE_GRE',
  TUN_F_NOCSUM: 'IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM',
  TUN_F_CSUM: 'IP_VS_TUNNEL_ENCAP_FLAG_CSUM',
  TUN_F_REMCSUM: 'IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM',
  DAEMON_MASTER: 'IP_VS_STATE_MASTER',
  DAEMON_BACKUP: 'IP_VS_STATE_BACKUP',
  SCHEDNAME_MAXLEN: 'IP_VS_SCHEDNAME_MAXLEN',
  PENAME_MAXLEN: 'IP_VS_PENAME_MAXLEN',
  IFNAME_MAXLEN: 'IP_VS_IFNAME_MAXLEN',
  CMD_NEW_SERVICE: 'IPVS_CMD_NEW_SERVICE',
  CMD_SET_SERVICE: 'IPVS_CMD_SET_SERVICE',
  CMD_DEL_SERVICE: 'IPVS_CMD_DEL_SERVICE',
  CMD_GET_SERVICE: 'IPVS_CMD_GET_SERVICE',
  CMD_NEW_DEST: 'IPVS_CMD_NEW_DEST',
  CMD_SET_DEST: 'IPVS_CMD_SET_DEST',
  CMD_DEL_DEST: 'IPVS_CMD_DEL_DEST',
  CMD_NEW_DAEMON: 'IPVS_CMD_NEW_DAEMON',
  CMD_DEL_DAEMON: 'IPVS_CMD_DEL_DAEMON',
  CMD_SET_CONFIG: 'IPVS_CMD_SET_CONFIG',
  CMD_ZERO: 'IPVS_CMD_ZERO',
  CMD_FLUSH: 'IPVS_CMD_FLUSH',
};

it('every number in lib/kernel.ts is the one the kernel headers define', () => {
  const numbers = Object.entries(kernel).filter((e): e is [string, number] => typeof e[1] === 'number');
  // A constant added to lib/kernel.ts must be added here too.
  expect(numbers.map(([name]) => name).sort()).toEqual(Object.keys(FROM_HEADERS).sort());

  const dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-kernel-h-'));
  try {
    const c = path.join(dir, 'constants.c');
    writeFileSync(
      c,
      [
        '#include <stdio.h>',
        '#include <sys/socket.h>',
        '#include <netinet/in.h>',
        '#include <linux/ip_vs.h>',
        'int main(void) {',
        ...Object.entries(FROM_HEADERS).map(([name, expr]) => `  printf("${name} %ld\\n", (long)(${expr}));`),
        '  return 0;',
        '}',
        '',
      ].join('\n'),
    );
    const exe = path.join(dir, 'constants');
    const cc = spawnSync('cc', ['-o', exe, c], { encoding: 'utf8' });
    expect(cc.status, `cc failed (apt-get install gcc linux-libc-dev): ${cc.stderr}`).toBe(0);
    const out = spawnSync(exe, { encoding: 'utf8' }).stdout;
    const fromC = Object.fromEntries(out.trim().split('\n').map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
    expect(Object.fromEntries(numbers)).toEqual(fromC);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

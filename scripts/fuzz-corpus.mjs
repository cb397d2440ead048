#!/usr/bin/env node
// Writes the seed inputs of the fuzz targets (native/fuzz/) into
// .cache/fuzz/seeds/<target>/: real replies of Linux 6.1's IPVS family from
// the test peer's recordings (test/peer/fixtures/*.json), the same replies
// as peer scripts (native/fuzz/peer_script.h's format), request records as
// lib/wire.ts packs them, rtnetlink link and address replies, and paths.
// scripts/fuzz.mjs merges them (libFuzzer -merge=1) into the committed
// corpus test/fuzz/corpus/<target>/, which keeps what each input adds.
//
//   npm run build:ts && node scripts/fuzz-corpus.mjs

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const seedDir = path.join(repo, '.cache', 'fuzz', 'seeds');

/** Seeds per target, as Buffers. */
export async function seeds() {
  const out = { fuzz_ipvs_reply: [], fuzz_socket: [], fuzz_rtnl_reply: [], fuzz_records: [], fuzz_paths: [] };
  const fixtures = path.join(repo, 'test', 'peer', 'fixtures');
  // peer_script.h: a datagram is u16 header (bit 15: stamp) [stamp byte] bytes; 0x0000 ends a group.
  const datagram = (bytes, stamp) => {
    const h = Buffer.alloc(2);
    h.writeUInt16LE((bytes.length & 0x7fff) | (stamp === undefined ? 0 : 0x8000));
    return Buffer.concat([h, ...(stamp === undefined ? [] : [Buffer.from([stamp])]), bytes]);
  };
  const END = Buffer.alloc(2);
  for (const file of fs.readdirSync(fixtures).filter((f) => f.endsWith('.json')).sort()) {
    const { exchanges } = JSON.parse(fs.readFileSync(path.join(fixtures, file), 'utf8'));
    for (const [i, ex] of exchanges.entries()) {
      const replies = ex.replies.map((h) => Buffer.from(h, 'hex'));
      // Every distinct reply datagram, bounded per exchange.
      for (const r of replies.slice(0, 4)) out.fuzz_ipvs_reply.push(r);
      // The exchange as what a call reads: the replies stamped with the call's sequence number.
      // Small ones only: the socket's paths do not need big tables, and the corpus stays small.
      const small = replies.filter((r) => r.length <= 1024).slice(0, 4);
      if (i < 12 && small.length) {
        const group = Buffer.concat([...small.map((r) => datagram(r, 0x00)), END]);
        out.fuzz_socket.push(group, Buffer.concat([group, group]));
      }
    }
  }
  // rtnetlink: a link and an address reply, each then DONE, for each of the calls.
  const nlmsg = (type, flags, payload) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(16 + payload.length, 0);
    h.writeUInt16LE(type, 4);
    h.writeUInt16LE(flags, 6);
    return Buffer.concat([h, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
  };
  const rta = (type, value) => {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(4 + value.length, 0);
    h.writeUInt16LE(type, 2);
    return Buffer.concat([h, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
  };
  const ifinfo = (index) => {
    const b = Buffer.alloc(16);
    b.writeInt32LE(index, 4);
    b.writeUInt32LE(1, 8); // IFF_UP
    return b;
  };
  const ifaddr = (family, prefix, index) => Buffer.from([family, prefix, 0, 0, index, 0, 0, 0]);
  const NLM_F_MULTI = 2;
  const link = nlmsg(16, NLM_F_MULTI, Buffer.concat([ifinfo(2), rta(3, Buffer.from('eth0\0'))]));
  const addr4 = nlmsg(20, NLM_F_MULTI, Buffer.concat([ifaddr(2, 24, 2), rta(2, Buffer.from([10, 77, 0, 1])), rta(1, Buffer.from([10, 77, 0, 1])), rta(3, Buffer.from('eth0:0\0'))]));
  const addr6 = nlmsg(20, NLM_F_MULTI, Buffer.concat([ifaddr(10, 64, 2), rta(1, Buffer.from('fd770000000000000000000000000001', 'hex'))]));
  const done = nlmsg(3, NLM_F_MULTI, Buffer.alloc(4));
  const group = (...msgs) => Buffer.concat([...msgs.map((m) => datagram(m, 0x00)), END]);
  out.fuzz_rtnl_reply.push(
    Buffer.concat([group(link, done), group(link, done), group(addr4, addr6, done), group(addr4, done), group(link)]),
    Buffer.concat([group(done), group(done), group(done), group(done)]),
  );
  // Request records: what lib/wire.ts writes for a few calls.
  const { RecordWriter } = await import(path.join(repo, 'dist', 'wire.js'));
  const K = await import(path.join(repo, 'dist', 'kernel.js'));
  const svc = { protocol: 'tcp', address: '192.0.2.10', port: 22136 };
  const calls = [
    (w) => w.serviceSpec(K.CMD_NEW_SERVICE, { ...svc, scheduler: 'wlc', persistence: { timeout: 300, netmask: '255.255.255.0' } }),
    (w) => w.destinationSpec(K.CMD_NEW_DEST, svc, { address: '10.0.0.11', weight: 1000, forwarding: 'route' }),
    (w) => w.destinationSpec(K.CMD_NEW_DEST, { fwmark: 7, family: 'inet6' }, { address: 'fd00::1', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } }),
    (w) => w.serviceSpec(K.CMD_SET_SERVICE, { protocol: 'udp', address: 'fd00::10', port: 53, scheduler: 'mh', schedulerFlags: ['mh-port'], onePacket: true }),
    (w) => w.destinationKey(K.CMD_DEL_DEST, svc, { address: '10.0.0.11' }),
    (w) => w.serviceKey(K.CMD_DEL_SERVICE, svc),
    (w) => w.bare(K.CMD_FLUSH),
  ];
  for (let k = 1; k <= calls.length; k++) {
    const w = new RecordWriter();
    for (const call of calls.slice(0, k)) call(w);
    const names = w.names.slice(0, 15);
    const head = Buffer.from([(names.length & 0x0f) | (2 << 4)]);
    const nameBytes = names.map((n) => Buffer.concat([Buffer.from([Buffer.byteLength(n)]), Buffer.from(n)]));
    out.fuzz_records.push(Buffer.concat([head, ...nameBytes, Buffer.from(w.records)]));
  }
  // Paths: byte 0 even = a sysctl path, odd = a namespace name.
  for (const p of ['net/ipv4/vs/sloppy_tcp', 'net/ipv4/conf/eth0/arp_ignore', 'net/../kernel', 'net//x', 'kernel/hostname']) out.fuzz_paths.push(Buffer.from(`\0${p}`));
  for (const n of ['lab-director', '..', 'a/b', '.hidden', 'x'.repeat(300)]) out.fuzz_paths.push(Buffer.from(`\x01${n}`));
  return out;
}

/** Writes the seeds, one file per input named by its hash; returns the counts. */
export async function writeSeeds() {
  const all = await seeds();
  const counts = {};
  for (const [target, inputs] of Object.entries(all)) {
    const dir = path.join(seedDir, target);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (const b of inputs) fs.writeFileSync(path.join(dir, crypto.createHash('sha1').update(b).digest('hex')), b);
    counts[target] = fs.readdirSync(dir).length;
  }
  return counts;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const counts = await writeSeeds();
  for (const [t, n] of Object.entries(counts)) console.log(`${t.padEnd(16)} ${n} seeds in ${path.relative(repo, path.join(seedDir, t))}/`);
}

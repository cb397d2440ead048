// The real probes on the host, against servers in this process: TCP (accepted,
// refused), HTTP (status, body) and HTTPS (a self-signed certificate refused
// unless insecure; the Host header and server name). The sockets come from
// the addon, created in the handle's namespace (here the caller's: a handle
// without netns), and are connected by node. The same probes from a
// director's namespace: test/kernel/health.test.ts.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { HealthChecker, type HealthProbe, type HealthTarget, type ProbeResult } from '../../lib/health.js';

const tls = path.join(import.meta.dirname, 'fixtures', 'tls');
const table: HealthTarget = { netnsPath: undefined, updateDestination: async () => {}, addDestination: async () => {}, deleteDestination: async () => {} };

let httpPort = 0;
let httpsPort = 0;
let status = 200;
const seenHosts: string[] = [];
const httpServer = http.createServer((req, res) => {
  res.statusCode = req.url === '/health' ? status : 404;
  res.end('door ready');
});
const httpsServer = https.createServer({ key: readFileSync(path.join(tls, 'key.pem')), cert: readFileSync(path.join(tls, 'cert.pem')) }, (req, res) => {
  seenHosts.push(req.headers.host ?? '');
  res.end('door ready');
});
beforeAll(async () => {
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => httpsServer.listen(0, '127.0.0.1', r));
  httpPort = (httpServer.address() as AddressInfo).port;
  httpsPort = (httpsServer.address() as AddressInfo).port;
});
afterAll(() => {
  httpServer.close();
  httpsServer.close();
});

/** One probe of 127.0.0.1 with `probe`: its result. */
async function probeOnce(probe: HealthProbe): Promise<ProbeResult> {
  const checker = new HealthChecker(table, [
    { service: { protocol: 'tcp', address: '192.0.2.1', port: 80 }, check: { probe, interval: 60_000, timeout: 2000 }, destinations: [{ address: '127.0.0.1', port: 80, forwarding: 'masq' }] },
  ]);
  const result = new Promise<ProbeResult>((resolve) => checker.on('probe', resolve));
  checker.start();
  try {
    return await result;
  } finally {
    await checker.stop();
  }
}

describe('probes against real servers', () => {
  it('tcp: accepted is healthy, refused is "refused"', async () => {
    expect(await probeOnce({ type: 'tcp', port: httpPort })).toMatchObject({ ok: true, reason: 'healthy' });
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await probeOnce({ type: 'tcp', port })).toMatchObject({ ok: false, reason: 'refused' });
  });

  it('http: the status and the body decide', async () => {
    expect(await probeOnce({ type: 'http', port: httpPort, path: '/health', body: 'ready' })).toMatchObject({ ok: true });
    status = 503;
    expect(await probeOnce({ type: 'http', port: httpPort, path: '/health' })).toMatchObject({ ok: false, reason: 'status 503' });
    expect(await probeOnce({ type: 'http', port: httpPort, path: '/health', status: [200, 503] })).toMatchObject({ ok: true });
    status = 200;
    expect(await probeOnce({ type: 'http', port: httpPort, path: '/health', body: /draining/ })).toMatchObject({ ok: false, reason: 'body did not match' });
    expect(await probeOnce({ type: 'http', port: httpPort, path: '/elsewhere' })).toMatchObject({ ok: false, reason: 'status 404' });
  });

  it('https: a certificate that does not verify fails, insecure accepts it; host is the Host header', async () => {
    const refused = await probeOnce({ type: 'https', port: httpsPort, host: 'door.example' });
    expect(refused).toMatchObject({ ok: false, reason: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(await probeOnce({ type: 'https', port: httpsPort, host: 'door.example', insecure: true })).toMatchObject({ ok: true });
    expect(seenHosts.at(-1)).toBe(`door.example:${httpsPort}`);
  });
});

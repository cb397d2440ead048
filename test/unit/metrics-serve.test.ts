// serveMetrics() over a table source the test holds: scrapes that arrive
// while a read is under way share it (one snapshot() for five scrapes), a
// failed read answers 503 in words and counts as an error, other paths are
// 404. The values themselves are checked against the real kernel, with
// traffic, in test/kernel/watch.test.ts.
import http from 'node:http';
import { createRequire } from 'node:module';

import { afterEach, expect, it } from 'vitest';

import { serveMetrics, type MetricsServer } from '../../lib/metrics.js';
import type { ServiceWithDestinations } from '../../lib/types.js';

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Sends a GET; resolves `sent` once the request is written to the socket, `reply` with status and body. */
function get(port: number, path: string): { sent: Promise<void>; reply: Promise<{ status: number; body: string }> } {
  let sent!: () => void;
  const sentP = new Promise<void>((r) => (sent = r));
  const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('finish', sent);
    req.on('error', reject);
    req.end();
  });
  return { sent: sentP, reply };
}

const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => { name: string; metrics: { value: string }[] }[];

/** The value of an unlabelled metric in Prometheus text, read with a text-format parser. */
const sample = (text: string, name: string): string | undefined => parsePrometheus(text).find((f) => f.name === name)?.metrics[0]?.value;

it('scrapes that arrive while a read is under way share it', async () => {
  let reads = 0;
  let release!: (table: ServiceWithDestinations[]) => void;
  const source = {
    snapshot: (): Promise<ServiceWithDestinations[]> => {
      reads++;
      return new Promise((resolve) => (release = resolve));
    },
  };
  server = await serveMetrics(source, { host: '127.0.0.1', port: 0 });
  const scrapes = Array.from({ length: 5 }, () => get(server!.address.port, '/metrics'));
  await Promise.all(scrapes.map((s) => s.sent));
  // The requests are in the server's sockets; its next turns parse them, all while the first read is held.
  while (reads === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 50));
  release([]);
  const replies = await Promise.all(scrapes.map((s) => s.reply));
  expect(reads).toBe(1);
  expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  expect(replies.map((r) => sample(r.body, 'ipvs_scrapes_total'))).toEqual(['1', '1', '1', '1', '1']);

  // The next scrape reads again.
  const next = get(server.address.port, '/metrics');
  while (reads === 1) await new Promise((r) => setTimeout(r, 5));
  release([]);
  expect(sample((await next.reply).body, 'ipvs_scrapes_total')).toBe('2');
});

it('a failed read answers 503 with the reason and counts an error; other paths are 404', async () => {
  let fail = true;
  const source = {
    snapshot: async (): Promise<ServiceWithDestinations[]> => {
      if (fail) throw new Error('netlink peer closed the connection');
      return [];
    },
  };
  server = await serveMetrics(source, { host: '127.0.0.1', port: 0 });
  const failed = await get(server.address.port, '/metrics').reply;
  expect(failed.status).toBe(503);
  expect(failed.body).toBe('reading the IPVS table failed: netlink peer closed the connection\n');
  fail = false;
  const ok = await get(server.address.port, '/metrics').reply;
  expect(ok.status).toBe(200);
  expect(sample(ok.body, 'ipvs_scrape_errors_total')).toBe('1');
  expect((await get(server.address.port, '/other').reply).status).toBe(404);
});

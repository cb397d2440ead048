/**
 * The IPVS table as Prometheus metrics (text exposition format 0.0.4), and
 * a scrape endpoint that reads the table once per scrape.
 *
 * Written here rather than with prom-client: a scrape is one `snapshot()`
 * turned into text, so there is no state to keep between scrapes, while a
 * registry keeps a labelled child per series (a 10 000 × 10 table: over a
 * million objects alive between scrapes) and writes each metric's series in
 * one synchronous loop. This writer hands the event loop a turn every few
 * milliseconds, and counters stay exact 64-bit decimals.
 *
 * @module
 */

import http from 'node:http';

import type { HealthState } from './health.js';
import { Pacer } from './pace.js';
import type { Destination, ServiceKey, ServiceWithDestinations } from './types.js';

/** What a handle must offer to be scraped: an {@link Ipvs} does. */
export interface MetricsSource {
  /** The whole table. */
  snapshot(): Promise<ServiceWithDestinations[]>;
}

/** Options of {@link formatMetrics}. */
export interface MetricsOptions {
  /** Health-check states (from a running {@link HealthChecker}): adds `ipvs_real_server_up` and the time of the last change. */
  health?: readonly HealthState[];
  /** Self-metrics of the scrape endpoint. */
  self?: {
    /** Seconds the last table read took. */
    readSeconds: number;
    /** Scrapes that failed since the endpoint started. */
    errors: number;
    /** Scrapes served since the endpoint started. */
    scrapes: number;
  };
}

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function serviceLabels(key: ServiceKey): string {
  if ('fwmark' in key) return `protocol="fwmark",address="",port="",fwmark="${key.fwmark}",family="${key.family ?? 'inet'}"`;
  return `protocol="${key.protocol}",address="${escape(key.address)}",port="${key.port}",fwmark="",family="${key.address.includes(':') ? 'inet6' : 'inet'}"`;
}

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
}

const SERVICE_METRICS: [Family, (s: ServiceWithDestinations) => string][] = [
  [{ name: 'ipvs_service_connections_total', type: 'counter', help: 'Connections scheduled by the service.' }, (s) => s.stats.conns.toString()],
  [{ name: 'ipvs_service_packets_in_total', type: 'counter', help: 'Packets in (client to server).' }, (s) => s.stats.inPkts.toString()],
  [{ name: 'ipvs_service_packets_out_total', type: 'counter', help: 'Packets out (server to client; 0 in direct routing and tunnelling).' }, (s) => s.stats.outPkts.toString()],
  [{ name: 'ipvs_service_bytes_in_total', type: 'counter', help: 'Bytes in.' }, (s) => s.stats.inBytes.toString()],
  [{ name: 'ipvs_service_bytes_out_total', type: 'counter', help: 'Bytes out.' }, (s) => s.stats.outBytes.toString()],
  [{ name: 'ipvs_service_connections_per_second', type: 'gauge', help: "The kernel's estimate of new connections per second." }, (s) => String(s.rates.cps)],
  [{ name: 'ipvs_service_packets_in_per_second', type: 'gauge', help: "The kernel's estimate of packets in per second." }, (s) => String(s.rates.inPps)],
  [{ name: 'ipvs_service_packets_out_per_second', type: 'gauge', help: "The kernel's estimate of packets out per second." }, (s) => String(s.rates.outPps)],
  [{ name: 'ipvs_service_bytes_in_per_second', type: 'gauge', help: "The kernel's estimate of bytes in per second." }, (s) => String(s.rates.inBps)],
  [{ name: 'ipvs_service_bytes_out_per_second', type: 'gauge', help: "The kernel's estimate of bytes out per second." }, (s) => String(s.rates.outBps)],
];

const DESTINATION_METRICS: [Family, (d: Destination) => string][] = [
  [{ name: 'ipvs_real_server_connections_total', type: 'counter', help: 'Connections scheduled to the real server.' }, (d) => d.stats.conns.toString()],
  [{ name: 'ipvs_real_server_packets_in_total', type: 'counter', help: 'Packets in to the real server.' }, (d) => d.stats.inPkts.toString()],
  [{ name: 'ipvs_real_server_packets_out_total', type: 'counter', help: 'Packets out from the real server (0 in direct routing and tunnelling).' }, (d) => d.stats.outPkts.toString()],
  [{ name: 'ipvs_real_server_bytes_in_total', type: 'counter', help: 'Bytes in to the real server.' }, (d) => d.stats.inBytes.toString()],
  [{ name: 'ipvs_real_server_bytes_out_total', type: 'counter', help: 'Bytes out from the real server.' }, (d) => d.stats.outBytes.toString()],
  [{ name: 'ipvs_real_server_connections_per_second', type: 'gauge', help: "The kernel's estimate of new connections per second." }, (d) => String(d.rates.cps)],
  [{ name: 'ipvs_real_server_packets_in_per_second', type: 'gauge', help: "The kernel's estimate of packets in per second." }, (d) => String(d.rates.inPps)],
  [{ name: 'ipvs_real_server_packets_out_per_second', type: 'gauge', help: "The kernel's estimate of packets out per second." }, (d) => String(d.rates.outPps)],
  [{ name: 'ipvs_real_server_bytes_in_per_second', type: 'gauge', help: "The kernel's estimate of bytes in per second." }, (d) => String(d.rates.inBps)],
  [{ name: 'ipvs_real_server_bytes_out_per_second', type: 'gauge', help: "The kernel's estimate of bytes out per second." }, (d) => String(d.rates.outBps)],
  [{ name: 'ipvs_real_server_active_connections', type: 'gauge', help: 'Connections in ESTABLISHED state (TCP) or equivalent.' }, (d) => String(d.activeConnections)],
  [{ name: 'ipvs_real_server_inactive_connections', type: 'gauge', help: 'Connections in other states.' }, (d) => String(d.inactiveConnections)],
  [{ name: 'ipvs_real_server_persistent_connections', type: 'gauge', help: 'Persistence templates pointing at the real server.' }, (d) => String(d.persistentConnections)],
  [{ name: 'ipvs_real_server_weight', type: 'gauge', help: 'The scheduling weight (0: no new connections).' }, (d) => String(d.weight)],
];

const header = (f: Family): string => `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;

/**
 * The table (and, when given, health states and self-metrics) in the
 * Prometheus text format, a slice at a time: services labelled by
 * protocol, address, port (or fwmark) and family; real servers also by
 * `real_server` and `real_server_port`. Counters are the kernel's exact
 * 64-bit values.
 *
 * @param table - What `snapshot()` read.
 * @param options - Health states and self-metrics to include.
 * @returns The exposition text.
 */
export async function formatMetrics(table: readonly ServiceWithDestinations[], options: MetricsOptions = {}): Promise<string> {
  const parts: string[] = [];
  for await (const chunk of metricsChunks(table, options)) parts.push(chunk);
  return parts.join('');
}

/** Text of at most about this many lines per chunk: one joined string, not a million little ones. */
const CHUNK_LINES = 512;

/**
 * The same text as {@link formatMetrics}, in chunks of a few thousand lines,
 * handing the event loop a turn every few milliseconds: what the endpoint
 * streams, so that a scrape of a large table never builds (or joins) it all
 * at once.
 *
 * @internal
 */
export async function* metricsChunks(table: readonly ServiceWithDestinations[], options: MetricsOptions = {}): AsyncGenerator<string> {
  const pace = new Pacer();
  let lines: string[] = [];
  const flush = (): string => {
    const chunk = lines.join('');
    lines = [];
    return chunk;
  };
  const labels: string[] = [];
  for (let i = 0; i < table.length; i++) {
    if ((i & 255) === 0 && pace.due()) await pace.yield();
    labels.push(serviceLabels(table[i]!));
  }
  for (const [family, value] of SERVICE_METRICS) {
    lines.push(header(family));
    for (let i = 0; i < table.length; i++) {
      lines.push(`${family.name}{${labels[i]}} ${value(table[i]!)}\n`);
      if (lines.length >= CHUNK_LINES) {
        yield flush();
        if (pace.due()) await pace.yield();
      }
    }
  }
  for (const [family, value] of DESTINATION_METRICS) {
    lines.push(header(family));
    for (let i = 0; i < table.length; i++) {
      const s = table[i]!;
      for (const d of s.destinations) {
        lines.push(`${family.name}{${labels[i]},real_server="${escape(d.address)}",real_server_port="${d.port}"} ${value(d)}\n`);
      }
      if (lines.length >= CHUNK_LINES) {
        yield flush();
        if (pace.due()) await pace.yield();
      }
    }
  }
  if (options.health?.length) {
    const up = { name: 'ipvs_real_server_up', type: 'gauge' as const, help: 'The health check says the real server is up (1) or down (0).' };
    const since = { name: 'ipvs_real_server_state_change_timestamp_seconds', type: 'gauge' as const, help: 'When the health-check state last changed (Unix time).' };
    const rows = options.health.map((h) => `${serviceLabels(h.service)},real_server="${escape(h.destination.address)}",real_server_port="${h.destination.port}"`);
    lines.push(header(up), ...options.health.map((h, i) => `${up.name}{${rows[i]}} ${h.state === 'up' ? 1 : 0}\n`));
    lines.push(header(since), ...options.health.map((h, i) => `${since.name}{${rows[i]}} ${(h.since.getTime() / 1000).toFixed(3)}\n`));
  }
  if (options.self) {
    const self: [Family, number][] = [
      [{ name: 'ipvs_scrape_read_seconds', type: 'gauge', help: 'Seconds the table read of this scrape took.' }, options.self.readSeconds],
      [{ name: 'ipvs_scrapes_total', type: 'counter', help: 'Scrapes served.' }, options.self.scrapes],
      [{ name: 'ipvs_scrape_errors_total', type: 'counter', help: 'Scrapes that failed to read the table.' }, options.self.errors],
    ];
    for (const [family, value] of self) lines.push(header(family), `${family.name} ${value}\n`);
  }
  if (lines.length) yield flush();
}

/** Options of {@link serveMetrics}. */
export interface ServeMetricsOptions {
  /** The address to listen on (only that one: no wildcard unless given). */
  host: string;
  /** The port. */
  port: number;
  /** Health states to include, read at each scrape. */
  health?: () => readonly HealthState[];
}

/** A running metrics endpoint from {@link serveMetrics}. */
export interface MetricsServer {
  /** The address and port it listens on. */
  address: {
    /** The address. */
    host: string;
    /** The port (the one the kernel chose, for port 0). */
    port: number;
  };
  /** Stops listening. */
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` on `host:port`: each scrape reads the table once
 * (`snapshot()`), and scrapes that arrive while a read is under way share
 * it. A failed read answers 503 with the reason and counts in
 * `ipvs_scrape_errors_total`.
 */
export async function serveMetrics(ipvs: MetricsSource, options: ServeMetricsOptions): Promise<MetricsServer> {
  // Scrapes that arrive while a read is under way share it; each streams its own text.
  let inFlight: Promise<{ table: ServiceWithDestinations[]; readSeconds: number }> | undefined;
  let errors = 0;
  let scrapes = 0;
  const read = async (): Promise<{ table: ServiceWithDestinations[]; readSeconds: number }> => {
    const t = performance.now();
    try {
      const table = await ipvs.snapshot();
      scrapes++;
      return { table, readSeconds: (performance.now() - t) / 1000 };
    } catch (e) {
      errors++;
      throw e;
    }
  };
  const serve = async (res: http.ServerResponse): Promise<void> => {
    let got;
    try {
      inFlight ??= read().finally(() => (inFlight = undefined));
      got = await inFlight;
    } catch (e) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`reading the IPVS table failed: ${e instanceof Error ? e.message : String(e)}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    const options2 = { ...(options.health ? { health: options.health() } : {}), self: { readSeconds: got.readSeconds, errors, scrapes } };
    for await (const chunk of metricsChunks(got.table, options2)) {
      if (res.destroyed) return;
      // Respect the client's pace: wait for the socket to drain rather than queue the whole text.
      if (!res.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done).off('close', done);
            resolve();
          };
          res.on('drain', done).on('close', done);
        });
      }
    }
    res.end();
  };
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('ipvs-ts serves /metrics\n');
      return;
    }
    serve(res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : options.port;
  return {
    address: { host: options.host, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // a scraper's kept-alive connection would hold close() open
      }),
  };
}

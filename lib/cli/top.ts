/**
 * `ipvs-ts top`: the table with its rates, refreshed. On a terminal a full
 * screen (alternate screen, keys: q quits, s changes the sort, arrows and
 * page keys scroll); otherwise a plain listing every interval. No UI
 * library: a table of text rows, cut to the terminal's width.
 *
 * @internal
 * @module
 */

import type { Ipvs } from '../ipvs.js';
import { describeServiceKey } from '../convert.js';
import type { Destination, ServiceWithDestinations } from '../types.js';
import type { CliIo } from './io.js';

export {};

/** Sort keys of `top`, and what they sort by (services and, within each, real servers; largest first). */
export const SORT_KEYS = ['table', 'conns', 'cps', 'inpps', 'outpps', 'inbps', 'outbps', 'active', 'inactive', 'weight'] as const;
/** One of {@link SORT_KEYS}. */
export type SortKey = (typeof SORT_KEYS)[number];

type Row = ServiceWithDestinations | Destination;

function sortValue(r: Row, key: SortKey): number {
  switch (key) {
    case 'conns':
      return Number(r.stats.conns);
    case 'cps':
      return r.rates.cps;
    case 'inpps':
      return r.rates.inPps;
    case 'outpps':
      return r.rates.outPps;
    case 'inbps':
      return r.rates.inBps;
    case 'outbps':
      return r.rates.outBps;
    case 'active':
      return 'activeConnections' in r ? r.activeConnections : r.destinations.reduce((a, d) => a + d.activeConnections, 0);
    case 'inactive':
      return 'inactiveConnections' in r ? r.inactiveConnections : r.destinations.reduce((a, d) => a + d.inactiveConnections, 0);
    case 'weight':
      return 'weight' in r ? r.weight : r.destinations.reduce((a, d) => a + d.weight, 0);
    default:
      return 0;
  }
}

/** 1234567 → "1.2M": rates in a fixed width. */
function human(n: number): string {
  if (n < 1000) return String(Math.round(n));
  const units = ['K', 'M', 'G', 'T'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

const COLUMNS = ['Weight', 'Active', 'InAct', 'Conn/s', 'InPkt/s', 'OutPkt/s', 'InB/s', 'OutB/s', 'Conns'] as const;

function cells(r: Row): string[] {
  const service = !('weight' in r);
  return [
    service ? '' : String(r.weight),
    String(sortValue(r, 'active')),
    String(sortValue(r, 'inactive')),
    human(r.rates.cps),
    human(r.rates.inPps),
    human(r.rates.outPps),
    human(r.rates.inBps),
    human(r.rates.outBps),
    human(Number(r.stats.conns)),
  ];
}

/**
 * The screen's lines for `table`, sorted by `key`, cut to `width` columns
 * (the right-most columns go first on a narrow terminal).
 */
export function renderTop(table: readonly ServiceWithDestinations[], key: SortKey, width: number, color: boolean): string[] {
  const services = key === 'table' ? [...table] : [...table].sort((a, b) => sortValue(b, key) - sortValue(a, key));
  const rows: { name: string; cells: string[]; service: boolean }[] = [];
  for (const s of services) {
    rows.push({ name: describeServiceKey(s), cells: cells(s), service: true });
    const dests = key === 'table' ? s.destinations : [...s.destinations].sort((a, b) => sortValue(b, key) - sortValue(a, key));
    for (const d of dests) rows.push({ name: `  -> ${d.address.includes(':') ? `[${d.address}]` : d.address}:${d.port} ${d.forwarding}`, cells: cells(d), service: false });
  }
  const nameWidth = Math.max(22, ...rows.map((r) => r.name.length));
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r.cells[i]!.length)));
  // As many columns as fit, left to right.
  let shown = COLUMNS.length;
  const lineWidth = (n: number): number => nameWidth + widths.slice(0, n).reduce((a, w) => a + w + 2, 0);
  while (shown > 1 && lineWidth(shown) > width) shown--;
  const line = (name: string, values: readonly string[]): string =>
    (name.padEnd(nameWidth) + values.slice(0, shown).map((v, i) => `  ${v.padStart(widths[i]!)}`).join('')).slice(0, width);
  const bold = (s: string): string => (color ? `\x1b[1m${s}\x1b[0m` : s);
  const out = [bold(line('Service / real server', COLUMNS))];
  for (const r of rows) out.push(r.service ? bold(line(r.name, r.cells)) : line(r.name, r.cells));
  if (rows.length === 0) out.push('(no virtual services)');
  return out;
}

/** Options of {@link runTop}. */
export interface TopOptions {
  io: CliIo;
  ipvs: Ipvs;
  intervalMs: number;
  sort: SortKey;
  /** Refreshes before stopping (plain mode); undefined: until q or a signal. */
  count: number | undefined;
  /** Resolves when SIGTERM or SIGINT arrives. */
  stopped: Promise<string>;
}

/** Runs `top` until q, a signal, or `count` refreshes; returns the exit status. */
export async function runTop(o: TopOptions): Promise<number> {
  const stdout = process.stdout;
  const tty = o.io.stdout === stdout && stdout.isTTY === true && process.stdin.isTTY === true && o.count === undefined;
  const color = tty && !process.env.NO_COLOR;
  let sort = o.sort;
  let offset = 0;
  let quit = false;
  let wake: () => void = () => undefined;
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  void o.stopped.then(() => {
    quit = true;
    wake();
  });

  const onKey = (data: Buffer): void => {
    const k = data.toString();
    if (k === 'q' || k === '\x03') quit = true;
    else if (k === 's') sort = SORT_KEYS[(SORT_KEYS.indexOf(sort) + 1) % SORT_KEYS.length]!;
    else if (k === '\x1b[B' || k === 'j') offset++;
    else if (k === '\x1b[A' || k === 'k') offset = Math.max(0, offset - 1);
    else if (k === '\x1b[6~' || k === ' ') offset += Math.max(1, (stdout.rows ?? 24) - 3);
    else if (k === '\x1b[5~') offset = Math.max(0, offset - Math.max(1, (stdout.rows ?? 24) - 3));
    else if (k === 'g') offset = 0;
    wake();
  };
  if (tty) {
    stdout.write('\x1b[?1049h\x1b[?25l'); // alternate screen, cursor hidden
    process.stdin.setRawMode(true);
    process.stdin.on('data', onKey);
    process.stdin.resume();
  }
  try {
    for (let n = 0; !quit && (o.count === undefined || n < o.count); n++) {
      const table = await o.ipvs.snapshot();
      const info = await o.ipvs.info();
      const width = tty ? (stdout.columns ?? 80) : 200;
      const lines = renderTop(table, sort, width, color);
      const servers = table.reduce((a, s) => a + s.destinations.length, 0);
      const title = `ipvs-ts top — ${table.length} service${table.length === 1 ? '' : 's'}, ${servers} real server${servers === 1 ? '' : 's'}; IPVS ${info.version}; sort: ${sort} (s); ${new Date().toLocaleTimeString('en-GB')}`;
      if (tty) {
        const rows = Math.max(3, (stdout.rows ?? 24) - 2);
        const body = lines.slice(1);
        offset = Math.min(offset, Math.max(0, body.length - (rows - 1)));
        const screen = [title.slice(0, width), lines[0]!, ...body.slice(offset, offset + rows - 1)];
        stdout.write(`\x1b[H\x1b[2J${screen.join('\n')}\n${'q quits, s sorts, arrows scroll'.slice(0, width)}`);
      } else {
        o.io.stdout.write(`${title}\n${lines.join('\n')}\n\n`);
      }
      if (quit || (o.count !== undefined && n + 1 >= o.count)) break;
      await sleep(o.intervalMs);
    }
  } finally {
    if (tty) {
      process.stdin.off('data', onKey);
      process.stdin.setRawMode(false);
      process.stdin.pause();
      stdout.write('\x1b[?25h\x1b[?1049l');
    }
  }
  return 0;
}

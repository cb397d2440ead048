/**
 * `ipvs-ts import keepalived FILE`: keepalived.conf's `virtual_server`
 * blocks as a run FILE (docs/health.md), for users moving over. What has no
 * equivalent is refused with its line; blocks other than `virtual_server`
 * (global_defs, vrrp_*) are skipped and named.
 *
 * @internal
 * @module
 */

export {};

interface Token {
  text: string;
  line: number;
}

interface Node {
  words: Token[];
  children: Node[] | undefined;
}

/** Words, braces and line numbers; `#` and `!` start comments. */
function tokenize(text: string): Token[] {
  const out: Token[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/[#!].*$/, '');
    for (const m of line.matchAll(/[{}]|"[^"]*"|[^\s{}]+/g)) out.push({ text: m[0].replace(/^"(.*)"$/, '$1'), line: i + 1 });
  });
  return out;
}

/** Statements: words up to a line end or a block. */
function parseBlock(tokens: Token[], at: { i: number }, problems: string[], closing: boolean): Node[] {
  const nodes: Node[] = [];
  let words: Token[] = [];
  const flush = (): void => {
    if (words.length) nodes.push({ words, children: undefined });
    words = [];
  };
  while (at.i < tokens.length) {
    const t = tokens[at.i++]!;
    if (t.text === '{') {
      const children = parseBlock(tokens, at, problems, true);
      nodes.push({ words, children });
      words = [];
    } else if (t.text === '}') {
      flush();
      if (!closing) problems.push(`line ${t.line}: '}' without its '{'`);
      return nodes;
    } else {
      if (words.length && words[0]!.line !== t.line) flush();
      words.push(t);
    }
  }
  flush();
  if (closing) problems.push(`end of file: a block is not closed ('}' missing)`);
  return nodes;
}

const int = (t: Token | undefined, what: string, problems: string[], min = 0, max = 2 ** 31 - 1): number | undefined => {
  const n = t === undefined ? Number.NaN : Number(t.text);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`line ${t?.line ?? '?'}: ${what} must be an integer ${min}–${max}, got ${t ? `'${t.text}'` : 'nothing'}`);
    return undefined;
  }
  return n;
};

const seconds = (t: Token | undefined, what: string, problems: string[]): number | undefined => {
  const n = t === undefined ? Number.NaN : Number(t.text);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) {
    problems.push(`line ${t?.line ?? '?'}: ${what} must be seconds (0–86400], got ${t ? `'${t.text}'` : 'nothing'}`);
    return undefined;
  }
  return Math.round(n * 1000);
};

const KINDS: Record<string, string> = { DR: 'route', NAT: 'masq', TUN: 'tunnel' };

interface Check {
  probe: Record<string, unknown>;
  timeout?: number;
  fall?: number;
}

/** A checker block of a real_server: TCP_CHECK, HTTP_GET, SSL_GET. */
function checker(node: Node, problems: string[]): Check | undefined {
  const kind = node.words[0]!;
  const probe: Record<string, unknown> = { type: kind.text === 'TCP_CHECK' ? 'tcp' : kind.text === 'HTTP_GET' ? 'http' : 'https' };
  const check: Check = { probe };
  const statuses: number[] = [];
  for (const c of node.children ?? []) {
    const [key, ...args] = c.words;
    if (!key) continue;
    switch (key.text) {
      case 'connect_port':
        probe.port = int(args[0], 'connect_port', problems, 1, 65535);
        break;
      case 'connect_timeout':
        check.timeout = seconds(args[0], 'connect_timeout', problems);
        break;
      case 'retry':
      case 'nb_get_retry':
        check.fall = int(args[0], key.text, problems, 1, 1000);
        break;
      case 'delay_before_retry':
        break; // probes run every interval; see docs/health.md
      case 'url': {
        if (probe.type === 'tcp') {
          problems.push(`line ${key.line}: url in TCP_CHECK`);
          break;
        }
        if (probe.path !== undefined) {
          problems.push(`line ${key.line}: more than one url: ipvs-ts probes one path per real server`);
          break;
        }
        for (const u of c.children ?? []) {
          const [k, v] = u.words;
          if (k?.text === 'path' && v) probe.path = v.text;
          else if (k?.text === 'status_code' && v) {
            const n = int(v, 'status_code', problems, 100, 599);
            if (n !== undefined) statuses.push(n);
          } else if (k) problems.push(`line ${k.line}: url ${k.text} is not supported (ipvs-ts checks path and status_code; a body match is "probe.body")`);
        }
        break;
      }
      default:
        problems.push(`line ${key.line}: ${kind.text} ${key.text} is not supported`);
    }
  }
  if (statuses.length) probe.status = statuses.length === 1 ? statuses[0] : statuses;
  return check;
}

/** What `import keepalived` gives: the run FILE, the problems (line by line), the blocks skipped. */
export interface KeepalivedImport {
  file: { services: Record<string, unknown>[] };
  problems: string[];
  skipped: string[];
}

/** Converts keepalived.conf text. */
export function importKeepalived(text: string): KeepalivedImport {
  const problems: string[] = [];
  const skipped: string[] = [];
  const nodes = parseBlock(tokenize(text), { i: 0 }, problems, false);
  const services: Record<string, unknown>[] = [];
  for (const node of nodes) {
    const head = node.words[0];
    if (!head) continue;
    if (head.text === 'include') {
      problems.push(`line ${head.line}: include is not supported: import the included file itself`);
      continue;
    }
    if (head.text === 'virtual_server_group') {
      problems.push(`line ${head.line}: virtual_server_group is not supported: one virtual_server per service`);
      continue;
    }
    if (head.text !== 'virtual_server') {
      skipped.push(`${node.words.map((w) => w.text).join(' ')} (line ${head.line})`);
      continue;
    }
    const service: Record<string, unknown> = {};
    const [a, b] = node.words.slice(1);
    if (a?.text === 'fwmark') service.fwmark = int(b, 'fwmark', problems, 1, 0xffffffff);
    else if (a?.text === 'group') problems.push(`line ${a.line}: virtual_server group is not supported`);
    else if (a && b) {
      service.protocol = 'tcp';
      service.address = a.text;
      service.port = int(b, 'virtual_server port', problems, 0, 65535);
    } else {
      problems.push(`line ${head.line}: virtual_server needs an address and a port, or fwmark N`);
      continue;
    }
    let interval = 60_000; // keepalived's default delay_loop
    let forwarding = 'masq'; // keepalived's default lb_kind
    let persistence: Record<string, unknown> | undefined;
    const reals: { words: Token[]; children: Node[] }[] = [];
    for (const c of node.children ?? []) {
      const [key, ...args] = c.words;
      if (!key) continue;
      switch (key.text) {
        case 'delay_loop':
          interval = seconds(args[0], 'delay_loop', problems) ?? interval;
          break;
        case 'lb_algo':
        case 'lvs_sched':
          if (args[0]) service.scheduler = args[0].text;
          break;
        case 'lb_kind':
        case 'lvs_method': {
          const k = args[0] ? KINDS[args[0].text.toUpperCase()] : undefined;
          if (k) forwarding = k;
          else problems.push(`line ${key.line}: ${key.text} must be DR, NAT or TUN, got '${args[0]?.text ?? ''}'`);
          break;
        }
        case 'protocol': {
          const p = args[0]?.text.toLowerCase();
          if (p === 'tcp' || p === 'udp' || p === 'sctp') {
            if (service.fwmark === undefined) service.protocol = p;
          } else problems.push(`line ${key.line}: protocol must be TCP, UDP or SCTP, got '${args[0]?.text ?? ''}'`);
          break;
        }
        case 'persistence_timeout':
          persistence = { ...persistence, timeout: int(args[0], 'persistence_timeout', problems, 1, 2678400) };
          break;
        case 'persistence_granularity':
          if (args[0]) persistence = { ...persistence, netmask: /^\d+$/.test(args[0].text) ? Number(args[0].text) : args[0].text };
          break;
        case 'sorry_server':
          if (args[0]) service.sorryServer = { address: args[0].text, ...(args[1] ? { port: int(args[1], 'sorry_server port', problems, 0, 65535) } : {}), weight: 1 };
          break;
        case 'real_server':
          reals.push({ words: c.words, children: c.children ?? [] });
          break;
        default:
          problems.push(`line ${key.line}: virtual_server ${key.text} is not supported`);
      }
    }
    if (persistence) service.persistence = persistence;
    const destinations: Record<string, unknown>[] = [];
    const checks: (Check | undefined)[] = [];
    for (const r of reals) {
      const [, addr, port] = r.words;
      if (!addr) {
        problems.push(`line ${r.words[0]!.line}: real_server needs an address`);
        continue;
      }
      const dest: Record<string, unknown> = { address: addr.text, forwarding };
      if (port) dest.port = int(port, 'real_server port', problems, 0, 65535);
      let check: Check | undefined;
      let inhibit = false;
      for (const c of r.children) {
        const [key, ...args] = c.words;
        if (!key) continue;
        if (key.text === 'weight') dest.weight = int(args[0], 'weight', problems);
        else if (key.text === 'inhibit_on_failure') inhibit = true;
        else if (key.text === 'TCP_CHECK' || key.text === 'HTTP_GET' || key.text === 'SSL_GET') {
          if (check) problems.push(`line ${key.line}: more than one checker on a real_server: ipvs-ts runs one probe per real server`);
          else check = checker(c, problems);
        } else if (key.text === 'MISC_CHECK') problems.push(`line ${key.line}: MISC_CHECK runs a script: use a custom probe from the API (docs/health.md)`);
        else problems.push(`line ${key.line}: real_server ${key.text} is not supported`);
      }
      if (check) dest.check = { ...check, onDown: inhibit ? 'weight0' : 'remove' };
      destinations.push(dest);
      checks.push(check);
    }
    service.destinations = destinations;
    // The service's check is its first real server's; each real server keeps its own on top.
    const first = checks.find((c) => c !== undefined);
    if (first) {
      const unchecked = destinations.filter((_, i) => checks[i] === undefined);
      if (unchecked.length) {
        problems.push(`line ${head.line}: real_server ${unchecked.map((d) => d.address).join(', ')} has no checker while others of this virtual_server have: ipvs-ts checks every real server of a checked service`);
      }
      service.check = { probe: first.probe, interval, rise: 1, fall: first.fall ?? 1, ...(first.timeout ? { timeout: Math.min(first.timeout, interval) } : {}) };
      for (const d of destinations) {
        const own = d.check as (Check & { onDown: string }) | undefined;
        if (!own) continue;
        d.check = { probe: own.probe, fall: own.fall ?? 1, onDown: own.onDown, ...(own.timeout ? { timeout: Math.min(own.timeout, interval) } : {}) };
      }
    }
    services.push(service);
  }
  return { file: { services }, problems, skipped };
}

// Traffic from a lab's client namespace that lasts: connections held open
// while a test changes the table, closed when the test says so.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** A client that opens `n` connections to the VIP, keeps them open (half-closed by the server after its answer) and prints which server answered each; closes them all when its stdin ends. */
export function holdConnections(netns: string, vip: string, port: number, n: number): ChildProcess {
  const script = `
const net = require('net');
const names = [];
const sockets = [];
for (let i = 0; i < ${n}; i++) {
  const s = net.connect({ host: ${JSON.stringify(vip)}, port: ${port}, allowHalfOpen: true });
  let got = '';
  s.on('data', (d) => { got += d; });
  s.on('end', () => { names.push(got); if (names.length === ${n}) console.log(JSON.stringify(names)); });
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
  sockets.push(s);
}
process.stdin.on('end', () => { for (const s of sockets) s.end(); setTimeout(() => process.exit(0), 200); });
process.stdin.resume();
`;
  return spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
}

/** The first line a child prints. */
export async function firstLine(child: ChildProcess): Promise<string> {
  let buf = '';
  for (;;) {
    const [chunk] = (await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => [null])])) as [Buffer | null];
    if (chunk === null) throw new Error(`the client exited before answering: ${JSON.stringify(buf)}`);
    buf += chunk.toString();
    if (buf.includes('\n')) return buf.split('\n')[0]!;
  }
}


#!/usr/bin/env node
// Run a command inside a User-Mode Linux (UML) kernel that has IPVS, with the
// host's / as the guest's root filesystem.
//
//   node scripts/uml.mjs [--timeout SEC] [--mem SIZE] [--verbose] [--keep] [--] <command> [args...]
//
// The command runs as root in the guest, in the current folder, with the host's
// environment (TERM=dumb, IPVS_UML=1 added). Its stdout and stderr are streamed to
// ours; its exit status becomes ours. Exit statuses of the runner itself:
//   124  the guest did not finish within the timeout (IPVS_UML_TIMEOUT, seconds)
//   125  the kernel could not be found/fetched, or the guest died before the end
//        (then a few lines say what failed, why, what to do, and where the
//        guest's whole console is kept: .cache/uml/console/)
//
// Environment:
//   IPVS_UML_TIMEOUT   seconds before the guest is killed (default 1200)
//   IPVS_UML_MEM       guest memory (default 1G)
//   IPVS_UML_VERBOSE=1 stream the guest console (boot and kernel messages) to stderr
//   IPVS_UML_KEEP=1    keep the per-boot temporary folder (printed) for debugging
//   IPVS_UML_KERNEL    path of a UML kernel binary to use instead of the search
//   IPVS_UML_MODULES   its modules folder (the one holding modules.dep)
//   IPVS_UML_XSTATE    auto|force|off: the ptrace shim for hosts whose XSAVE area is
//                      larger than UML 6.1's buffer (AMX); see scripts/uml/xstate.mjs
//
// Also a library: import { runInUml, findUml, hostIpvs, selectKernel } from './uml.mjs'.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { diagnoseBoot } from './uml/diagnose.mjs';
import { describeReport, readReport, shimForBoot } from './uml/xstate.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.dirname(here);
const initScript = path.join(here, 'uml', 'init.sh');

export const INSTALL_HINT = 'sudo apt-get install user-mode-linux kmod iproute2 ipvsadm';

/**
 * Modules loaded before the command starts. ip_vs_mh is left out on purpose: the
 * kernel loads it on demand through kernel.modprobe when a service asks for "mh",
 * and test/kernel/harness.test.ts checks that this path works.
 */
export const PRELOAD_MODULES = [
  'nf_conntrack',
  'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_lblc', 'ip_vs_lblcr',
  'ip_vs_dh', 'ip_vs_sh', 'ip_vs_sed', 'ip_vs_nq', 'ip_vs_fo', 'ip_vs_ovf',
  'ip_vs_pe_sip', 'ip_vs_ftp',
  'veth', 'bridge', 'dummy', 'ipip',
];

/** The UML kernel is missing (and could not be fetched) or a required tool is. */
export class UmlUnavailableError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UmlUnavailableError';
  }
}

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function which(name, extra = []) {
  const dirs = [...extra, ...(process.env.PATH ?? '').split(':').filter(Boolean)];
  for (const d of dirs) {
    const p = path.join(d, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

const SBIN = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

function kernelVersion(kernel) {
  const r = spawnSync(kernel, ['--version'], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const v = (r.stdout ?? '').trim().split(/\s+/).pop();
  if (r.status !== 0 || !v || !/^\d+\.\d+/.test(v)) {
    throw new UmlUnavailableError(`${kernel} --version failed (status ${r.status}): ${(r.stderr || r.stdout || '').trim()}`);
  }
  return v;
}

function kernelAt(kernel, modulesDir, source) {
  if (!isExecutable(kernel)) return null;
  const version = kernelVersion(kernel);
  const dir = modulesDir ?? path.join(path.dirname(path.dirname(kernel)), 'lib', 'uml', 'modules', version);
  if (!fs.existsSync(path.join(dir, 'modules.dep'))) {
    if (modulesDir) throw new UmlUnavailableError(`IPVS_UML_MODULES=${modulesDir} has no modules.dep`);
    return null;
  }
  return { kernel, version, modulesDir: dir, source };
}

function fetchIntoCache(cacheDir, log) {
  const apt = which('apt-get', SBIN);
  const dpkgDeb = which('dpkg-deb', SBIN);
  if (!apt || !dpkgDeb) {
    throw new UmlUnavailableError(
      `no User-Mode Linux kernel found, and apt-get/dpkg-deb are not available to fetch one.\n` +
        `Install it (Debian/Ubuntu): ${INSTALL_HINT}`,
    );
  }
  const dl = path.join(cacheDir, 'download');
  fs.rmSync(dl, { recursive: true, force: true });
  fs.mkdirSync(dl, { recursive: true });
  const shown = path.relative(process.cwd(), cacheDir);
  log(`uml: fetching Debian's user-mode-linux package into ${shown && !shown.startsWith('..') ? shown : cacheDir} (no root needed)…`);
  const r = spawnSync(apt, ['download', 'user-mode-linux'], { cwd: dl, encoding: 'utf8', timeout: 300_000 });
  const deb = fs.existsSync(dl) ? fs.readdirSync(dl).find((f) => f.endsWith('.deb')) : undefined;
  if (r.status !== 0 || !deb) {
    throw new UmlUnavailableError(
      `no User-Mode Linux kernel found, and "apt-get download user-mode-linux" failed:\n` +
        `${(r.stderr || r.stdout || String(r.error ?? '')).trim()}\n` +
        `Install it (Debian/Ubuntu): sudo apt-get update && ${INSTALL_HINT}`,
    );
  }
  const tmpRoot = fs.mkdtempSync(path.join(cacheDir, 'root.tmp-'));
  const x = spawnSync(dpkgDeb, ['-x', path.join(dl, deb), tmpRoot], { encoding: 'utf8', timeout: 300_000 });
  if (x.status !== 0) {
    fs.rmSync(tmpRoot, { recursive: true, force: true });
    throw new UmlUnavailableError(`dpkg-deb -x ${deb} failed: ${(x.stderr || '').trim()}\nInstall it instead: ${INSTALL_HINT}`);
  }
  const root = path.join(cacheDir, 'root');
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(tmpRoot, root);
  fs.rmSync(dl, { recursive: true, force: true });
  log(`uml: extracted ${deb}`);
}

/**
 * Find a UML kernel with modules, and the host tools the guest needs.
 * Order: $IPVS_UML_KERNEL, /usr/bin/linux.uml (Debian's user-mode-linux), the
 * repo's .cache/uml, then `apt-get download` + `dpkg-deb -x` into .cache/uml.
 * @returns {{kernel: string, version: string, modulesDir: string, source: string, modprobe: string, ip: string, bash: string}}
 * @throws {UmlUnavailableError} with the command to install what is missing.
 */
export function findUml({ fetch = true, system = true, cacheDir = path.join(repoRoot, '.cache', 'uml'), log = (m) => console.error(m) } = {}) {
  let found = null;
  const envKernel = process.env.IPVS_UML_KERNEL;
  if (envKernel) {
    found = kernelAt(envKernel, process.env.IPVS_UML_MODULES || undefined, 'IPVS_UML_KERNEL');
    if (!found) throw new UmlUnavailableError(`IPVS_UML_KERNEL=${envKernel}: not an executable with modules (set IPVS_UML_MODULES)`);
  }
  if (!found && system) found = kernelAt('/usr/bin/linux.uml', undefined, 'system');
  const cached = path.join(cacheDir, 'root', 'usr', 'bin', 'linux.uml');
  if (!found) found = kernelAt(cached, undefined, 'cache');
  if (!found && fetch) {
    fs.mkdirSync(cacheDir, { recursive: true });
    fetchIntoCache(cacheDir, log);
    found = kernelAt(cached, undefined, 'cache');
  }
  if (!found) {
    throw new UmlUnavailableError(`no User-Mode Linux kernel found.\nInstall it (Debian/Ubuntu): ${INSTALL_HINT}`);
  }
  const modprobe = which('modprobe', SBIN);
  if (!modprobe) throw new UmlUnavailableError(`kmod's modprobe is missing (the guest loads ip_vs with it).\nInstall it: sudo apt-get install kmod`);
  const ip = which('ip', SBIN);
  if (!ip) throw new UmlUnavailableError(`iproute2's ip is missing (the guest needs it).\nInstall it: sudo apt-get install iproute2`);
  const bash = isExecutable('/bin/bash') ? '/bin/bash' : null;
  if (!bash) throw new UmlUnavailableError('/bin/bash is missing (the guest init script is a bash script)');
  return { ...found, modprobe, ip, bash };
}

/** Does this process have these capabilities (bit numbers) in its effective set? */
function hasCaps(...bits) {
  try {
    const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
    const eff = BigInt('0x' + line.split(/\s+/)[1]);
    return bits.every((b) => (eff >> BigInt(b)) & 1n);
  } catch {
    return false;
  }
}

/**
 * Can kernel tests run on this host's own kernel? Needs IPVS (loaded, or loadable
 * with modprobe), CAP_NET_ADMIN + CAP_SYS_ADMIN and a working `ip netns`: a probe
 * namespace is created, checked for /proc/net/ip_vs and deleted.
 * @returns {{ok: boolean, reason: string}}
 */
export function hostIpvs() {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (${process.platform})` };
  if (!hasCaps(12, 21)) return { ok: false, reason: 'not root (CAP_NET_ADMIN and CAP_SYS_ADMIN are needed)' };
  if (!fs.existsSync('/proc/net/ip_vs')) {
    const modprobe = which('modprobe', SBIN);
    if (modprobe) spawnSync(modprobe, ['-q', 'ip_vs'], { stdio: 'ignore', timeout: 20_000 });
    if (!fs.existsSync('/proc/net/ip_vs')) return { ok: false, reason: 'the host kernel has no IPVS (ip_vs is not loaded and modprobe ip_vs failed)' };
  }
  const ip = which('ip', SBIN);
  if (!ip) return { ok: false, reason: 'iproute2 (ip) is not installed' };
  const name = `ipvs-ts-probe-${process.pid}`;
  const add = spawnSync(ip, ['netns', 'add', name], { encoding: 'utf8', timeout: 20_000 });
  if (add.status !== 0) return { ok: false, reason: `ip netns add failed: ${(add.stderr || '').trim()}` };
  try {
    const r = spawnSync(ip, ['netns', 'exec', name, 'cat', '/proc/net/ip_vs'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) return { ok: false, reason: `no IPVS inside a new network namespace: ${(r.stderr || '').trim()}` };
  } finally {
    spawnSync(ip, ['netns', 'delete', name], { stdio: 'ignore', timeout: 20_000 });
  }
  return { ok: true, reason: 'the host kernel has IPVS' };
}

/**
 * On the host path, loads the modules the guest preloads (PRELOAD_MODULES), so
 * that the kernel tests find the same kernel either way (tunl0 exists only once
 * ipip is loaded, for one). Returns the modules that could not be loaded.
 * @returns {string[]}
 */
export function preloadHostModules() {
  const modprobe = which('modprobe', SBIN);
  if (!modprobe) return [...PRELOAD_MODULES];
  return PRELOAD_MODULES.filter((m) => spawnSync(modprobe, ['-q', m], { stdio: 'ignore', timeout: 20_000 }).status !== 0);
}

/**
 * Where kernel tests can run: IPVS_KERNEL=host|uml forces a choice, default auto
 * (the host if hostIpvs() says so, else UML).
 * @returns {{where: 'host'|'uml'|null, reason: string, uml?: ReturnType<typeof findUml>}}
 */
export function selectKernel({ log = (m) => console.error(m) } = {}) {
  const want = (process.env.IPVS_KERNEL || 'auto').toLowerCase();
  if (!['auto', 'host', 'uml'].includes(want)) return { where: null, reason: `IPVS_KERNEL=${want}: expected auto, host or uml` };
  let hostReason = 'IPVS_KERNEL=uml';
  if (want !== 'uml') {
    const h = hostIpvs();
    if (h.ok) return { where: 'host', reason: h.reason };
    if (want === 'host') return { where: null, reason: `IPVS_KERNEL=host but ${h.reason}` };
    hostReason = h.reason;
  }
  try {
    const uml = findUml({ log });
    return { where: 'uml', reason: `${hostReason}; ${uml.kernel} (${uml.source})`, uml };
  } catch (e) {
    if (e instanceof UmlUnavailableError) return { where: null, reason: `${hostReason}; and ${e.message}` };
    throw e;
  }
}

// ---------------------------------------------------------------------------

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/** Variables that make no sense in the guest, or would confuse the guest's node. */
const ENV_DROP = new Set([
  'PWD', 'OLDPWD', 'SHLVL', '_', 'TERM', 'TERMCAP', 'COLORTERM', 'LS_COLORS',
  'XDG_RUNTIME_DIR', 'XDG_SESSION_ID', 'DBUS_SESSION_BUS_ADDRESS', 'SSH_AUTH_SOCK', 'SSH_AGENT_PID',
  'DISPLAY', 'WAYLAND_DISPLAY', 'TMUX', 'TMUX_PANE', 'INVOCATION_ID', 'JOURNAL_STREAM',
  'NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_UNIQUE_ID',
]);

function guestEnv(env, version) {
  const out = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || ENV_DROP.has(k) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) continue;
    out[k] = v;
  }
  out.PATH = env.PATH || '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';
  out.HOME = env.HOME || os.homedir() || '/root';
  out.TERM = 'dumb';
  out.IPVS_UML = '1';
  out.IPVS_UML_KERNEL_VERSION = version;
  return out;
}

/** Copies whatever is appended to a file to a stream, polling. */
class Tail {
  constructor(file, sink) {
    this.file = file;
    this.sink = sink;
    this.fd = null;
    this.pos = 0;
    this.buf = Buffer.alloc(1 << 16);
  }
  pump() {
    if (this.fd === null) {
      try {
        this.fd = fs.openSync(this.file, 'r');
      } catch {
        return;
      }
    }
    for (;;) {
      const n = fs.readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
      if (n <= 0) return;
      this.pos += n;
      this.sink.write(Buffer.from(this.buf.subarray(0, n)));
    }
  }
  close() {
    this.pump();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

function sameFile(fd1, fd2) {
  try {
    const a = fs.fstatSync(fd1);
    const b = fs.fstatSync(fd2);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

function makeJobDir() {
  let base = os.tmpdir();
  // The path goes on the kernel command line: keep it free of spaces and quotes.
  if (!/^[A-Za-z0-9_./-]+$/.test(base)) base = '/tmp';
  return fs.mkdtempSync(path.join(base, 'ipvs-uml-'));
}

function killGroup(child, signal = 'SIGKILL') {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Boot UML, run argv inside it, stream its output, resolve with its exit status.
 * @param {string[]} argv command and arguments
 * @param {object} [o]
 * @param {string} [o.cwd] working folder in the guest (default process.cwd())
 * @param {NodeJS.ProcessEnv} [o.env] environment (default process.env)
 * @param {number} [o.timeoutSec] default $IPVS_UML_TIMEOUT or 1200
 * @param {string} [o.mem] default $IPVS_UML_MEM or 1G
 * @param {boolean} [o.verbose] stream the console to stderr (default $IPVS_UML_VERBOSE)
 * @param {boolean} [o.keep] keep the job folder (default $IPVS_UML_KEEP)
 * @param {string[]} [o.modules] modules to load before the command (default PRELOAD_MODULES)
 * @param {boolean} [o.merge] send the command's stderr to stdout, in order (default: when fd 1 and 2 are the same file)
 * @param {NodeJS.WritableStream} [o.stdout] @param {NodeJS.WritableStream} [o.stderr]
 * @param {ReturnType<typeof findUml>} [o.uml] a kernel from findUml()
 * @param {'auto'|'force'|'off'} [o.xstate] the XSAVE shim (default $IPVS_UML_XSTATE or auto)
 * @param {boolean} [o.announce] say in one line on stderr what the XSAVE shim does (default true)
 * @returns {Promise<number>} the command's status; 124 timeout; 125 the guest died
 */
export async function runInUml(argv, o = {}) {
  if (!argv.length) throw new Error('runInUml: no command');
  const env = o.env ?? process.env;
  const uml = o.uml ?? findUml();
  const stdout = o.stdout ?? process.stdout;
  const stderr = o.stderr ?? process.stderr;
  const timeoutSec = Number(o.timeoutSec ?? env.IPVS_UML_TIMEOUT ?? 1200);
  const mem = o.mem ?? env.IPVS_UML_MEM ?? '1G';
  const verbose = o.verbose ?? env.IPVS_UML_VERBOSE === '1';
  const keep = o.keep ?? env.IPVS_UML_KEEP === '1';
  const modules = o.modules ?? PRELOAD_MODULES;
  const cwd = path.resolve(o.cwd ?? process.cwd());
  // When our stdout and stderr are the same file or pipe (a CI log, `2>&1 | less`),
  // the guest writes both to one file: the order of the lines is kept exactly.
  const merge = o.merge ?? (stdout === process.stdout && stderr === process.stderr && sameFile(1, 2));

  const job = makeJobDir();
  const reportPath = path.join(job, 'xstate');
  const shim = shimForBoot({ mode: o.xstate ?? env.IPVS_UML_XSTATE ?? 'auto', cacheDir: path.join(repoRoot, '.cache', 'uml'), reportPath });
  if (shim.error) {
    fs.rmSync(job, { recursive: true, force: true });
    stderr.write(`uml: ${shim.error}\n`);
    return 125;
  }
  const shimLoaded = Boolean(shim.env.LD_PRELOAD);
  fs.copyFileSync(initScript, path.join(job, 'init.sh'));
  fs.chmodSync(path.join(job, 'init.sh'), 0o755);
  fs.writeFileSync(
    path.join(job, 'config.sh'),
    [
      `KVER=${q(uml.version)}`,
      `MODULES_DIR=${q(uml.modulesDir)}`,
      `MODPROBE=${q(uml.modprobe)}`,
      `PRELOAD=${q(modules.join(' '))}`,
      `MERGE=${merge ? 1 : 0}`,
      '',
    ].join('\n'),
  );
  const genv = guestEnv(env, uml.version);
  if (shimLoaded) genv.IPVS_UML_XSTATE_REPORT = reportPath;
  fs.writeFileSync(
    path.join(job, 'cmd.sh'),
    [
      ...Object.entries(genv).map(([k, v]) => `export ${k}=${q(v)}`),
      `cd ${q(cwd)} || exit 126`,
      `exec ${argv.map(q).join(' ')}`,
      '',
    ].join('\n'),
  );

  const args = [
    `mem=${mem}`,
    'rootfstype=hostfs', 'rootflags=/', 'rw',
    `init=${path.join(job, 'init.sh')}`,
    'con=null', 'con0=fd:0,fd:1',
    'quiet',
    `umid=ipvs-${process.pid}-${path.basename(job).slice(-6)}`,
    `uml_dir=${job}`,
  ];

  // The console carries boot and kernel messages only: it goes to a file, shown
  // (by path) when the guest does not finish.
  const consolePath = path.join(job, 'console.log');
  const consoleFd = fs.openSync(consolePath, 'w');
  const onConsole = (d) => {
    if (verbose) stderr.write(d);
    fs.writeSync(consoleFd, d);
  };

  // One line on the XSAVE workaround: from the shim once UML has used it.
  const announce = o.announce ?? true;
  let announced = !announce;
  const announceShim = () => {
    if (announced) return;
    if (!shimLoaded) {
      announced = true;
      stderr.write(`uml: XSAVE shim ${shim.note}\n`);
      return;
    }
    const report = readReport(reportPath);
    if (!report) return;
    announced = true;
    stderr.write(`uml: ${describeReport(report)}\n`);
  };

  const started = Date.now();
  const child = spawn(uml.kernel, args, {
    cwd: job,
    detached: true, // own process group: Ctrl-C reaches us, and we kill all of UML's processes
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...shim.env },
  });
  child.stdout.on('data', onConsole);
  child.stderr.on('data', onConsole);

  const tails = [new Tail(path.join(job, 'out'), stdout), new Tail(path.join(job, 'err'), stderr)];
  const poll = setInterval(() => {
    announceShim();
    tails.forEach((t) => t.pump());
  }, 100);

  const onExit = () => killGroup(child);
  const onSignal = (sig) => {
    killGroup(child);
    clearInterval(poll);
    if (!keep) fs.rmSync(job, { recursive: true, force: true });
    stderr.write(`\numl: ${sig}: killed the guest\n`);
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  process.on('exit', onExit);
  signals.forEach((s) => process.on(s, onSignal));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutSec * 1000);

  const spawnError = await new Promise((resolve) => {
    child.on('error', (e) => resolve(e));
    child.on('close', () => resolve(null));
  });

  clearTimeout(timer);
  clearInterval(poll);
  killGroup(child); // leftovers of the guest's host processes, if any
  process.off('exit', onExit);
  signals.forEach((s) => process.off(s, onSignal));
  announceShim();
  tails.forEach((t) => t.close());
  fs.closeSync(consoleFd);

  let status = null;
  try {
    status = Number.parseInt(fs.readFileSync(path.join(job, 'status'), 'utf8').trim(), 10);
  } catch {
    /* no status: the guest did not finish */
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const finished = !spawnError && !timedOut && status !== null && !Number.isNaN(status);
  const consoleKept = finished ? null : keepConsole(consolePath);
  if (keep) stderr.write(`uml: kept ${job}\n`);
  else fs.rmSync(job, { recursive: true, force: true });

  if (spawnError) {
    stderr.write(`uml: cannot start ${uml.kernel}: ${spawnError.message}\n`);
    return 125;
  }
  if (timedOut) {
    stderr.write(`uml: the guest did not finish within ${timeoutSec}s (IPVS_UML_TIMEOUT); killed it\n`);
    stderr.write(`uml: full guest console: ${consoleKept}\n`);
    return 124;
  }
  if (!finished) {
    const d = diagnoseBoot(fs.readFileSync(consoleKept, 'utf8'), {
      shim: { mode: shim.mode, note: shim.note, loaded: shimLoaded },
      tmpdir: path.dirname(job),
      mem,
    });
    stderr.write(
      [
        `uml: the guest stopped after ${seconds}s without an exit status: ${d.what}`,
        `uml: probable cause: ${d.cause}`,
        `uml: what to do: ${d.fix}`,
        `uml: full guest console: ${consoleKept}`,
        '',
      ].join('\n'),
    );
    return 125;
  }
  return status;
}

/** Copies a console file to .cache/uml/console/ (the ten newest are kept); returns its path. */
function keepConsole(file) {
  const dir = path.join(repoRoot, '.cache', 'uml', 'console');
  fs.mkdirSync(dir, { recursive: true });
  const kept = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
  fs.copyFileSync(file, kept);
  const old = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().slice(0, -10);
  for (const f of old) fs.rmSync(path.join(dir, f), { force: true });
  return kept;
}

// ---------------------------------------------------------------------------

const USAGE = `usage: node scripts/uml.mjs [--timeout SEC] [--mem SIZE] [--verbose] [--keep] [--] <command> [args...]
Boots User-Mode Linux (${'linux.uml'}) with the host's / as root and IPVS loaded, runs the
command inside as root (cwd and environment kept), streams its output and exits with its status.
Runner failures: 124 = timeout, 125 = no kernel / guest died.`;

async function main(argv) {
  const o = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    } else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    } else if (a === '--timeout') o.timeoutSec = Number(argv[++i]);
    else if (a === '--mem') o.mem = argv[++i];
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--keep') o.keep = true;
    else if (a.startsWith('--')) {
      console.error(`uml: unknown option ${a}\n${USAGE}`);
      return 2;
    } else break;
  }
  const cmd = argv.slice(i);
  if (!cmd.length) {
    console.error(USAGE);
    return 2;
  }
  try {
    o.uml = findUml();
  } catch (e) {
    if (e instanceof UmlUnavailableError) {
      console.error(`uml: ${e.message}`);
      return 125;
    }
    throw e;
  }
  return runInUml(cmd, o);
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(125);
    },
  );
}

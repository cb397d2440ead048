// The netlink test peer from JavaScript (test/peer/server.h): an `Ipvs`
// handle whose socket talks to a peer thread instead of the kernel, through
// the same native client. Build it with `node scripts/build-peer.mjs`
// (npm test does).
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { Ipvs } from '../../lib/ipvs.js';
import type { OpenOptions } from '../../lib/types.js';

const require = createRequire(import.meta.url);
export const PEER_ADDON = fileURLToPath(new URL('./build/Release/ipvs_test_peer.node', import.meta.url));

/** One request datagram and the datagrams that answered it. */
export interface Exchange {
  request: Uint8Array;
  replies: Uint8Array[];
}

/** A recording of the real kernel (test/peer/fixtures/*.json). */
export interface Recording {
  scenario: string;
  /** `uname -r` of the kernel that answered. */
  kernel: string;
  familyId: number;
  /** What each step of the scenario gave (scenarios.ts). */
  result: unknown;
  exchanges: Exchange[];
}

export type FaultKind = 'truncate' | 'errorMidDump' | 'noDone' | 'wrongSeq' | 'wrongPort' | 'errno' | 'silence' | 'close' | 'repeat';

export interface Fault {
  kind: FaultKind;
  /** errno for 'errno' and 'errorMidDump'. */
  error?: number;
  /** For 'errorMidDump': datagrams of the reply sent before the error. */
  after?: number;
  /** For 'wrongSeq' / 'wrongPort': the right reply follows the wrong one. */
  thenCorrect?: boolean;
  /** The IPVS command (IPVS_CMD_*) of the request to bend; any by default. */
  cmd?: number;
  /** Requests that match to let through first. */
  skip?: number;
}

export interface PeerOptions {
  mode?: 'model' | 'replay' | 'proxy';
  exchanges?: Exchange[];
  /** proxy: the namespace whose kernel answers. */
  netns?: string;
  familyId?: number;
  familyPresent?: boolean;
  dumpBudget?: number;
  pad64?: boolean;
  interfaces?: Record<string, number>;
  unroutable?: string[];
  /** The kernel's per-namespace hash salt (model.h); decides the order of a services dump. */
  hashSalt?: number;
}

interface NativePeer {
  fds(): { socketFd: number; eventFd: number };
  fault(f: Fault): void;
  counts(): { datagrams: number; replies: number; faults: number };
  populate(services: number, dests: number): void;
  table(): { services: number; destinations: number };
  exchanges(): Exchange[];
  replayState(): { played: number; total: number; mismatches: string[] };
  stop(): void;
}

interface PeerBinding {
  Peer: new (options: PeerOptions) => NativePeer;
  cBatch(socketFd: number, eventFd: number, services: number, destsPerService: number, familyId: number): number;
  checkModel(options: PeerOptions, exchanges: Exchange[]): { salt: number; mismatches: string[] };
}

let binding: PeerBinding | undefined;
export function peerBinding(): PeerBinding {
  binding ??= require(PEER_ADDON) as PeerBinding;
  return binding;
}

/** The port id and first sequence number every peer handle uses, so that recordings replay byte for byte. */
export const PEER_PORT_ID = 4242;
export const PEER_FIRST_SEQ = 1;

export class TestPeer implements Disposable {
  readonly #peer: NativePeer;

  constructor(options: PeerOptions = {}) {
    this.#peer = new (peerBinding().Peer)(options);
  }

  /** A handle on this peer (each handle gets the same port id and first sequence number). */
  open(options: Omit<OpenOptions, 'netns'> = {}): Promise<Ipvs> {
    const { socketFd, eventFd } = this.#peer.fds();
    return Ipvs.openPeer({ socketFd, eventFd, portId: PEER_PORT_ID, firstSeq: PEER_FIRST_SEQ }, options);
  }

  fds(): { socketFd: number; eventFd: number } {
    return this.#peer.fds();
  }

  fault(f: Fault): void {
    this.#peer.fault(f);
  }

  counts(): { datagrams: number; replies: number; faults: number } {
    return this.#peer.counts();
  }

  populate(services: number, dests: number): void {
    this.#peer.populate(services, dests);
  }

  table(): { services: number; destinations: number } {
    return this.#peer.table();
  }

  exchanges(): Exchange[] {
    return this.#peer.exchanges();
  }

  replayState(): { played: number; total: number; mismatches: string[] } {
    return this.#peer.replayState();
  }

  stop(): void {
    this.#peer.stop();
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

export function recordingToJson(r: Recording): string {
  return (
    JSON.stringify(
      { ...r, exchanges: r.exchanges.map((e) => ({ request: hex(e.request), replies: e.replies.map(hex) })) },
      null,
      1,
    ) + '\n'
  );
}

export function readRecording(file: string | URL): Recording {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Omit<Recording, 'exchanges'> & {
    exchanges: { request: string; replies: string[] }[];
  };
  return { ...j, exchanges: j.exchanges.map((e) => ({ request: unhex(e.request), replies: e.replies.map(unhex) })) };
}

/** Open descriptors of this process (for leak checks). */
export function openFds(): number {
  // readdirSync opens the folder itself: the count is the same between calls.
  return readdirSync('/proc/self/fd').length;
}

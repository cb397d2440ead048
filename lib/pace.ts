/**
 * Long loops on the JavaScript thread hand the event loop a turn every few
 * milliseconds, so a huge table never stalls a server that embeds ipvs-ts.
 *
 * @internal
 * @module
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

export {};

/** Work done between two turns of the event loop, in ms. */
export const SLICE_MS = 2;

/** Hands the event loop a turn once a slice of work has taken {@link SLICE_MS}. */
export class Pacer {
  #since = performance.now();

  /** True when the current slice is used up: then `await pace.yield()`. */
  due(): boolean {
    return performance.now() - this.#since >= SLICE_MS;
  }

  /** Lets the event loop run, then starts a new slice. */
  async yield(): Promise<void> {
    await yieldToEventLoop();
    this.#since = performance.now();
  }
}

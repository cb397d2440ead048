/**
 * ipvs-ts: a typed interface to Linux IPVS over generic netlink.
 *
 * @packageDocumentation
 */
export { Ipvs } from './ipvs.js';
export type { BatchResult, OpenOptions } from './ipvs.js';
export { IpvsError } from './errors.js';
export type { IpvsErrorDetails } from './errors.js';
export type * from './types.js';
export * from './host/index.js';

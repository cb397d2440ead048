/**
 * The host half of the native addon (`exports.host`, native/napi/host.cc),
 * loaded on first use; its types are in lib/native-types.ts. Internal: not
 * exported from the package entry point.
 *
 * @internal
 * @module
 */
import { native } from '../native.js';
import type { HostBinding } from '../native-types.js';

/** The addon's host functions (loads the addon at the first call). */
export const host = (): HostBinding => native().host;

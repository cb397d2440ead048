/**
 * Loads the native addon on first use (lib/loader.ts finds the file), and
 * hands the JS error class to it. Importing a module that never calls
 * {@link native} (the ipvsadm formatters, the validators) loads nothing.
 * The contract's types are in lib/native-types.ts.
 *
 * @internal
 * @module
 */
import { IpvsError } from './errors.js';
import { loadNative } from './loader.js';
import type { NativeBinding } from './native-types.js';

let binding: NativeBinding | undefined;

/** The addon, loaded (and given the IpvsError class) at the first call. */
export function native(): NativeBinding {
  if (binding === undefined) {
    const loaded = loadNative<NativeBinding>();
    loaded.setErrorClass(IpvsError);
    binding = loaded;
  }
  return binding;
}

/**
 * Named network namespaces, interchangeable with `ip netns`: each is a file
 * under `/run/netns` with the namespace bind-mounted on it.
 *
 * @module
 */
import { host } from './native.js';
import { checkNetnsName } from './validate.js';

/**
 * Creates a named, empty network namespace (`ip netns add NAME`): only `lo`,
 * down. Needs CAP_SYS_ADMIN. Rejects with `EEXIST` when the name is taken.
 * Names: letters, digits and `_ . : @ + -`.
 */
export async function createNetns(name: string): Promise<void> {
  await host().createNetns(checkNetnsName(name));
}

/**
 * Deletes a named network namespace (`ip netns delete NAME`): the name goes
 * at once; the kernel destroys the namespace and its devices once no process
 * or socket uses it. Rejects with `ENOENT` for an unknown name.
 */
export async function deleteNetns(name: string): Promise<void> {
  await host().deleteNetns(checkNetnsName(name));
}

/** Names under `/run/netns`, sorted (what `ip netns list` shows). */
export async function listNetns(): Promise<string[]> {
  return host().listNetns();
}

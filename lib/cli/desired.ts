/**
 * The FILE of `ipvs-ts apply`: JSON (a desired state, a list of services, or
 * what `ipvs-ts list --json` prints) or ipvsadm rules (what `ipvsadm -S`
 * prints), told apart by the first character.
 *
 * @internal
 * @module
 */

import type { DesiredService, DesiredState } from '../apply.js';
import { serviceKeyId } from '../convert.js';
import { parseIpvsadmRules } from '../ipvsadm/rules.js';

/** A FILE that is neither valid JSON of a desired state nor valid rules; the message names the place. */
export class DesiredFileError extends Error {}

/**
 * Reads a desired state from text. JSON: `{ "owner"?, "services": [...] }`
 * or a bare array of services (destinations inside each service); rules:
 * `-A` lines and the `-a` lines of the services they define.
 */
export function parseDesired(text: string): DesiredState {
  const first = text.trimStart()[0];
  if (first === '{' || first === '[') return fromJson(text);
  return fromRules(text);
}

function fromJson(text: string): DesiredState {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new DesiredFileError(`not valid JSON: ${(e as Error).message}`);
  }
  if (Array.isArray(data)) return { services: data as DesiredService[] };
  if (typeof data !== 'object' || data === null) throw new DesiredFileError('JSON must be an object with "services" or an array of services');
  const obj = data as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    // "ipvs" is the header `ipvs-ts list --json` prints; it is ignored.
    if (k !== 'owner' && k !== 'services' && k !== 'ipvs') throw new DesiredFileError(`unknown top-level property "${k}" (expected "owner" and "services")`);
  }
  if (!Array.isArray(obj.services)) throw new DesiredFileError('"services" must be an array');
  const state: DesiredState = { services: obj.services as DesiredService[] };
  if (obj.owner !== undefined) {
    if (typeof obj.owner !== 'string') throw new DesiredFileError('"owner" must be a string');
    state.owner = obj.owner;
  }
  return state;
}

function fromRules(text: string): DesiredState {
  const services = new Map<string, DesiredService & { destinations: NonNullable<DesiredService['destinations']>[number][] }>();
  for (const rule of parseIpvsadmRules(text)) {
    if (rule.kind === 'service') {
      const id = serviceKeyId(rule.service);
      if (services.has(id)) throw new DesiredFileError(`line ${rule.line}: service ${id} is defined twice`);
      services.set(id, { ...rule.service, destinations: [] });
    } else {
      const id = serviceKeyId(rule.service);
      const svc = services.get(id);
      if (!svc) throw new DesiredFileError(`line ${rule.line}: real server of service ${id}, which no -A line before it defines`);
      svc.destinations.push(rule.destination);
    }
  }
  return { services: [...services.values()] };
}

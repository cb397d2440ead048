/**
 * The record layout as native/ipvs/records.h declares it, read from the
 * header text itself, so the unit tests lay out and read records by the C++
 * side's offsets rather than by lib/wire.ts's own copy of them.
 */
import { readFileSync } from 'node:fs';

const HEADER = new URL('../../native/ipvs/records.h', import.meta.url);

/** The header text, comments removed. */
const text = readFileSync(HEADER, 'utf8')
  .replace(/\/\*[\s\S]*?\*\//g, '')
  .replace(/\/\/[^\n]*/g, '');

/** Evaluates a constant: a literal, or `kName * N` / `kName` over names seen so far. */
function evaluate(expr: string, known: ReadonlyMap<string, number>, where: string): number {
  const e = expr.trim();
  if (/^(0x[0-9a-f]+|\d+)u?$/i.test(e)) return Number(e.replace(/u$/i, ''));
  const m = /^(k\w+)(?:\s*\*\s*(\d+))?$/.exec(e);
  const base = m?.[1] === undefined ? undefined : known.get(m[1]);
  if (m === null || base === undefined) throw new Error(`records.h: cannot evaluate ${where} = ${e}`);
  return base * Number(m[2] ?? 1);
}

function readEnums(): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const m of text.matchAll(/enum\s+(\w+)\s*:\s*\w+\s*\{([^}]*)\}/g)) {
    const name = m[1] ?? '';
    const entries = new Map<string, number>();
    for (const raw of (m[2] ?? '').split(',')) {
      const entry = raw.trim();
      if (entry === '') continue;
      const e = /^(k\w+)\s*=\s*(.+)$/.exec(entry);
      if (!e?.[1] || !e[2]) throw new Error(`records.h: enum ${name} entry without an explicit value: ${entry}`);
      entries.set(e[1], evaluate(e[2], entries, `${name}::${e[1]}`));
    }
    out.set(name, entries);
  }
  return out;
}

function readConstants(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/inline\s+constexpr\s+\w+\s+(k\w+)\s*=\s*([^;]+);/g)) {
    const [, name, expr] = m;
    if (name === undefined || expr === undefined) continue;
    out.set(name, evaluate(expr, new Map([...allEnumEntries(), ...out]), name));
  }
  return out;
}

function allEnumEntries(): Map<string, number> {
  const all = new Map<string, number>();
  for (const entries of ENUMS.values()) for (const [k, v] of entries) all.set(k, v);
  return all;
}

/** Every enum of the header by its name (`Word`, `ServiceReply`, `DestinationReply`). */
export const ENUMS: ReadonlyMap<string, ReadonlyMap<string, number>> = readEnums();
/** Every `inline constexpr` constant of the header (`kReplyWords`, `kNoName`, …). */
export const CONSTANTS: ReadonlyMap<string, number> = readConstants();

/** The enum named `name`; throws when the header has none. */
export function headerEnum(name: string): ReadonlyMap<string, number> {
  const e = ENUMS.get(name);
  if (!e) throw new Error(`records.h declares no enum ${name}`);
  return e;
}

/** The value of a header name (enum entry or constant); throws when the header has none. */
export function h(name: string): number {
  for (const entries of ENUMS.values()) {
    const v = entries.get(name);
    if (v !== undefined) return v;
  }
  const v = CONSTANTS.get(name);
  if (v === undefined) throw new Error(`records.h declares no ${name}`);
  return v;
}

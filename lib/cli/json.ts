/**
 * JSON output of the CLI. 64-bit counters are decimal strings: every JSON
 * parser reads them without loss (a JSON number above 2⁵³ loses digits in
 * JavaScript's `JSON.parse` and in jq 1.6).
 *
 * @internal
 * @module
 */

// A statement of its own first: the module's @internal above must not attach
// to the first declaration (stripInternal would drop it from the .d.ts).
export {};

/** `JSON.stringify` with bigints as decimal strings and errors as `{ code, errno, message }`. */
export function toJson(value: unknown, indent = 2): string {
  return (
    JSON.stringify(
      value,
      (_key, v: unknown) => {
        if (typeof v === 'bigint') return v.toString();
        if (v instanceof Error) {
          const e = v as Error & { code?: string; errno?: number };
          return { ...(e.code ? { code: e.code } : {}), ...(e.errno ? { errno: e.errno } : {}), message: e.message };
        }
        return v;
      },
      indent,
    ) + '\n'
  );
}

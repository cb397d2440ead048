/**
 * JSON output of the CLI. 64-bit counters are decimal strings: every JSON
 * parser reads them without loss (a JSON number above 2⁵³ loses digits in
 * JavaScript's `JSON.parse` and in jq 1.6).
 *
 * @internal
 * @module
 */

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

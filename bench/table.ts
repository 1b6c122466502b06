/** Plain aligned text tables for the bench scripts. */

/**
 * A plain table: columns padded to their widest cell, numeric columns right-aligned.
 *
 * @example
 * ```ts
 * table(['graph', 'median'], [['rbac-10k', '2.10']])
 * ```
 */
export function table (header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)))
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => /^[-+\d.,%]+$/.test(r[c])))
  const line = (cells: readonly string[]): string =>
    cells.map((cell, c) => numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])).join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** A number with 3 significant digits or so: 1234 -> "1234", 12.34 -> "12.3", 1.234 -> "1.23". */
export function fmt (n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)
}

/** A ratio as a percentage with one decimal. */
export function pct (ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`
}

/** A positive integer setting from the environment, or `fallback` when unset. */
export function envInt (name: string, fallback: number): number {
  const v = process.env[name]
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new TypeError(`${name} must be a positive integer, got '${v}'`)
  return n
}

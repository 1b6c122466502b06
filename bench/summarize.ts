/**
 * Medians over several runs of bench/check-latency (its BENCH_JSON files), as Markdown tables.
 *
 * Usage: node dist/bench/summarize.js run1.json run2.json run3.json
 */
import { readFileSync } from 'node:fs'
import { fmt, pct } from './table.js'

interface Run {
  graphs: { graph: string, nodes: number, assignments: number, associations: number, prohibitions: number, elements: number, buildMs: number, heapMB: number }[]
  latency: { graph: string, path: string, queries: number, rounds: number, median: number, p99: number, mean: number, allowRatio: number }[]
  review: { graph: string, call: string, calls: number, rounds: number, median: number, p99: number, mean: number, entries: number }[]
  mismatches: { graph: string, compared: number, mismatches: number }[]
}

function median (values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.ceil(s.length / 2) - 1]
}

/** Groups rows of every run by key, in first-run order. */
function group<T> (runs: readonly Run[], rows: (run: Run) => readonly T[], key: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>()
  for (const run of runs) {
    for (const row of rows(run)) {
      const k = key(row)
      const list = groups.get(k)
      if (list === undefined) groups.set(k, [row])
      else list.push(row)
    }
  }
  return [...groups.values()]
}

function markdown (header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[]): string {
  const out = [`| ${header.join(' | ')} |`, `|${right.map((r) => r ? '---:' : ':---').join('|')}|`]
  for (const row of rows) out.push(`| ${row.join(' | ')} |`)
  return out.join('\n')
}

const files = process.argv.slice(2)
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/summarize.js run1.json [run2.json ...]\n')
  process.exit(2)
}
const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Run)
const out: string[] = [`Medians over ${runs.length} run(s).`, '']

out.push(markdown(['graph', 'nodes', 'assignments', 'associations', 'prohibitions', 'elements', 'build s', 'heap MB'],
  group(runs, (r) => r.graphs, (g) => g.graph).map((gs) => {
    const g = gs[0]
    return [g.graph, String(g.nodes), String(g.assignments), String(g.associations), String(g.prohibitions), String(g.elements),
      (median(gs.map((x) => x.buildMs)) / 1000).toFixed(2), median(gs.map((x) => x.heapMB)).toFixed(0)]
  }), [false, true, true, true, true, true, true, true]))
out.push('')
out.push(markdown(['graph', 'path', 'queries x rounds', 'median µs', 'p99 µs', 'mean µs', 'allow', 'median, run range'],
  group(runs, (r) => r.latency, (l) => `${l.graph} ${l.path}`).map((ls) => {
    const l = ls[0]
    const medians = ls.map((x) => x.median)
    return [l.graph, l.path, `${l.queries} x ${l.rounds}`, fmt(median(medians)), fmt(median(ls.map((x) => x.p99))),
      fmt(median(ls.map((x) => x.mean))), pct(l.allowRatio), `${fmt(Math.min(...medians))}–${fmt(Math.max(...medians))}`]
  }), [false, false, true, true, true, true, true, true]))
const review = group(runs, (r) => r.review, (v) => `${v.graph} ${v.call}`)
if (review.length > 0) {
  out.push('')
  out.push(markdown(['graph', 'call', 'calls x rounds', 'median ms', 'p99 ms', 'mean ms', 'entries'],
    review.map((vs) => {
      const v = vs[0]
      return [v.graph, v.call, `${v.calls} x ${v.rounds}`, fmt(median(vs.map((x) => x.median))), fmt(median(vs.map((x) => x.p99))),
        fmt(median(vs.map((x) => x.mean))), v.entries.toFixed(0)]
    }), [false, false, true, true, true, true, true]))
}
const mismatches = group(runs, (r) => r.mismatches, (m) => m.graph)
if (mismatches.length > 0) {
  out.push('')
  out.push('Production vs reference evaluator on the reference queries: ' +
    mismatches.map((ms) => `${ms[0].graph} ${ms.reduce((a, m) => a + m.mismatches, 0)} of ${ms.reduce((a, m) => a + m.compared, 0)} differ`).join('; ') + '.')
}
process.stdout.write(out.join('\n') + '\n')

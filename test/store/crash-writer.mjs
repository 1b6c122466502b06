// The writer that test/store/crash.test.ts kills with SIGKILL: it opens the policy store given on
// argv (through the BUILT library, so `npm run build` first) and applies batches forever. Batch i
// creates the objects b{i}-a, b{i}-b and b{i}-c under the OA crash-oa and associates crash-ua with
// b{i}-a; once apply() has returned (so the batch is durable) it writes `ack <revision> <i>` to stdout.
// It continues after the highest batch already in the store, so rounds on one file follow each other.
import { writeSync } from 'node:fs'
import { openPolicy } from '../../dist/src/index.js'

const file = process.argv[2]
if (file === undefined) {
  writeSync(2, 'usage: node crash-writer.mjs DB_FILE\n')
  process.exit(2)
}

const policy = openPolicy({ db: file })
if (!policy.graph.hasNode('crash-pc')) {
  policy.apply([
    { op: 'setResourceRights', rights: ['read', 'write'] },
    { op: 'createNode', name: 'crash-pc', type: 'PC' },
    { op: 'createNode', name: 'crash-ua', type: 'UA', parents: ['crash-pc'] },
    { op: 'createNode', name: 'crash-oa', type: 'OA', parents: ['crash-pc'] }
  ], { actor: 'crash-writer' })
}

let next = 0
for (const node of policy.graph.nodes()) {
  const m = /^b(\d+)-a$/.exec(node.name)
  if (m !== null) next = Math.max(next, Number(m[1]) + 1)
}
writeSync(1, `start ${policy.revision} ${next}\n`)

// A property large enough that a batch spans several database pages.
const filler = 'crash-test '.repeat(400)
for (let i = next; ; i++) {
  const { revision } = policy.apply([
    { op: 'createNode', name: `b${i}-a`, type: 'O', parents: ['crash-oa'], properties: { batch: String(i), filler } },
    { op: 'createNode', name: `b${i}-b`, type: 'O', parents: ['crash-oa'], properties: { batch: String(i) } },
    { op: 'createNode', name: `b${i}-c`, type: 'O', parents: ['crash-oa'], properties: { batch: String(i) } },
    { op: 'associate', ua: 'crash-ua', target: `b${i}-a`, rights: ['read', 'write'] }
  ], { actor: 'crash-writer' })
  // NOTE: writeSync, not process.stdout.write: the ack must leave before the next batch starts.
  writeSync(1, `ack ${revision} ${i}\n`)
}

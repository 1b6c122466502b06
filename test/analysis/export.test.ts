import t from 'tap'
import { MultiDirectedGraph } from 'graphology'
import { toDot, toGexf, toGraphology, toGraphologyJson } from '../../src/analysis/index.js'
import { loadPolicy, type PolicyDocument } from '../../src/graph/index.js'

// Names with every character the formats treat specially.
const QUOTED = 'say "hi"'
const SLASHED = 'back\\slash\\'
const MARKUP = 'a<b> & \'c\''

const DOC = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' },
    { name: 'staff', type: 'UA' },
    { name: 'admins', type: 'UA' },
    { name: 'alice', type: 'U', properties: { email: 'alice@example.com', note: 'x < y & "z"' } },
    { name: QUOTED, type: 'U' },
    { name: 'docs', type: 'OA' },
    { name: SLASHED, type: 'OA' },
    { name: 'report', type: 'O', properties: { owner: 'alice' } },
    { name: MARKUP, type: 'O' }
  ],
  assignments: [
    ['staff', 'RBAC'], ['admins', 'staff'], ['alice', 'admins'], [QUOTED, 'staff'],
    ['docs', 'RBAC'], [SLASHED, 'docs'], ['report', 'docs'], [MARKUP, SLASHED]
  ],
  associations: [
    { ua: 'staff', target: 'docs', rights: ['read'] },
    // admins is assigned to staff and associated with it: two edges between one pair.
    { ua: 'admins', target: 'staff', rights: ['*'] },
    { ua: 'admins', target: 'docs', rights: ['read', 'write'] }
  ],
  prohibitions: [
    { name: 'no-markup', subject: QUOTED, rights: ['write'], intersection: true, containers: [{ name: 'docs', complement: false }, { name: MARKUP, complement: true }] },
    { name: 'tool "x"', subject: { process: 'p\\1' }, rights: ['read'], intersection: false, containers: [{ name: 'report', complement: false }] }
  ]
} satisfies PolicyDocument

const graph = loadPolicy(DOC)

/** The content of a DOT quoted string. */
function dotUnquote (text: string): string {
  return text.replace(/\\(["\\])/g, '$1')
}

t.test('DOT: every node once, labelled by its name, shaped by its type', async (t) => {
  const dot = toDot(graph)
  t.match(dot, /^digraph ngac \{\n/)
  t.match(dot, /\n\}\n$/)
  const nodes = [...dot.matchAll(/^ {2}(n\d+) \[label="((?:[^"\\]|\\.)*)", tooltip="(\w+)", shape=(\w+),/gm)]
  t.same(nodes.map((m) => dotUnquote(m[2] as string)), DOC.nodes.map((n) => n.name), 'every node, names escaped and recovered')
  t.same(nodes.map((m) => m[3]), DOC.nodes.map((n) => n.type))
  t.equal(nodes.find((m) => m[3] === 'PC')?.[4], 'doubleoctagon')
  t.ok(dot.includes('label="say \\"hi\\""'), 'quotes are escaped')
  t.ok(dot.includes('label="back\\\\slash\\\\"'), 'backslashes are doubled, even a trailing one')
})

t.test('DOT: assignments solid, associations dashed with rights, prohibitions as notes', async (t) => {
  const dot = toDot(graph)
  const id = new Map<string, string>()
  for (const m of dot.matchAll(/^ {2}(n\d+) \[label="((?:[^"\\]|\\.)*)"/gm)) id.set(dotUnquote(m[2] as string), m[1] as string)
  for (const [child, parent] of DOC.assignments) {
    t.ok(dot.includes(`  ${id.get(child)} -> ${id.get(parent)};\n`), `assignment ${child} -> ${parent}`)
  }
  for (const a of DOC.associations) {
    const line = dot.split('\n').find((l) => l.startsWith(`  ${id.get(a.ua)} -> ${id.get(a.target)} [style=dashed`))
    t.ok(line, `association ${a.ua} -> ${a.target}`)
    t.match(line, `label="${a.rights.join(', ')}"`)
  }
  const notes = dot.split('\n').filter((l) => l.includes('shape=note'))
  t.equal(notes.length, 2)
  t.match(notes[0], /^ {2}p0 \[label="prohibition no-markup\\ndenies write\\non the intersection of"/)
  t.match(notes[1], /^ {2}p1 \[label="prohibition tool \\"x\\"\\ndenies read\\nto process p\\\\1\\non the union of"/)
  t.ok(dot.includes(`  ${id.get(QUOTED)} -> p0 [style=dotted`), 'the subject points to its prohibition')
  t.ok(dot.includes(`  p0 -> ${id.get('docs')} [style=dotted, color="#c00000", constraint=false];`))
  t.ok(dot.includes(`  p0 -> ${id.get(MARKUP)} [style=dotted, color="#c00000", constraint=false, label="not"];`), 'a complement is labelled')
  t.ok(dot.includes(`  p1 -> ${id.get('report')} [style=dotted`))
  t.notOk(/-> p1/.test(dot), 'a process subject has no node')
  t.equal(toDot(graph), dot, 'deterministic')
})

/** Undoes XML escaping. */
function xmlUnescape (text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+);/g, (_, e: string) =>
    e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : e === 'apos' ? "'" : e === 'amp' ? '&' : String.fromCharCode(Number(e.slice(1))))
}

/** A tiny well-formedness check: the problems found (tags that do not balance, raw markup in text or values). */
function xmlProblems (xml: string): string[] {
  const problems: string[] = []
  if (!xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')) problems.push('no XML declaration')
  const body = xml.replace(/^<\?xml[^>]*\?>\n/, '')
  const stack: string[] = []
  const token = /<(\/?)([\w:]+)((?:\s+[\w:]+="[^"<&]*(?:&(?:lt|gt|quot|apos|amp|#\d+);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/gy
  let m: RegExpExecArray | null
  let consumed = 0
  while ((m = token.exec(body)) !== null) {
    consumed = token.lastIndex
    if (m[5] !== undefined) {
      if (/>|&(?!(?:lt|gt|quot|apos|amp|#\d+);)/.test(m[5])) problems.push(`unescaped text ${JSON.stringify(m[5])}`)
    } else if (m[1] === '/') {
      const open = stack.pop()
      if (open !== m[2]) problems.push(`</${m[2]}> closes <${open}>`)
    } else if (m[4] !== '/') {
      stack.push(m[2] as string)
    }
  }
  if (consumed !== body.length) problems.push(`cannot parse from ${JSON.stringify(body.slice(consumed, consumed + 40))}`)
  if (stack.length > 0) problems.push(`unclosed ${stack.join(', ')}`)
  return problems
}

t.test('the XML check catches what it should', async (t) => {
  t.same(xmlProblems('<?xml version="1.0" encoding="UTF-8"?>\n<a x="1"><b/></a>\n'), [])
  t.ok(xmlProblems('<?xml version="1.0" encoding="UTF-8"?>\n<a x="say "hi""></a>').length > 0)
  t.ok(xmlProblems('<?xml version="1.0" encoding="UTF-8"?>\n<a>x & y</a>').length > 0)
  t.ok(xmlProblems('<?xml version="1.0" encoding="UTF-8"?>\n<a><b></a>').length > 0)
})

t.test('GEXF 1.3: well formed, every node and edge, names escaped', async (t) => {
  const gexf = toGexf(graph)
  t.same(xmlProblems(gexf), [], 'well formed')
  t.match(gexf, /<gexf xmlns="http:\/\/gexf\.net\/1\.3" [^>]*version="1\.3">/)
  t.match(gexf, /<graph defaultedgetype="directed" mode="static">/)
  const nodes = [...gexf.matchAll(/<node id="([^"]*)" label="([^"]*)">/g)]
  t.same(nodes.map((m) => xmlUnescape(m[1] as string)), DOC.nodes.map((n) => n.name))
  t.ok(gexf.includes('<node id="a&lt;b&gt; &amp; &apos;c&apos;"'), 'markup in names is escaped')
  t.ok(gexf.includes('<node id="say &quot;hi&quot;"'))
  const types = [...gexf.matchAll(/<attvalue for="type" value="(\w+)"\/>/g)].map((m) => m[1])
  t.same(types, DOC.nodes.map((n) => n.type))
  t.match(gexf, /<attribute id="p\d+" title="properties\.note" type="string"\/>/)
  t.ok(gexf.includes('value="x &lt; y &amp; &quot;z&quot;"'), 'property values are escaped')

  const edges = [...gexf.matchAll(/<edge id="(e\d+)" source="([^"]*)" target="([^"]*)" kind="([^"]*)" label="([^"]*)">/g)]
    .map((m) => [xmlUnescape(m[2] as string), xmlUnescape(m[3] as string), xmlUnescape(m[4] as string)])
  t.same(edges, [
    ...DOC.assignments.map(([c, p]) => [c, p, 'assignment']),
    ...DOC.associations.map((a) => [a.ua, a.target, 'association']),
    [QUOTED, 'docs', 'prohibition no-markup'],
    [QUOTED, MARKUP, 'prohibition no-markup']
  ])
  t.equal(new Set([...gexf.matchAll(/<edge id="(e\d+)"/g)].map((m) => m[1])).size, edges.length, 'edge ids are unique')
  t.match(gexf, /<attvalue for="rights" value="read,write"\/>/)
  t.match(gexf, /<attvalue for="complement" value="true"\/>/)
  t.equal(toGexf(graph), gexf, 'deterministic')
})

t.test('GEXF: characters XML cannot hold are replaced', async (t) => {
  const g = loadPolicy({ nodes: [{ name: 'RBAC', type: 'PC', properties: { raw: 'bell\u0007 tab\t lone\ud800' } }] })
  const gexf = toGexf(g)
  t.same(xmlProblems(gexf), [], 'well formed')
  t.ok(gexf.includes('value="bell\ufffd tab&#9; lone\ufffd"'))
})

t.test('graphology JSON: the policy as graphology exports it, and importable again', async (t) => {
  const json = toGraphologyJson(graph)
  t.same(json.options, { type: 'directed', multi: true, allowSelfLoops: true })
  t.same(json.nodes.map((n) => n.key), DOC.nodes.map((n) => n.name))
  t.same(json.nodes[3]?.attributes, { label: 'alice', nodeType: 'U', properties: { email: 'alice@example.com', note: 'x < y & "z"' } })
  t.equal(json.edges.length, DOC.assignments.length + DOC.associations.length + 2)
  t.same(json.edges.map((e) => e.key), json.edges.map((_, i) => `e${i}`))
  t.same(json.edges.find((e) => e.attributes?.kind === 'association' && e.source === 'admins' && e.target === 'staff')?.attributes, { kind: 'association', rights: ['*'] })
  t.equal(json.attributes?.revision, graph.revision)
  t.same(json.attributes?.resourceRights, ['read', 'write'])
  t.same(json.attributes?.prohibitions.map((p) => p.name), ['no-markup', 'tool "x"'])
  t.same(json.attributes?.prohibitions[1]?.subject, { process: 'p\\1' })

  const copy = MultiDirectedGraph.from(JSON.parse(JSON.stringify(json)) as typeof json)
  t.equal(copy.order, DOC.nodes.length)
  t.equal(copy.size, json.edges.length)
  t.same(copy.outNeighbors('alice'), ['admins'])
  t.same(toGraphology(graph).export(), json, 'deterministic')
})

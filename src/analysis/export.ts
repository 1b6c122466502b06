/**
 * Exports of a policy graph for viewers: Graphviz DOT, GEXF 1.3 (Gephi) and graphology's JSON
 * (sigma.js and graphology tools). Every export is deterministic: the same policy gives the
 * same text. The policy file format (`exportPolicy`) stays the only one that can be imported back.
 */
import type { NodeType, PolicyGraph } from '../graph/index.js'
import { toGraphology, type PolicyEdgeAttributes, type PolicyGraphAttributes, type PolicyNodeAttributes } from './graphology.js'
import type { SerializedGraph } from 'graphology-types'

/** How each node type is drawn: DOT shape and style, and the fill colour both formats use. */
const LOOK: Readonly<Record<NodeType, { shape: string, style: string, color: string }>> = {
  PC: { shape: 'doubleoctagon', style: 'filled', color: '#ffe699' },
  UA: { shape: 'ellipse', style: 'filled', color: '#bdd7ee' },
  U: { shape: 'box', style: 'rounded,filled', color: '#ddebf7' },
  OA: { shape: 'ellipse', style: 'filled', color: '#c6e0b4' },
  O: { shape: 'box', style: 'rounded,filled', color: '#e2efda' }
}
const PROHIBITION_COLOR = '#f4b6b6'
const ASSOCIATION_COLOR = '#2f5597'
const PROHIBITION_EDGE_COLOR = '#c00000'

/**
 * The policy as a Graphviz digraph: policy classes at the top (`rankdir=BT`), nodes shaped and
 * coloured by type, assignments as solid edges from child to parent, associations as dashed
 * edges labelled with their rights, and each prohibition as a note with a dotted edge from its
 * subject and dotted edges to its containers (labelled `not` when complemented). Node ids are
 * `n0`, `n1`, ... (prohibitions `p0`, ...) and names are labels, so any name is safe.
 *
 * @example
 * ```ts
 * writeFileSync('policy.dot', toDot(graph))   // then: dot -Tsvg policy.dot > policy.svg
 * ```
 */
export function toDot (graph: PolicyGraph): string {
  const ids = new Map<string, string>()
  const lines = [
    'digraph ngac {',
    '  graph [rankdir=BT, fontname="Helvetica", label=' + dotString(`NGAC policy, revision ${graph.revision}`) + '];',
    '  node [fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];'
  ]
  for (const n of graph.nodes()) {
    const id = `n${ids.size}`
    ids.set(n.name, id)
    const look = LOOK[n.type]
    lines.push(`  ${id} [label=${dotString(n.name)}, tooltip=${dotString(n.type)}, shape=${look.shape}, style=${dotString(look.style)}, fillcolor=${dotString(look.color)}];`)
  }
  for (const [child, parent] of graph.assignments()) {
    lines.push(`  ${ids.get(child)} -> ${ids.get(parent)};`)
  }
  for (const a of graph.associations()) {
    lines.push(`  ${ids.get(a.ua)} -> ${ids.get(a.target)} [style=dashed, color=${dotString(ASSOCIATION_COLOR)}, fontcolor=${dotString(ASSOCIATION_COLOR)}, constraint=false, label=${dotString(a.rights.join(', '))}];`)
  }
  let p = 0
  for (const prohibition of graph.prohibitions()) {
    const id = `p${p++}`
    const subject = typeof prohibition.subject === 'string' ? undefined : `process ${prohibition.subject.process}`
    const label = [
      `prohibition ${prohibition.name}`,
      `denies ${prohibition.rights.join(', ')}`,
      ...(subject === undefined ? [] : [`to ${subject}`]),
      prohibition.intersection ? 'on the intersection of' : 'on the union of'
    ]
    // NOTE: \n is DOT's centred line break inside a label; each part is escaped on its own.
    lines.push(`  ${id} [label="${label.map(dotEscape).join('\\n')}", shape=note, style=filled, fillcolor=${dotString(PROHIBITION_COLOR)}];`)
    if (typeof prohibition.subject === 'string') {
      lines.push(`  ${ids.get(prohibition.subject)} -> ${id} [style=dotted, color=${dotString(PROHIBITION_EDGE_COLOR)}, arrowhead=tee, constraint=false];`)
    }
    for (const c of prohibition.containers) {
      const label = c.complement ? ', label="not"' : ''
      lines.push(`  ${id} -> ${ids.get(c.name)} [style=dotted, color=${dotString(PROHIBITION_EDGE_COLOR)}, constraint=false${label}];`)
    }
  }
  lines.push('}')
  return lines.join('\n') + '\n'
}

/**
 * The policy as GEXF 1.3 (Gephi and other viewers): node ids are node names, with the node type
 * and every property as attributes and a colour per type; edges are assignments (child to parent),
 * associations (with their rights) and one edge per container of each prohibition whose subject is
 * a node. Edge `kind` tells parallel edges apart. Prohibitions of a process have no node to start
 * from and are left out (the policy file keeps them).
 *
 * @example
 * ```ts
 * writeFileSync('policy.gexf', toGexf(graph))
 * ```
 */
export function toGexf (graph: PolicyGraph): string {
  const g = toGraphology(graph)
  const propertyKeys = new Set<string>()
  g.forEachNode((_name, attributes) => { for (const key of Object.keys(attributes.properties)) propertyKeys.add(key) })
  const keys = [...propertyKeys].sort()
  const propertyIds = new Map(keys.map((key, i) => [key, `p${i}`]))
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<gexf xmlns="http://gexf.net/1.3" xmlns:viz="http://gexf.net/1.3/viz" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd" version="1.3">',
    '  <meta>',
    '    <creator>ngac-pdp</creator>',
    `    <description>${xml(`NGAC policy, revision ${graph.revision}`)}</description>`,
    '  </meta>',
    '  <graph defaultedgetype="directed" mode="static">',
    '    <attributes class="node">',
    '      <attribute id="type" title="type" type="string"/>',
    ...keys.map((key) => `      <attribute id="${propertyIds.get(key)}" title=${attr(`properties.${key}`)} type="string"/>`),
    '    </attributes>',
    '    <attributes class="edge">',
    '      <attribute id="relation" title="relation" type="string"/>',
    '      <attribute id="rights" title="rights" type="string"/>',
    '      <attribute id="prohibition" title="prohibition" type="string"/>',
    '      <attribute id="intersection" title="intersection" type="boolean"/>',
    '      <attribute id="complement" title="complement" type="boolean"/>',
    '    </attributes>',
    '    <nodes>'
  ]
  g.forEachNode((name, attributes) => {
    lines.push(`      <node id=${attr(name)} label=${attr(attributes.label)}>`)
    lines.push('        <attvalues>')
    lines.push(`          <attvalue for="type" value="${attributes.nodeType}"/>`)
    for (const key of Object.keys(attributes.properties).sort()) {
      lines.push(`          <attvalue for="${propertyIds.get(key)}" value=${attr(attributes.properties[key])}/>`)
    }
    lines.push('        </attvalues>')
    lines.push(`        <viz:color hex="${LOOK[attributes.nodeType].color}"/>`)
    lines.push('      </node>')
  })
  lines.push('    </nodes>', '    <edges>')
  g.forEachEdge((key, attributes, source, target) => {
    const values = [`<attvalue for="relation" value="${attributes.kind}"/>`]
    let kind: string = attributes.kind
    let label: string = attributes.kind
    if (attributes.kind === 'association') {
      label = attributes.rights.join(', ')
      values.push(`<attvalue for="rights" value=${attr(attributes.rights.join(','))}/>`)
    } else if (attributes.kind === 'prohibition') {
      kind = `prohibition ${attributes.prohibition}`
      label = `${attributes.complement ? 'not ' : ''}prohibition ${attributes.prohibition}`
      values.push(
        `<attvalue for="rights" value=${attr(attributes.rights.join(','))}/>`,
        `<attvalue for="prohibition" value=${attr(attributes.prohibition)}/>`,
        `<attvalue for="intersection" value="${attributes.intersection}"/>`,
        `<attvalue for="complement" value="${attributes.complement}"/>`)
    }
    lines.push(`      <edge id="${key}" source=${attr(source)} target=${attr(target)} kind=${attr(kind)} label=${attr(label)}>`)
    lines.push('        <attvalues>')
    for (const v of values) lines.push(`          ${v}`)
    lines.push('        </attvalues>')
    lines.push('      </edge>')
  })
  lines.push('    </edges>', '  </graph>', '</gexf>')
  return lines.join('\n') + '\n'
}

/** graphology's serialized form of the policy, as {@link toGraphology} builds it. */
export type PolicyGraphologyJson = SerializedGraph<PolicyNodeAttributes, PolicyEdgeAttributes, PolicyGraphAttributes>

/**
 * The policy in graphology's JSON format (`graph.export()`), which `Graph.from` and sigma.js
 * read: node keys are names, node attributes `{label, nodeType, properties}`, edges carry `kind`
 * (`assignment`, `association` with `rights`, or `prohibition`), and the graph's attributes hold
 * the revision, the resource rights and every prohibition.
 *
 * @example
 * ```ts
 * import { MultiDirectedGraph } from 'graphology'
 * const copy = MultiDirectedGraph.from(toGraphologyJson(graph))
 * ```
 */
export function toGraphologyJson (graph: PolicyGraph): PolicyGraphologyJson {
  return toGraphology(graph).export()
}

/** A DOT quoted string. */
function dotString (text: string): string {
  return `"${dotEscape(text)}"`
}

/**
 * Escapes text for a DOT quoted string used as a label: a backslash starts an escape in labels
 * (\n, \N, ...), so it is doubled; a double quote would end the string.
 */
function dotEscape (text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')
}

/** A quoted XML attribute value. */
function attr (text: string): string {
  return `"${xml(text)}"`
}

/**
 * Escapes text for XML content and attribute values. Characters XML 1.0 cannot hold (control
 * characters, lone surrogates: possible in property values) become U+FFFD.
 */
function xml (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/[&<>"'\t\n\r]/g, (c) => XML_ESCAPES[c] as string)
}

const XML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;'
}

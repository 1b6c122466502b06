/**
 * The policy graph copied into graphology, for analysis and export only (DESIGN section 1). Built
 * on demand from a {@link PolicyGraph}; never on the decision path, where it would cost 25x the
 * memory and 50x the traversal time of the engine's flat arrays.
 *
 * Node keys are node names. Assignment edges point from child to parent, as a policy file's
 * `[child, parent]`; association edges from the user attribute to the target; prohibition edges
 * from the subject to each container. Edge keys are `e0`, `e1`, ... in a fixed order, so the same
 * policy always gives the same graph.
 */
import { DirectedGraph, MultiDirectedGraph } from 'graphology'
import { prohibitionEntry, type NodeType, type PolicyGraph, type PolicyProhibition } from '../graph/index.js'

/** What a node carries. `nodeType`, not `type`: viewers such as sigma.js reserve `type` for their renderers. */
export type PolicyNodeAttributes = {
  label: string
  nodeType: NodeType
  properties: Record<string, string>
}

/** An assignment of the source (child) to the target (parent). */
export type AssignmentEdgeAttributes = { kind: 'assignment' }

/** An association: the users of the source hold `rights` on the target and everything in it. */
export type AssociationEdgeAttributes = { kind: 'association', rights: string[] }

/** One container of a prohibition whose subject (the source) is a node. */
export type ProhibitionEdgeAttributes = {
  kind: 'prohibition'
  prohibition: string
  rights: string[]
  intersection: boolean
  complement: boolean
}

/** What an edge carries; `kind` tells which relation it is. */
export type PolicyEdgeAttributes = AssignmentEdgeAttributes | AssociationEdgeAttributes | ProhibitionEdgeAttributes

/** A prohibition as plain data (process subjects have no node, so they live here only). */
export type PolicyProhibitionAttributes = PolicyProhibition

/** What the graph carries. */
export type PolicyGraphAttributes = {
  name: string
  revision: number
  resourceRights: string[]
  prohibitions: PolicyProhibitionAttributes[]
}

/** The whole policy as a graphology multigraph (a UA may be both assigned to and associated with a node). */
export type PolicyMultiGraph = MultiDirectedGraph<PolicyNodeAttributes, PolicyEdgeAttributes, PolicyGraphAttributes>

/** Nodes and assignments only: the assignment DAG. */
export type AssignmentGraph = DirectedGraph<PolicyNodeAttributes, AssignmentEdgeAttributes>

/**
 * The assignment DAG: every node, and one edge child -> parent per assignment.
 *
 * @example
 * ```ts
 * const dag = assignmentGraph(graph)
 * dag.outNeighbors('alice') // ['staff']: what alice is assigned to
 * ```
 */
export function assignmentGraph (graph: PolicyGraph): AssignmentGraph {
  const out: AssignmentGraph = new DirectedGraph()
  addNodes(graph, out)
  for (const [child, parent] of graph.assignments()) out.addDirectedEdge(child, parent, { kind: 'assignment' })
  return out
}

/**
 * The whole policy as a graphology multigraph: nodes, assignments, associations, and one edge per
 * container of each prohibition whose subject is a node; every prohibition is also in the graph's
 * attributes.
 *
 * @example
 * ```ts
 * const g = toGraphology(graph)
 * g.filterOutEdges('staff', (_e, a) => a.kind === 'association')
 * ```
 */
export function toGraphology (graph: PolicyGraph): PolicyMultiGraph {
  const prohibitions: PolicyProhibitionAttributes[] = []
  for (const p of graph.prohibitions()) prohibitions.push(prohibitionEntry(p))
  const out: PolicyMultiGraph = new MultiDirectedGraph()
  out.replaceAttributes({ name: 'ngac policy', revision: graph.revision, resourceRights: [...graph.resourceRights], prohibitions })
  addNodes(graph, out)
  let edge = 0
  for (const [child, parent] of graph.assignments()) {
    out.addDirectedEdgeWithKey(`e${edge++}`, child, parent, { kind: 'assignment' })
  }
  for (const a of graph.associations()) {
    out.addDirectedEdgeWithKey(`e${edge++}`, a.ua, a.target, { kind: 'association', rights: [...a.rights] })
  }
  for (const p of prohibitions) {
    if (typeof p.subject !== 'string') continue
    for (const c of p.containers) {
      out.addDirectedEdgeWithKey(`e${edge++}`, p.subject, c.name, {
        kind: 'prohibition', prohibition: p.name, rights: [...p.rights], intersection: p.intersection, complement: c.complement
      })
    }
  }
  return out
}

function addNodes (graph: PolicyGraph, out: { addNode: (node: string, attributes: PolicyNodeAttributes) => unknown }): void {
  for (const n of graph.nodes()) {
    out.addNode(n.name, { label: n.name, nodeType: n.type, properties: { ...n.properties } })
  }
}

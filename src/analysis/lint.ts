/**
 * Policy lint: findings about a policy that is legal NGAC but probably not what its authors meant,
 * and statistics about its shape. Runs on a graphology copy of the graph, built per call, and on a
 * decision engine of its own for the questions only the decision semantics answer (who holds
 * what), so it never touches the decision path. Cost: a walk per policy class, prohibition
 * container and user (up), and decisions only for users that prohibitions bind; about a second
 * per 100 000 policy elements.
 */
import type { NodeType, PolicyGraph } from '../graph/index.js'
import { DecisionEngine } from '../pdp/index.js'
import { assignmentGraph, type AssignmentGraph } from './graphology.js'

/** How bad a finding is: `error` is almost surely a mistake, `warning` often one, `info` worth a look. */
export type LintSeverity = 'error' | 'warning' | 'info'

/** The rules, in the order their findings are reported. */
export const LINT_RULES = Object.freeze([
  { rule: 'policy-class-grants-nothing', severity: 'error', description: 'A policy class contains objects but no association targets anything inside it, so every object in it is denied to everyone.' },
  { rule: 'association-outside-policy-class', severity: 'warning', description: 'The user attribute of an association is in none of the policy classes of its target: legal in NGAC, but usually an attribute assigned in the wrong class.' },
  { rule: 'prohibition-contradictory', severity: 'error', description: 'An intersection prohibition needs targets inside one container and outside another that contains it: it can never match.' },
  { rule: 'prohibition-matches-nothing', severity: 'warning', description: 'No node but the prohibition\'s own container attributes satisfies its containers: today it denies nothing on any object, user or other attribute.' },
  { rule: 'user-without-privileges', severity: 'warning', description: 'A user holds no right on any node.' },
  { rule: 'object-unreachable', severity: 'info', description: 'One of the policy classes of an object grants nothing on it (no association there targets the object or an attribute it is in), so no user holds any right on it. Objects of a policy class that grants nothing at all are reported with the class.' }
] as const satisfies readonly { rule: string, severity: LintSeverity, description: string }[])

/** The name of a lint rule. */
export type LintRule = typeof LINT_RULES[number]['rule']

/** One thing lint found. */
export interface LintFinding {
  readonly rule: LintRule
  readonly severity: LintSeverity
  /** What is wrong and what to do, for a person. */
  readonly message: string
  /** The nodes concerned, most relevant first. */
  readonly nodes: string[]
  /** The prohibition concerned, for the prohibition rules. */
  readonly prohibition?: string
}

/** The shape of a policy. */
export interface PolicyStatistics {
  readonly nodes: number
  readonly nodesByType: Record<NodeType, number>
  readonly assignments: number
  readonly associations: number
  readonly prohibitions: number
  /** The longest chain of assignments from a node up to a policy class (0 for a policy of policy classes only). */
  readonly maxDepth: number
  /** The most nodes assigned to one node. */
  readonly maxFanOut: number
  /** The mean number of nodes assigned to a node, over the nodes that have any, to two decimals. */
  readonly meanFanOut: number
}

/** The result of {@link lintPolicy}. */
export interface LintReport {
  /** The revision of the policy linted. */
  readonly revision: number
  readonly findings: LintFinding[]
  /** How many findings of each severity. */
  readonly counts: Record<LintSeverity, number>
  readonly statistics: PolicyStatistics
}

/**
 * Lints a policy: findings ordered by rule (as in {@link LINT_RULES}), then by node creation
 * order, and statistics.
 *
 * @example
 * ```ts
 * const report = lintPolicy(loadPolicy(doc))
 * for (const f of report.findings) console.log(`${f.severity} ${f.rule}: ${f.message}`)
 * report.counts.error // 0 for a policy without likely mistakes
 * ```
 */
export function lintPolicy (graph: PolicyGraph): LintReport {
  const lint = new Linter(graph)
  const findings = [
    ...lint.policyClassesGrantingNothing(),
    ...lint.associationsOutsidePolicyClass(),
    ...lint.prohibitionsThatCannotMatch(),
    ...lint.usersWithoutPrivileges(),
    ...lint.unreachableObjects()
  ].sort((a, b) => RULE_ORDER[a.rule] - RULE_ORDER[b.rule])
  const counts: Record<LintSeverity, number> = { error: 0, warning: 0, info: 0 }
  for (const f of findings) counts[f.severity]++
  return { revision: graph.revision, findings, counts, statistics: lint.statistics() }
}

const RULE_ORDER = Object.fromEntries(LINT_RULES.map((r, i) => [r.rule, i])) as Record<LintRule, number>

function finding (rule: LintRule, message: string, nodes: string[], prohibition?: string): LintFinding {
  const severity = LINT_RULES[RULE_ORDER[rule]].severity
  return prohibition === undefined ? { rule, severity, message, nodes } : { rule, severity, message, nodes, prohibition }
}

class Linter {
  readonly #graph: PolicyGraph
  readonly #dag: AssignmentGraph
  readonly #descendants = new Map<string, Set<string>>()
  readonly #classes = new Map<string, string[]>()
  /** Policy classes reported as granting nothing: their objects are not reported again. */
  readonly #deadClasses = new Set<string>()

  constructor (graph: PolicyGraph) {
    this.#graph = graph
    this.#dag = assignmentGraph(graph)
  }

  policyClassesGrantingNothing (): LintFinding[] {
    const targets = new Set<string>()
    for (const a of this.#graph.associations()) targets.add(a.target)
    const out: LintFinding[] = []
    for (const pc of this.#graph.nodes('PC')) {
      const inside = this.#descendantsOf(pc.name)
      let objects = 0
      let granted = false
      for (const name of inside) {
        if (this.#type(name) === 'O') objects++
        if (targets.has(name)) granted = true
      }
      if (objects === 0 || granted) continue
      this.#deadClasses.add(pc.name)
      out.push(finding('policy-class-grants-nothing',
        `policy class '${pc.name}' contains ${count(objects, 'object')} but no association targets anything in it, so every object in it is denied to everyone; associate a user attribute with an attribute in '${pc.name}', or assign the objects elsewhere`,
        [pc.name]))
    }
    return out
  }

  associationsOutsidePolicyClass (): LintFinding[] {
    const out: LintFinding[] = []
    for (const a of this.#graph.associations()) {
      const targetClasses = this.#classesOf(a.target)
      const uaClasses = new Set(this.#classesOf(a.ua))
      if (targetClasses.length === 0 || targetClasses.some((pc) => uaClasses.has(pc))) continue
      out.push(finding('association-outside-policy-class',
        `the association of '${a.ua}' on '${a.target}' (${a.rights.join(', ')}): '${a.ua}' is in none of the policy classes of '${a.target}' (${targetClasses.join(', ')}); NGAC allows it, but it usually means '${a.ua}' is assigned in the wrong class`,
        [a.ua, a.target]))
    }
    return out
  }

  prohibitionsThatCannotMatch (): LintFinding[] {
    const out: LintFinding[] = []
    for (const p of this.#graph.prohibitions()) {
      const inside = p.containers.filter((c) => !c.complement).map((c) => c.name)
      const outside = p.containers.filter((c) => c.complement).map((c) => c.name)
      if (p.intersection) {
        const clash = this.#containedPair(inside, outside)
        if (clash !== undefined) {
          const [a, b] = clash
          out.push(finding('prohibition-contradictory',
            `prohibition '${p.name}' can never match: it needs targets inside '${a}' and outside '${b}', but '${a}' is contained in '${b}'; drop one of the two containers`,
            [a, b], p.name))
          continue
        }
      }
      if (this.#matchesSomething(p.intersection, inside, outside)) continue
      const list = p.containers.map((c) => c.complement ? `outside '${c.name}'` : `in '${c.name}'`).join(p.intersection ? ' and ' : ' or ')
      out.push(finding('prohibition-matches-nothing',
        `prohibition '${p.name}' matches nothing but its own container attributes: no other node is ${list}; check its containers, or delete it if it is no longer needed`,
        p.containers.map((c) => c.name), p.name))
    }
    return out
  }

  /**
   * Users holding no right on any node. An association grants its rights on its own target in
   * every policy class of that target, so a user under an association holds something unless
   * prohibitions bind it: only then is the decision engine asked (on the association targets
   * first, then for the whole capability list).
   */
  usersWithoutPrivileges (): LintFinding[] {
    const graph = this.#graph
    let engine: DecisionEngine | undefined
    const out: LintFinding[] = []
    for (const user of graph.nodes('U')) {
      const targets: string[] = []
      let bound = graph.prohibitionsOf(graph.idOf(user.name)).length > 0
      for (const name of this.#ancestorsOf(user.name)) {
        const id = graph.idOf(name)
        for (const a of graph.associationsFrom(id)) targets.push(graph.nameOf(a.target))
        if (graph.prohibitionsOf(id).length > 0) bound = true
      }
      if (targets.length > 0 && !bound) continue
      if (targets.length > 0) {
        engine ??= new DecisionEngine(graph)
        const pdp = engine
        if (targets.some((target) => pdp.privileges({ user: user.name, target }).length > 0)) continue
        if (pdp.capabilities({ user: user.name }).length > 0) continue
      }
      const why = targets.length > 0
        ? 'prohibitions deny it every right the associations of its attributes grant'
        : `no association starts from any of its attributes (${graph.parentsOf(user.name).map((n) => `'${n}'`).join(', ')})`
      out.push(finding('user-without-privileges', `user '${user.name}' holds no right on any node: ${why}`, [user.name]))
    }
    return out
  }

  /**
   * Objects denied to everyone because one of their policy classes grants nothing on them: no
   * association targets the object or one of its attributes inside that class. Objects of a class
   * already reported as granting nothing are left out (so this runs after
   * {@link Linter.policyClassesGrantingNothing}). Sound, not complete: an object whose classes are
   * each granted to different users, none in all of them, is not found.
   */
  unreachableObjects (): LintFinding[] {
    const graph = this.#graph
    // Per policy class, the nodes some association inside the class covers.
    const covered = new Map<string, Set<string>>()
    for (const pcId of graph.policyClassIds()) {
      const pc = graph.nameOf(pcId)
      const inside = this.#descendantsOf(pc)
      const starts: string[] = []
      for (const a of graph.associations()) if (inside.has(a.target)) starts.push(a.target)
      covered.set(pc, this.#walkFrom(starts, false))
    }
    const out: LintFinding[] = []
    for (const object of graph.nodes('O')) {
      const classes = this.#classesOf(object.name)
      if (classes.some((pc) => this.#deadClasses.has(pc))) continue
      const blocking = classes.find((pc) => !(covered.get(pc) as Set<string>).has(object.name))
      if (blocking === undefined) continue
      out.push(finding('object-unreachable',
        `no user holds any right on object '${object.name}': no association in policy class '${blocking}' targets it or an attribute it is in`,
        [object.name, blocking]))
    }
    return out
  }

  statistics (): PolicyStatistics {
    const graph = this.#graph
    const dag = this.#dag
    const stats = graph.stats
    // Depth: longest path up to a policy class, by a topological pass from the classes down.
    const depth = new Map<string, number>()
    const pending = new Map<string, number>()
    const queue: string[] = []
    dag.forEachNode((name) => {
      const parents = dag.outDegree(name)
      pending.set(name, parents)
      depth.set(name, 0)
      if (parents === 0) queue.push(name)
    })
    let maxDepth = 0
    let maxFanOut = 0
    let parentsWithChildren = 0
    for (let i = 0; i < queue.length; i++) {
      const name = queue[i]
      const d = depth.get(name) as number
      if (d > maxDepth) maxDepth = d
      const children = dag.inDegree(name)
      if (children > 0) parentsWithChildren++
      if (children > maxFanOut) maxFanOut = children
      dag.forEachInNeighbor(name, (child) => {
        if (d + 1 > (depth.get(child) as number)) depth.set(child, d + 1)
        const left = (pending.get(child) as number) - 1
        pending.set(child, left)
        if (left === 0) queue.push(child)
      })
    }
    const meanFanOut = parentsWithChildren === 0 ? 0 : Math.round(stats.assignments / parentsWithChildren * 100) / 100
    return {
      nodes: stats.nodes,
      nodesByType: stats.nodesByType,
      assignments: stats.assignments,
      associations: stats.associations,
      prohibitions: stats.prohibitions,
      maxDepth,
      maxFanOut,
      meanFanOut
    }
  }

  #type (name: string): NodeType {
    return this.#dag.getNodeAttribute(name, 'nodeType')
  }

  /** `name` and every node assigned to it, directly or not. */
  #descendantsOf (name: string): Set<string> {
    let found = this.#descendants.get(name)
    if (found === undefined) {
      found = this.#walk(name, false)
      this.#descendants.set(name, found)
    }
    return found
  }

  /** `name` and every node it is assigned to, directly or not. */
  #ancestorsOf (name: string): Set<string> {
    return this.#walk(name, true)
  }

  #walk (start: string, up: boolean): Set<string> {
    return this.#walkFrom([start], up)
  }

  /** The starts and every node above (`up`) or below them. */
  #walkFrom (starts: readonly string[], up: boolean): Set<string> {
    const dag = this.#dag
    const seen = new Set<string>(starts)
    const stack = [...seen]
    const visit = (next: string): void => {
      if (!seen.has(next)) {
        seen.add(next)
        stack.push(next)
      }
    }
    while (stack.length > 0) {
      const name = stack.pop() as string
      if (up) dag.forEachOutNeighbor(name, visit)
      else dag.forEachInNeighbor(name, visit)
    }
    return seen
  }

  /** The policy classes `name` is in, in creation order. */
  #classesOf (name: string): string[] {
    let found = this.#classes.get(name)
    if (found === undefined) {
      const graph = this.#graph
      const ancestors = this.#ancestorsOf(name)
      found = []
      for (const id of graph.policyClassIds()) {
        const pc = graph.nameOf(id)
        if (ancestors.has(pc)) found.push(pc)
      }
      this.#classes.set(name, found)
    }
    return found
  }

  /** A positive container inside a complemented one, if the lists have such a pair. */
  #containedPair (inside: readonly string[], outside: readonly string[]): [string, string] | undefined {
    for (const b of outside) {
      const under = this.#descendantsOf(b)
      for (const a of inside) if (under.has(a)) return [a, b]
    }
    return undefined
  }

  /**
   * Whether some node satisfies the containers: any node but a policy class, except that a
   * container attribute does not count for itself (an object container does: it is the target).
   */
  #matchesSomething (intersection: boolean, inside: readonly string[], outside: readonly string[]): boolean {
    const containers = new Set([...inside, ...outside])
    const candidate = (name: string): boolean => {
      const type = this.#type(name)
      return type !== 'PC' && !(containers.has(name) && (type === 'UA' || type === 'OA'))
    }
    const within = inside.map((c) => this.#descendantsOf(c))
    const without = outside.map((c) => this.#descendantsOf(c))
    const outsideAll = (name: string): boolean => without.every((set) => !set.has(name))
    if (intersection) {
      if (within.length > 0) {
        const smallest = within.reduce((a, b) => (b.size < a.size ? b : a))
        for (const name of smallest) {
          if (candidate(name) && within.every((set) => set.has(name)) && outsideAll(name)) return true
        }
        return false
      }
      return this.#dag.someNode((name) => candidate(name) && outsideAll(name))
    }
    for (const set of within) for (const name of set) if (candidate(name)) return true
    return without.some((set) => this.#dag.someNode((name) => candidate(name) && !set.has(name)))
  }
}

function count (n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

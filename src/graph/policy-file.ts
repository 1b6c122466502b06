/**
 * The policy file (DESIGN section 5): load a JSON document into a new {@link PolicyGraph}, export a
 * graph as the canonical document, and read NIST policy-machine-core's JSON format.
 *
 * Loading validates the whole document before it gives up: every problem found (up to
 * {@link MAX_POLICY_FILE_PROBLEMS}) becomes one `{path, code, message}` entry of the `details` of a
 * single NgacError NGAC_ERR_POLICY_FILE. Nodes may come in any order; the loader creates policy
 * classes first, then each other node under its first parent as soon as that parent exists (an
 * iterative, stable topological order: a document already in that order keeps it), then the other
 * assignments, associations and prohibitions. Cost: linear in the document, plus the graph's own
 * cycle check on each assignment beyond a node's first. No recursion, so deep chains are fine.
 *
 * policy-machine-core's JSON (`format: 'pm'`, {@link fromPolicyMachine}) is what its JSONSerializer
 * writes (versions 3.0 to 3.6 and master, checked against usnistgov/policy-machine-core):
 * ```
 * { "resourceAccessRights": ["read", ...],            3.3+; "resourceOperations" in 3.0-3.2
 *   "graph": { "pcs":     [{"id": 1, "name": "RBAC", "properties": [{"key": "k", "value": "v"}]}],
 *              "uas":     [{"id": 3, "name": "staff", "assignments": [1],
 *                           "associations": [{"target": 9, "arset": ["read"]}]}],
 *              "oas": [...], "users": [...], "objects": [...] },   nodes of type OA, U, O
 *   "prohibitions": [...], "obligations": [...], "operations": {...} | [...], "routines": [...] }
 * ```
 * Nodes are referenced by numeric id; a node's `assignments` are the ids of its parents
 * (policy-machine-core calls them descendants). Prohibitions come in two shapes: 3.0-3.2 (and the
 * JSON schema to this day) write `{name, subject: {node: id} | {process}, containers: [{id,
 * complement}], arset, intersection}`; 3.3+ serialise their Prohibition classes as `{name,
 * accessRightSet, inclusionSet: [id], exclusionSet: [id], isConjunctive, nodeId}` or with `userId,
 * process` for a process prohibition. Both are read; exclusion-set ids become complement containers.
 *
 * Mapping decisions:
 * - Node ids are resolved to names; properties `[{key, value}]` become an object (last key wins).
 * - The admin policy nodes policy-machine-core leaves out of its export (PM_ADMIN, id -1;
 *   PM_ADMIN:base, -2, "PM_ADMIN:object" in 3.0; PM_ADMIN:policy_classes, :obligations,
 *   :prohibitions, :operations, :routines, -3 to -7) are created under their PM names (a PC and OAs
 *   under it, as policy-machine-core lays them out) when the document refers to them, so a
 *   super-user UA assigned to PM_ADMIN or associated with PM_ADMIN:base keeps its place. They are
 *   not mapped onto our reserved `ngac:admin`.
 * - Resource access rights become resource rights, except a name that is one of our admin rights
 *   (`delete`, `create`, `update`, `query`, ...): it is not declared, and grants of it mean our admin
 *   right of that name (an HTTP DELETE checks `delete` by default, so they are meant to be one).
 * - Admin access rights map to ours by meaning (see PM_RIGHTS below), e.g. 3.0-3.2 `create_object` and
 *   3.3+ `admin:graph:node:create` -> `create`; `admin:graph:assignment:ascendant:create` -> `assign`;
 *   every prohibition right -> `prohibit`; every list/query/get/review right -> `query`. Rights for
 *   what we do not model (obligations, operations, routines, reset, (de)serialise, setting resource
 *   rights, the `delete_*_from` rights: our delete needs rights on the node only) are dropped. Several
 *   PM rights fold into one of ours, so admin grants become coarser (`create_object` allows creating
 *   any node type there).
 * - Wildcards: `*` -> `*`; `*a` and `admin:*` -> all our admin rights; `*r` and `resource:*` -> all
 *   the document's resource rights; the narrower ones (`*a:graph`, `admin:graph:node:*`, `*q`, ...)
 *   -> the mapped rights of what they stand for.
 * - An association or prohibition left with no right, and a prohibition with no container (never
 *   satisfied there), are dropped. A process prohibition's `userId` is dropped: ours bind the process.
 * - An unknown right, node id or field is an error, as policy-machine-core rejects them too.
 * - Obligations, operations, routines and functions (PML) are ignored without an error.
 */
import { NgacError, type ErrorCode } from '../errors.js'
import {
  NODE_TYPES,
  O,
  OA,
  PC,
  PolicyGraph,
  U,
  UA,
  validateName,
  type NodeType,
  type ProhibitionContainer,
  type ProhibitionInfo,
  type ProhibitionSubject
} from './policy-graph.js'
import { ADMIN_RIGHTS, ALL_RIGHTS, validateRightName } from './rights.js'

// ---------------------------------------------------------------- the document

/** A node of a policy file; `properties` is left out when empty. */
export interface PolicyNode {
  readonly name: string
  readonly type: NodeType
  readonly properties?: Readonly<Record<string, string>>
}

/** An assignment of a policy file: `[child, parent]`. */
export type PolicyAssignment = readonly [child: string, parent: string]

/** An association of a policy file. */
export interface PolicyAssociation {
  readonly ua: string
  readonly target: string
  readonly rights: readonly string[]
}

/** A prohibition of a policy file. */
export interface PolicyProhibition {
  readonly name: string
  /** A U or UA node name, or `{process: id}`. */
  readonly subject: ProhibitionSubject
  readonly rights: readonly string[]
  /** true: the target must satisfy every container; false: any one. */
  readonly intersection: boolean
  readonly containers: readonly ProhibitionContainer[]
}

/** The policy file of DESIGN section 5. */
export interface PolicyDocument {
  readonly resourceRights?: readonly string[]
  readonly nodes: readonly PolicyNode[]
  readonly assignments?: readonly PolicyAssignment[]
  readonly associations?: readonly PolicyAssociation[]
  readonly prohibitions?: readonly PolicyProhibition[]
}

/** One problem of a policy file, as listed in the `details` of NGAC_ERR_POLICY_FILE. */
export interface PolicyFileProblem {
  /** Where: `nodes[3].type`, `assignments[12]`, `associations[0].rights[1]`; '' for the document itself. */
  readonly path: string
  /** What, as a catalogue code: NGAC_ERR_NODE_NOT_FOUND, NGAC_ERR_ASSIGNMENT_CYCLE, ... */
  readonly code: ErrorCode
  readonly message: string
}

/** The formats {@link loadPolicy} reads. */
export type PolicyFormat = 'ngac' | 'pm'

/** Options of {@link loadPolicy}. */
export interface LoadPolicyOptions {
  /** 'ngac' (the default): the policy file of DESIGN section 5; 'pm': policy-machine-core's JSON. */
  readonly format?: PolicyFormat
}

/** At most this many problems are listed in the details of one NGAC_ERR_POLICY_FILE. */
export const MAX_POLICY_FILE_PROBLEMS = 100

/**
 * Validates a policy file and builds a new graph from it, at revision 1.
 *
 * @throws NgacError NGAC_ERR_POLICY_FILE with `details`: a {@link PolicyFileProblem} for every problem
 * found, up to {@link MAX_POLICY_FILE_PROBLEMS}; NGAC_ERR_VALIDATION for an unknown format.
 * @example
 * ```ts
 * const graph = loadPolicy(JSON.parse(readFileSync('policy.json', 'utf8')))
 * graph.association('staff', 'docs')?.rights // ['read']
 *
 * try {
 *   loadPolicy({ nodes: [{ name: 'alice', type: 'U' }] })
 * } catch (err) {
 *   if (isNgacError(err, 'NGAC_ERR_POLICY_FILE')) console.log(err.details) // [{path: 'nodes[0]', code: 'NGAC_ERR_NO_PARENT', ...}]
 * }
 * ```
 */
export function loadPolicy (doc: unknown, options: LoadPolicyOptions = {}): PolicyGraph {
  const format = options.format ?? 'ngac'
  if (format === 'pm') {
    const { document, origins } = convertPolicyMachine(doc)
    return buildGraph(document, new Problems('policy-machine-core policy file', (path) => origins.path(path)))
  }
  if (format !== 'ngac') {
    throw new NgacError('NGAC_ERR_VALIDATION', `unknown policy file format ${JSON.stringify(format)}: use 'ngac' or 'pm'`)
  }
  return buildGraph(doc, new Problems('policy file'))
}

/**
 * The canonical policy file of a graph: resource rights in declared order, nodes in creation order
 * (properties only when there are some), assignments grouped by child, associations grouped by ua,
 * prohibitions in creation order. Loading it gives an equal graph.
 *
 * @example
 * ```ts
 * writeFileSync('policy.json', JSON.stringify(exportPolicy(graph), null, 2))
 * ```
 */
export function exportPolicy (graph: PolicyGraph): PolicyDocument {
  const nodes: PolicyNode[] = []
  for (const node of graph.nodes()) {
    nodes.push(Object.keys(node.properties).length > 0
      ? { name: node.name, type: node.type, properties: { ...node.properties } }
      : { name: node.name, type: node.type })
  }
  const associations: PolicyAssociation[] = []
  for (const a of graph.associations()) associations.push({ ua: a.ua, target: a.target, rights: [...a.rights] })
  const prohibitions: PolicyProhibition[] = []
  for (const p of graph.prohibitions()) prohibitions.push(prohibitionEntry(p))
  return {
    resourceRights: [...graph.resourceRights],
    nodes,
    assignments: [...graph.assignments()],
    associations,
    prohibitions
  }
}

/**
 * A prohibition as a plain policy-file entry (fresh arrays and objects, safe to keep or change).
 *
 * @example
 * ```ts
 * const entries = [...graph.prohibitions()].map(prohibitionEntry)
 * ```
 */
export function prohibitionEntry (p: ProhibitionInfo): PolicyProhibition {
  return {
    name: p.name,
    subject: typeof p.subject === 'string' ? p.subject : { process: p.subject.process },
    rights: [...p.rights],
    intersection: p.intersection,
    containers: p.containers.map((c) => ({ name: c.name, complement: c.complement }))
  }
}

/**
 * Converts a policy-machine-core JSON policy (3.0 to current) into a policy file, as the header of
 * this module describes. Checks what is specific to that format (shape, ids, rights); the result is
 * validated fully by {@link loadPolicy}, which `loadPolicy(doc, { format: 'pm' })` does in one step
 * with problems reported at their place in the original document.
 *
 * @throws NgacError NGAC_ERR_POLICY_FILE with a {@link PolicyFileProblem} per problem.
 * @example
 * ```ts
 * const doc = fromPolicyMachine(JSON.parse(readFileSync('pm-policy.json', 'utf8')))
 * doc.nodes[0] // { name: 'RBAC', type: 'PC' }
 * const graph = loadPolicy(doc)
 * ```
 */
export function fromPolicyMachine (doc: unknown): PolicyDocument {
  return convertPolicyMachine(doc).document
}

// ---------------------------------------------------------------- problems

const SHOWN_IN_MESSAGE = 5

/** Collects problems; throws them as one NGAC_ERR_POLICY_FILE. */
class Problems {
  readonly list: PolicyFileProblem[] = []
  readonly #what: string
  readonly #remap: ((path: string) => string) | undefined

  constructor (what: string, remap?: (path: string) => string) {
    this.#what = what
    this.#remap = remap
  }

  get full (): boolean {
    return this.list.length >= MAX_POLICY_FILE_PROBLEMS
  }

  add (path: string, code: ErrorCode, message: string): void {
    if (this.full) return
    this.list.push({ path: this.#remap === undefined ? path : this.#remap(path), code, message })
  }

  /** Records an NgacError thrown by the graph; rethrows anything else (a bug, not a bad file). */
  addError (path: string, err: unknown): void {
    if (!(err instanceof NgacError)) throw err
    this.add(path, err.code, err.message)
  }

  throwIfAny (): void {
    const n = this.list.length
    if (n === 0) return
    const count = this.full ? `at least ${n} problems` : n === 1 ? '1 problem' : `${n} problems`
    const shown = this.list.slice(0, SHOWN_IN_MESSAGE).map((p) => p.path === '' ? p.message : `${p.path}: ${p.message}`)
    const more = n > SHOWN_IN_MESSAGE ? `; and ${n - SHOWN_IN_MESSAGE} more in details` : ''
    throw new NgacError('NGAC_ERR_POLICY_FILE', `invalid ${this.#what}, ${count}: ${shown.join('; ')}${more}`, { details: this.list })
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`
  return `${typeof value === 'undefined' ? '' : `the ${typeof value} `}${String(value)}`
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/** `base.key`, or `base["key"]` when the key is not an identifier; `key` alone at the top. */
function fieldPath (base: string, key: string): string {
  if (!IDENTIFIER.test(key)) return `${base}[${JSON.stringify(key)}]`
  return base === '' ? key : `${base}.${key}`
}

function checkFields (entry: Record<string, unknown>, allowed: ReadonlySet<string>, path: string, what: string, problems: Problems): void {
  for (const key of Object.keys(entry)) {
    if (!allowed.has(key)) {
      problems.add(fieldPath(path, key), 'NGAC_ERR_VALIDATION', `unknown field '${key}' in ${what}: use ${[...allowed].join(', ')}`)
    }
  }
}

/** The array at `doc[key]`, [] when absent (or null when `nullable`); undefined after reporting a wrong type. */
function arrayField (doc: Record<string, unknown>, key: string, path: string, problems: Problems, required = false, nullable = false): unknown[] | undefined {
  const value = doc[key]
  if (value === undefined || (nullable && value === null)) {
    if (required) problems.add(path, 'NGAC_ERR_VALIDATION', `missing '${key}': give a list`)
    return required ? undefined : []
  }
  if (!Array.isArray(value)) {
    problems.add(path, 'NGAC_ERR_VALIDATION', `'${key}' must be a list, got ${describe(value)}`)
    return undefined
  }
  return value
}

// ---------------------------------------------------------------- loading

const TOP_FIELDS = new Set(['resourceRights', 'nodes', 'assignments', 'associations', 'prohibitions'])
const NODE_FIELDS = new Set(['name', 'type', 'properties'])
const ASSOCIATION_FIELDS = new Set(['ua', 'target', 'rights'])
const PROHIBITION_FIELDS = new Set(['name', 'subject', 'rights', 'intersection', 'containers'])
const CONTAINER_FIELDS = new Set(['name', 'complement'])
const PROCESS_FIELDS = new Set(['process'])
const TYPE_CODES = new Map<string, number>(NODE_TYPES.map((type, code) => [type, code]))
const ADMIN_RIGHT_SET: ReadonlySet<string> = new Set(ADMIN_RIGHTS)

/** Bit t set: a child of this type may be assigned to a parent of type t (DESIGN section 2). */
const PARENT_TYPES = [0, (1 << UA) | (1 << PC), 1 << UA, (1 << OA) | (1 << PC), (1 << OA) | (1 << PC)]
const ASSIGNMENT_RULE = [
  'a policy class is assigned to nothing',
  'a user attribute may only be assigned to a user attribute or a policy class',
  'a user may only be assigned to a user attribute',
  'an object attribute may only be assigned to an object attribute or a policy class',
  'an object may only be assigned to an object attribute or a policy class'
]
const MAX_CYCLE_SHOWN = 12

interface AssociationTodo {
  readonly path: string
  readonly ua: number
  readonly target: number
  readonly rights: readonly string[]
}

interface ProhibitionTodo {
  readonly path: string
  readonly name: string
  readonly subject: number | { process: string }
  readonly rights: readonly string[]
  readonly intersection: boolean
  readonly containers: readonly number[]
  readonly complements: readonly boolean[]
}

/** The declared rights of a document, for checking the rights it uses. */
class DeclaredRights {
  readonly list: string[] = []
  readonly #declared = new Set<string>()
  /** Names declared but refused, so their uses are not reported again. */
  readonly #refused = new Set<string>()

  declare (right: unknown, path: string, problems: Problems): void {
    try {
      validateRightName(right)
    } catch (err) {
      if (typeof right === 'string') this.#refused.add(right)
      problems.addError(path, err)
      return
    }
    if (ADMIN_RIGHT_SET.has(right)) {
      problems.add(path, 'NGAC_ERR_INVALID_RIGHT', `cannot declare resource right '${right}': it is an admin right (admin rights need no declaration)`)
    } else if (this.#declared.has(right)) {
      problems.add(path, 'NGAC_ERR_INVALID_RIGHT', `resource right '${right}' is declared twice`)
    } else {
      this.#declared.add(right)
      this.list.push(right)
    }
  }

  /** The rights at `doc[path]` if they are all known; reports the others. */
  check (value: unknown, path: string, problems: Problems): string[] | undefined {
    if (!Array.isArray(value)) {
      problems.add(path, 'NGAC_ERR_VALIDATION', `rights must be a list of right names, got ${describe(value)}`)
      return undefined
    }
    if (value.length === 0) {
      problems.add(path, 'NGAC_ERR_VALIDATION', 'give at least one right')
      return undefined
    }
    let ok = true
    for (let k = 0; k < value.length; k++) {
      const right: unknown = value[k]
      if (typeof right !== 'string') {
        problems.add(`${path}[${k}]`, 'NGAC_ERR_VALIDATION', `a right is a name, got ${describe(right)}`)
        ok = false
      } else if (right !== ALL_RIGHTS && !ADMIN_RIGHT_SET.has(right) && !this.#declared.has(right)) {
        ok = false
        if (!this.#refused.has(right)) {
          problems.add(`${path}[${k}]`, 'NGAC_ERR_UNKNOWN_RIGHT', `unknown right '${right}': declare it in resourceRights, or use an admin right or '*'`)
        }
      }
    }
    return ok ? value as string[] : undefined
  }
}

/** What the loader knows of the declared nodes, by their index in `nodes`. */
class NodeTable {
  /** Name -> index of its first declaration (also for declarations refused, to silence their uses). */
  readonly index = new Map<string, number>()
  readonly names: (string | undefined)[]
  /** Type code, or -1 for a refused declaration. */
  readonly types: Int8Array
  readonly properties: (Record<string, string> | undefined)[]

  constructor (n: number) {
    this.names = new Array<string | undefined>(n)
    this.types = new Int8Array(n).fill(-1)
    this.properties = new Array<Record<string, string> | undefined>(n)
  }

  /** The index of a valid node named `value`; reports an unknown name; -1 when unusable. */
  resolve (value: unknown, path: string, role: string, problems: Problems): number {
    if (typeof value !== 'string') {
      problems.add(path, 'NGAC_ERR_VALIDATION', `the ${role} must be a node name, got ${describe(value)}`)
      return -1
    }
    const i = this.index.get(value)
    if (i === undefined) {
      problems.add(path, 'NGAC_ERR_NODE_NOT_FOUND', `unknown node '${value}' (the ${role}): declare it in nodes`)
      return -1
    }
    return this.types[i] < 0 ? -1 : i
  }

  label (i: number): string {
    return `'${this.names[i]}' (${NODE_TYPES[this.types[i]]})`
  }
}

function buildGraph (doc: unknown, problems: Problems): PolicyGraph {
  if (!isObject(doc)) {
    problems.add('', 'NGAC_ERR_VALIDATION', `a policy file is a JSON object {resourceRights?, nodes, assignments?, associations?, prohibitions?}, got ${describe(doc)}`)
    problems.throwIfAny()
  }
  const file = doc as Record<string, unknown>
  checkFields(file, TOP_FIELDS, '', 'a policy file', problems)

  const rights = new DeclaredRights()
  const rightList = arrayField(file, 'resourceRights', 'resourceRights', problems) ?? []
  for (let i = 0; i < rightList.length; i++) rights.declare(rightList[i], `resourceRights[${i}]`, problems)

  const nodeList = arrayField(file, 'nodes', 'nodes', problems, true) ?? []
  const nodes = readNodes(nodeList, problems)
  const assignList = arrayField(file, 'assignments', 'assignments', problems) ?? []
  const { child, parent, firstAssignment } = readAssignments(assignList, nodes, problems)
  const associations = readAssociations(arrayField(file, 'associations', 'associations', problems) ?? [], nodes, rights, problems)
  const prohibitions = readProhibitions(arrayField(file, 'prohibitions', 'prohibitions', problems) ?? [], nodes, rights, problems)
  if (problems.full) problems.throwIfAny()

  const graph = new PolicyGraph()
  graph.setResourceRights(rights.list)
  const created = createNodes(graph, nodes, parent, firstAssignment, problems)
  reportFirstParentCycles(nodes, created, parent, firstAssignment, problems)

  for (let j = 0; j < child.length && !problems.full; j++) {
    const c = child[j]
    if (c < 0 || firstAssignment[c] === j || created[c] === 0 || created[parent[j]] === 0) continue
    const childName = nodes.names[c] as string
    const parentName = nodes.names[parent[j]] as string
    try {
      graph.assign(childName, parentName)
    } catch (err) {
      if (err instanceof NgacError && err.code === 'NGAC_ERR_ASSIGNMENT_CYCLE') {
        const cycle = cycleThrough(graph, childName, parentName)
        problems.add(`assignments[${j}]`, err.code, `assigning '${childName}' to '${parentName}' closes the cycle ${cycle}`)
      } else {
        problems.addError(`assignments[${j}]`, err)
      }
    }
  }
  for (const a of associations) {
    if (problems.full) break
    if (created[a.ua] === 0 || created[a.target] === 0) continue
    try {
      graph.associate(nodes.names[a.ua] as string, nodes.names[a.target] as string, a.rights)
    } catch (err) {
      problems.addError(a.path, err)
    }
  }
  for (const p of prohibitions) {
    if (problems.full) break
    if ((typeof p.subject === 'number' && created[p.subject] === 0) || p.containers.some((c) => created[c] === 0)) continue
    try {
      graph.createProhibition({
        name: p.name,
        subject: typeof p.subject === 'number' ? nodes.names[p.subject] as string : p.subject,
        rights: p.rights,
        intersection: p.intersection,
        containers: p.containers.map((c, k) => ({ name: nodes.names[c] as string, complement: p.complements[k] }))
      })
    } catch (err) {
      problems.addError(p.path, err)
    }
  }
  problems.throwIfAny()
  graph.setRevision(1)
  return graph
}

function readNodes (list: unknown[], problems: Problems): NodeTable {
  const nodes = new NodeTable(list.length)
  for (let i = 0; i < list.length && !problems.full; i++) {
    const entry = list[i]
    const path = `nodes[${i}]`
    if (!isObject(entry)) {
      problems.add(path, 'NGAC_ERR_VALIDATION', `a node is {name, type, properties?}, got ${describe(entry)}`)
      continue
    }
    checkFields(entry, NODE_FIELDS, path, 'a node', problems)
    let ok = true
    const name = entry.name
    if (name === undefined) {
      problems.add(`${path}.name`, 'NGAC_ERR_VALIDATION', "missing 'name'")
      ok = false
    } else {
      try {
        validateName(name)
      } catch (err) {
        problems.addError(`${path}.name`, err)
        ok = false
      }
    }
    const code = typeof entry.type === 'string' ? TYPE_CODES.get(entry.type) : undefined
    if (code === undefined) {
      problems.add(`${path}.type`, 'NGAC_ERR_INVALID_TYPE', `unknown node type ${describe(entry.type)}: use PC, UA, U, OA or O`)
      ok = false
    }
    const properties = readProperties(entry.properties, `${path}.properties`, problems)
    if (properties === null) ok = false
    if (typeof name !== 'string') continue
    const first = nodes.index.get(name)
    if (first !== undefined) {
      problems.add(`${path}.name`, 'NGAC_ERR_NODE_EXISTS', `node '${name}' is declared twice: first at nodes[${first}]`)
      // Which one its uses mean is unknown: leave them unchecked rather than report them against the first.
      nodes.types[first] = -1
      continue
    }
    nodes.index.set(name, i)
    nodes.names[i] = name
    if (ok) {
      nodes.types[i] = code as number
      nodes.properties[i] = properties ?? undefined
    }
  }
  return nodes
}

/** The properties, undefined when none, null after reporting a problem. */
function readProperties (value: unknown, path: string, problems: Problems): Record<string, string> | undefined | null {
  if (value === undefined) return undefined
  if (!isObject(value)) {
    problems.add(path, 'NGAC_ERR_VALIDATION', `properties must be an object of string values, got ${describe(value)}`)
    return null
  }
  let ok = true
  const keys = Object.keys(value)
  for (const key of keys) {
    if (typeof value[key] !== 'string') {
      problems.add(fieldPath(path, key), 'NGAC_ERR_VALIDATION', `property values must be strings, got ${describe(value[key])}`)
      ok = false
    }
  }
  if (!ok) return null
  return keys.length === 0 ? undefined : value as Record<string, string>
}

function readAssignments (list: unknown[], nodes: NodeTable, problems: Problems): { child: Int32Array, parent: Int32Array, firstAssignment: Int32Array } {
  const n = nodes.types.length
  const child = new Int32Array(list.length).fill(-1)
  const parent = new Int32Array(list.length).fill(-1)
  const firstAssignment = new Int32Array(n).fill(-1)
  const named = new Uint8Array(n) // named as a child by some entry, valid or not
  for (let j = 0; j < list.length && !problems.full; j++) {
    const entry = list[j]
    const path = `assignments[${j}]`
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') {
      problems.add(path, 'NGAC_ERR_VALIDATION', `an assignment is [child, parent] with two node names, got ${describe(entry)}`)
      continue
    }
    const [childName, parentName] = entry as [string, string]
    const ci = nodes.index.get(childName)
    const pi = nodes.index.get(parentName)
    if (ci !== undefined) named[ci] = 1
    if (ci === undefined) problems.add(path, 'NGAC_ERR_NODE_NOT_FOUND', `unknown node '${childName}' (the child): declare it in nodes`)
    if (pi === undefined) problems.add(path, 'NGAC_ERR_NODE_NOT_FOUND', `unknown node '${parentName}' (the parent): declare it in nodes`)
    if (ci === undefined || pi === undefined || nodes.types[ci] < 0 || nodes.types[pi] < 0) continue
    const ct = nodes.types[ci]
    if ((PARENT_TYPES[ct] & (1 << nodes.types[pi])) === 0) {
      problems.add(path, 'NGAC_ERR_INVALID_ASSIGNMENT', `cannot assign ${nodes.label(ci)} to ${nodes.label(pi)}: ${ASSIGNMENT_RULE[ct]}`)
      continue
    }
    if (ci === pi) {
      problems.add(path, 'NGAC_ERR_ASSIGNMENT_CYCLE', `'${childName}' cannot be assigned to itself: that is a cycle`)
      continue
    }
    child[j] = ci
    parent[j] = pi
    if (firstAssignment[ci] < 0) firstAssignment[ci] = j
  }
  for (let i = 0; i < n && !problems.full; i++) {
    const t = nodes.types[i]
    if (t > 0 && named[i] === 0) {
      problems.add(`nodes[${i}]`, 'NGAC_ERR_NO_PARENT',
        `${nodes.label(i)} has no parent: every node but a policy class needs an assignment ["${nodes.names[i]}", parent]`)
    }
  }
  return { child, parent, firstAssignment }
}

function readAssociations (list: unknown[], nodes: NodeTable, rights: DeclaredRights, problems: Problems): AssociationTodo[] {
  const todo: AssociationTodo[] = []
  const seen = new Map<number, number>()
  const n = nodes.types.length
  for (let i = 0; i < list.length && !problems.full; i++) {
    const entry = list[i]
    const path = `associations[${i}]`
    if (!isObject(entry)) {
      problems.add(path, 'NGAC_ERR_VALIDATION', `an association is {ua, target, rights}, got ${describe(entry)}`)
      continue
    }
    checkFields(entry, ASSOCIATION_FIELDS, path, 'an association', problems)
    const ua = nodes.resolve(entry.ua, `${path}.ua`, 'ua', problems)
    const target = nodes.resolve(entry.target, `${path}.target`, 'target', problems)
    const names = rights.check(entry.rights, `${path}.rights`, problems)
    let ok = ua >= 0 && target >= 0 && names !== undefined
    if (ua >= 0 && nodes.types[ua] !== UA) {
      problems.add(`${path}.ua`, 'NGAC_ERR_INVALID_ASSOCIATION', `${nodes.label(ua)} cannot hold an association: the first end must be a user attribute`)
      ok = false
    }
    if (target >= 0 && nodes.types[target] === PC) {
      problems.add(`${path}.target`, 'NGAC_ERR_INVALID_ASSOCIATION',
        `${nodes.label(target)} cannot be the target of an association: use a user attribute, object attribute or object (grant rights on policy classes through the object attribute 'ngac:admin:policy')`)
      ok = false
    }
    if (!ok) continue
    const key = ua * n + target
    const first = seen.get(key)
    if (first !== undefined) {
      problems.add(path, 'NGAC_ERR_ASSOCIATION_EXISTS',
        `'${nodes.names[ua]}' already has an association on '${nodes.names[target]}' at associations[${first}]: give one association per pair with all its rights`)
      continue
    }
    seen.set(key, i)
    todo.push({ path, ua, target, rights: names as string[] })
  }
  return todo
}

function readProhibitions (list: unknown[], nodes: NodeTable, rights: DeclaredRights, problems: Problems): ProhibitionTodo[] {
  const todo: ProhibitionTodo[] = []
  const seen = new Map<string, number>()
  for (let i = 0; i < list.length && !problems.full; i++) {
    const entry = list[i]
    const path = `prohibitions[${i}]`
    if (!isObject(entry)) {
      problems.add(path, 'NGAC_ERR_VALIDATION', `a prohibition is {name, subject, rights, intersection, containers}, got ${describe(entry)}`)
      continue
    }
    checkFields(entry, PROHIBITION_FIELDS, path, 'a prohibition', problems)
    let ok = true
    const name = entry.name
    try {
      validateName(name, 'prohibition name')
      const first = seen.get(name)
      if (first === undefined) {
        seen.set(name, i)
      } else {
        problems.add(`${path}.name`, 'NGAC_ERR_PROHIBITION_EXISTS', `prohibition '${name}' is declared twice: first at prohibitions[${first}]`)
        ok = false
      }
    } catch (err) {
      problems.addError(`${path}.name`, err)
      ok = false
    }

    let subject: number | { process: string } = -1
    const s = entry.subject
    if (isObject(s)) {
      checkFields(s, PROCESS_FIELDS, `${path}.subject`, 'a process subject', problems)
      if (typeof s.process === 'string' && s.process.length > 0) {
        subject = { process: s.process }
      } else {
        problems.add(`${path}.subject.process`, 'NGAC_ERR_INVALID_PROHIBITION', `a process subject is {"process": id} with a non-empty id, got ${describe(s.process)}`)
        ok = false
      }
    } else {
      subject = nodes.resolve(s, `${path}.subject`, 'subject', problems)
      if (subject >= 0 && nodes.types[subject] !== U && nodes.types[subject] !== UA) {
        problems.add(`${path}.subject`, 'NGAC_ERR_INVALID_PROHIBITION', `the subject ${nodes.label(subject)} must be a user, a user attribute or {"process": id}`)
        ok = false
      }
      if (subject < 0) ok = false
    }

    const names = rights.check(entry.rights, `${path}.rights`, problems)
    if (names === undefined) ok = false
    if (typeof entry.intersection !== 'boolean') {
      problems.add(`${path}.intersection`, 'NGAC_ERR_VALIDATION', `'intersection' must be true or false, got ${describe(entry.intersection)}`)
      ok = false
    }

    const containers: number[] = []
    const complements: boolean[] = []
    const containerList = entry.containers
    if (!Array.isArray(containerList) || containerList.length === 0) {
      problems.add(`${path}.containers`, 'NGAC_ERR_INVALID_PROHIBITION', `'containers' must be a non-empty list of {name, complement}, got ${describe(containerList)}`)
      ok = false
    } else {
      for (let k = 0; k < containerList.length; k++) {
        const c: unknown = containerList[k]
        const cpath = `${path}.containers[${k}]`
        if (!isObject(c)) {
          problems.add(cpath, 'NGAC_ERR_VALIDATION', `a container is {name, complement}, got ${describe(c)}`)
          ok = false
          continue
        }
        checkFields(c, CONTAINER_FIELDS, cpath, 'a container', problems)
        const ci = nodes.resolve(c.name, `${cpath}.name`, 'container', problems)
        if (typeof c.complement !== 'boolean') {
          problems.add(`${cpath}.complement`, 'NGAC_ERR_VALIDATION', `'complement' must be true or false, got ${describe(c.complement)}`)
          ok = false
        }
        if (ci < 0) {
          ok = false
          continue
        }
        const t = nodes.types[ci]
        if (t !== UA && t !== OA && t !== O) {
          problems.add(`${cpath}.name`, 'NGAC_ERR_INVALID_PROHIBITION', `container ${nodes.label(ci)} must be a user attribute, object attribute or object`)
          ok = false
        } else if (containers.includes(ci)) {
          problems.add(`${cpath}.name`, 'NGAC_ERR_INVALID_PROHIBITION', `container '${nodes.names[ci]}' is listed twice`)
          ok = false
        }
        containers.push(ci)
        complements.push(c.complement === true)
      }
    }
    if (ok) {
      todo.push({ path, name: name as string, subject, rights: names as string[], intersection: entry.intersection as boolean, containers, complements })
    }
  }
  return todo
}

/**
 * Creates the nodes in document order: a policy class at once, any other node under its first
 * parent once that parent exists; a node whose first parent is not there yet waits in that
 * parent's queue and is created right after it (an explicit stack, no recursion). So a document in
 * creation order keeps its order, except a node whose only remaining parents were created after it
 * (re-parented since): it moves after its first parent. Returns which nodes were created.
 */
function createNodes (graph: PolicyGraph, nodes: NodeTable, parent: Int32Array, firstAssignment: Int32Array, problems: Problems): Uint8Array {
  const n = nodes.types.length
  const created = new Uint8Array(n)
  const waitHead = new Int32Array(n).fill(-1)
  const waitTail = new Int32Array(n).fill(-1)
  const waitNext = new Int32Array(n).fill(-1)
  const create = (i: number): boolean => {
    const first = firstAssignment[i]
    try {
      graph.createNode(nodes.names[i] as string, NODE_TYPES[nodes.types[i]], first < 0 ? [] : [nodes.names[parent[first]] as string], nodes.properties[i])
      created[i] = 1
      return true
    } catch (err) {
      problems.addError(`nodes[${i}]`, err)
      return false
    }
  }
  const stack: number[] = []
  for (let i = 0; i < n && !problems.full; i++) {
    if (nodes.types[i] < PC) continue
    if (nodes.types[i] !== PC && firstAssignment[i] < 0) continue
    const p = nodes.types[i] === PC ? i : parent[firstAssignment[i]]
    if (p !== i && created[p] === 0) {
      if (waitTail[p] < 0) waitHead[p] = i
      else waitNext[waitTail[p]] = i
      waitTail[p] = i
      continue
    }
    stack.push(i)
    while (stack.length > 0) {
      const k = stack.pop() as number
      if (!create(k)) continue
      // Push k's waiters so that the first pops first: each is created right after k, in document order.
      const mark = stack.length
      for (let w = waitHead[k]; w >= 0; w = waitNext[w]) stack.push(w)
      if (stack.length > mark + 1) reverse(stack, mark)
    }
  }
  return created
}

function reverse (list: number[], from: number): void {
  for (let a = from, b = list.length - 1; a < b; a++, b--) {
    const x = list[a]
    list[a] = list[b]
    list[b] = x
  }
}

/**
 * Nodes never created wait, through their first parents, on a node that failed (reported already)
 * or on a cycle of first parents: reports each such cycle once, at its assignment listed first.
 */
function reportFirstParentCycles (nodes: NodeTable, created: Uint8Array, parent: Int32Array, firstAssignment: Int32Array, problems: Problems): void {
  const n = created.length
  const state = new Uint8Array(n) // 0 unvisited, 1 on the current walk, 2 done
  const walk: number[] = []
  for (let i = 0; i < n && !problems.full; i++) {
    if (created[i] === 1 || state[i] !== 0 || nodes.types[i] <= PC || firstAssignment[i] < 0) continue
    let j = i
    while (j >= 0 && created[j] === 0 && state[j] === 0) {
      state[j] = 1
      walk.push(j)
      j = firstAssignment[j] < 0 ? -1 : parent[firstAssignment[j]]
    }
    if (j >= 0 && state[j] === 1) {
      const cycle = walk.slice(walk.indexOf(j))
      let at = firstAssignment[cycle[0]]
      for (const c of cycle) at = Math.min(at, firstAssignment[c])
      const shown = cycle.slice(0, MAX_CYCLE_SHOWN).map((c) => `'${nodes.names[c]}'`)
      if (cycle.length > MAX_CYCLE_SHOWN) shown.push(`... (${cycle.length} nodes)`)
      shown.push(`'${nodes.names[cycle[0]]}'`)
      problems.add(`assignments[${at}]`, 'NGAC_ERR_ASSIGNMENT_CYCLE', `the assignments close a cycle: ${shown.join(' -> ')}`)
    }
    for (const w of walk) state[w] = 2
    walk.length = 0
  }
}

/** `'child' -> 'parent' -> ... -> 'child'`: a shortest path up from parent to child, in the graph. */
function cycleThrough (graph: PolicyGraph, child: string, parent: string): string {
  const from = graph.idOf(parent)
  const to = graph.idOf(child)
  const previous = new Map<number, number>([[from, -1]])
  const queue = [from]
  for (let q = 0; q < queue.length && !previous.has(to); q++) {
    for (const p of graph.parentIds(queue[q])) {
      if (!previous.has(p)) {
        previous.set(p, queue[q])
        queue.push(p)
      }
    }
  }
  const path: string[] = []
  for (let id = to; id >= 0; id = previous.get(id) ?? -1) path.push(`'${graph.nameOf(id)}'`)
  path.reverse()
  const shown = path.length > MAX_CYCLE_SHOWN ? [...path.slice(0, MAX_CYCLE_SHOWN - 1), `... (${path.length} nodes)`, path[path.length - 1]] : path
  return [`'${child}'`, ...shown].join(' -> ')
}

// ---------------------------------------------------------------- policy-machine-core

const PM_TOP_FIELDS = new Set(['resourceAccessRights', 'resourceOperations', 'graph', 'prohibitions', 'obligations', 'operations', 'routines'])
const PM_LISTS = ['pcs', 'uas', 'oas', 'users', 'objects'] as const
const PM_LIST_TYPES: readonly NodeType[] = ['PC', 'UA', 'OA', 'U', 'O']
const PM_GRAPH_FIELDS = new Set<string>(PM_LISTS)
const PM_PC_FIELDS = new Set(['id', 'name', 'properties'])
const PM_UA_FIELDS = new Set(['id', 'name', 'properties', 'assignments', 'associations'])
const PM_NODE_FIELDS = new Set(['id', 'name', 'properties', 'assignments'])
const PM_PROPERTY_FIELDS = new Set(['key', 'value'])
const PM_ASSOCIATION_FIELDS = new Set(['target', 'arset'])
const PM_LEGACY_PROHIBITION_FIELDS = new Set(['name', 'subject', 'containers', 'arset', 'intersection'])
const PM_PROHIBITION_FIELDS = new Set(['name', 'accessRightSet', 'inclusionSet', 'exclusionSet', 'isConjunctive', 'nodeId', 'userId', 'process'])
const PM_SUBJECT_FIELDS = new Set(['node', 'process'])
const PM_CONTAINER_FIELDS = new Set(['id', 'complement'])

/** The admin policy nodes policy-machine-core keeps out of its exports, by their fixed ids. */
const PM_ADMIN_NODES: ReadonlyMap<number, { readonly name: string, readonly type: NodeType, readonly parent: number }> = new Map([
  [-1, { name: 'PM_ADMIN', type: 'PC', parent: 0 }],
  [-2, { name: 'PM_ADMIN:base', type: 'OA', parent: -1 }],
  [-3, { name: 'PM_ADMIN:policy_classes', type: 'OA', parent: -2 }],
  [-4, { name: 'PM_ADMIN:obligations', type: 'OA', parent: -2 }],
  [-5, { name: 'PM_ADMIN:prohibitions', type: 'OA', parent: -2 }],
  [-6, { name: 'PM_ADMIN:operations', type: 'OA', parent: -2 }],
  [-7, { name: 'PM_ADMIN:routines', type: 'OA', parent: -2 }]
])

const GRAPH_ADMIN_RIGHTS = ['create', 'delete', 'update', 'assign', 'assign_to', 'deassign', 'deassign_from',
  'associate', 'associate_to', 'dissociate', 'dissociate_from']

/** Resolved at conversion: all our admin rights, all the document's resource rights. */
const ALL_ADMIN = '\u0000admin'
const ALL_RESOURCE = '\u0000resource'

/**
 * policy-machine-core's admin rights and wildcards -> ours. 3.0-3.2 names (`create_object`, `*a`, ...)
 * and 3.3+ names (`admin:graph:node:create`, `admin:*`, ...) never clash, so one table reads both.
 */
const PM_RIGHTS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ...spread(['*a', 'admin:*'], [ALL_ADMIN]),
  ...spread(['*r', 'resource:*'], [ALL_RESOURCE]),
  // 3.0-3.2
  ...spread(['create_policy_class', 'create_object', 'create_object_attribute', 'create_user_attribute', 'create_user'], ['create']),
  ...spread(['delete_policy_class', 'delete_object', 'delete_object_attribute', 'delete_user_attribute', 'delete_user'], ['delete']),
  ['set_node_properties', ['update']],
  ...['assign', 'assign_to', 'deassign', 'deassign_from', 'associate', 'associate_to', 'dissociate', 'dissociate_from']
    .map((r): [string, readonly string[]] => [r, [r]]),
  ...spread(['create_prohibition', 'create_process_prohibition', 'create_prohibition_with_complement_container',
    'delete_prohibition', 'delete_process_prohibition', 'delete_prohibition_with_complement_container'], ['prohibit']),
  ...spread(['query_access', 'query_policy_classes', 'query_assignments', 'query_subgraph', 'query_associations',
    'query_prohibitions', 'query_process_prohibitions', 'query_obligations', 'query_resource_operations',
    'query_admin_operations', 'query_admin_routines', 'get_associations', 'get_prohibitions', 'get_access_rights',
    'get_process_prohibitions', 'get_obligation', 'get_resource_operations', 'review_policy'], ['query']),
  ...spread(['delete_policy_class_from', 'delete_object_from', 'delete_object_attribute_from', 'delete_user_attribute_from',
    'delete_user_from', 'create_obligation', 'create_obligation_with_any_pattern', 'delete_obligation',
    'delete_obligation_with_any_pattern', 'delete_rule', 'set_resource_operations', 'create_admin_operation',
    'delete_admin_operation', 'create_admin_routine', 'delete_admin_routine', 'reset', 'serialize_policy',
    'deserialize_policy', 'set_pml_operations', 'set_pml_routines', 'set_pml_constants'], []),
  ['*a:graph', GRAPH_ADMIN_RIGHTS],
  ['*a:prohibition', ['prohibit']],
  ...spread(['*a:obligation', '*a:operation', '*a:routine'], []),
  ...spread(['*q', '*q:graph', '*q:prohibition', '*q:obligation', '*q:operation', '*q:routine'], ['query']),
  // 3.3+
  ['admin:graph:node:create', ['create']],
  ['admin:graph:node:delete', ['delete']],
  ['admin:graph:node:update', ['update']],
  ['admin:graph:assignment:ascendant:create', ['assign']],
  ['admin:graph:assignment:descendant:create', ['assign_to']],
  ['admin:graph:assignment:ascendant:delete', ['deassign']],
  ['admin:graph:assignment:descendant:delete', ['deassign_from']],
  ['admin:graph:association:ua:create', ['associate']],
  ['admin:graph:association:target:create', ['associate_to']],
  ['admin:graph:association:ua:delete', ['dissociate']],
  ['admin:graph:association:target:delete', ['dissociate_from']],
  ...spread(['admin:graph:node:pc:list', 'admin:graph:assignment:list', 'admin:graph:subgraph:list',
    'admin:graph:association:list', 'admin:prohibition:list', 'admin:obligation:list', 'admin:operation:list',
    'admin:access:query'], ['query']),
  ...spread(['admin:prohibition:node:create', 'admin:prohibition:process:create', 'admin:prohibition:inclusion:create',
    'admin:prohibition:exclusion:create', 'admin:prohibition:node:delete', 'admin:prohibition:process:delete',
    'admin:prohibition:inclusion:delete', 'admin:prohibition:exclusion:delete'], ['prohibit']),
  ...spread(['admin:obligation:create', 'admin:obligation:delete', 'admin:operation:create', 'admin:operation:delete',
    'admin:policy:reset', 'admin:policy:serialize', 'admin:policy:deserialize',
    'admin:policy:resource_access_rights:update', 'admin:policy:*'], []),
  ['admin:graph:*', [...GRAPH_ADMIN_RIGHTS, 'query']],
  ['admin:graph:node:*', ['create', 'delete', 'update', 'query']],
  ['admin:graph:assignment:*', ['assign', 'assign_to', 'deassign', 'deassign_from', 'query']],
  ['admin:graph:association:*', ['associate', 'associate_to', 'dissociate', 'dissociate_from', 'query']],
  ['admin:prohibition:*', ['prohibit', 'query']],
  ...spread(['admin:obligation:*', 'admin:operation:*'], ['query'])
])

function spread (names: readonly string[], rights: readonly string[]): [string, readonly string[]][] {
  return names.map((name) => [name, rights])
}

/** Where each entry of a converted document came from, to report problems at their place in the original. */
class PmOrigins {
  readonly rights: string[] = []
  /** Per converted node: list number (0-4) and index in that list; -1 for a synthesised admin node. */
  readonly nodeList: number[] = []
  readonly nodeIndex: number[] = []
  /** Per converted assignment / association: converted node index and position in that node's list. */
  readonly assignmentNode: number[] = []
  readonly assignmentAt: number[] = []
  readonly associationNode: number[] = []
  readonly associationAt: number[] = []
  readonly prohibition: number[] = []

  node (i: number): string | undefined {
    const list = this.nodeList[i]
    return list === undefined || list < 0 ? undefined : `graph.${PM_LISTS[list]}[${this.nodeIndex[i]}]`
  }

  path (path: string): string {
    const m = /^(resourceRights|nodes|assignments|associations|prohibitions)\[(\d+)\](.*)$/.exec(path)
    if (m === null) return path
    const i = Number(m[2])
    const rest = m[3]
    let base: string | undefined
    switch (m[1]) {
      case 'resourceRights':
        return this.rights[i] ?? path
      case 'nodes':
        base = this.node(i)
        if (base === undefined) return path
        return rest.startsWith('.name') ? `${base}.name` : rest.startsWith('.properties') ? `${base}.properties` : base
      case 'assignments':
        base = this.node(this.assignmentNode[i])
        return base === undefined ? path : `${base}.assignments[${this.assignmentAt[i]}]`
      case 'associations':
        base = this.node(this.associationNode[i])
        if (base === undefined) return path
        base = `${base}.associations[${this.associationAt[i]}]`
        return rest.startsWith('.target') ? `${base}.target` : rest.startsWith('.rights') ? `${base}.arset` : base
      default:
        return `prohibitions[${this.prohibition[i]}]`
    }
  }
}

interface PmNode {
  readonly list: number
  readonly index: number
  readonly entry: Record<string, unknown>
  readonly path: string
  readonly id: number
}

function convertPolicyMachine (doc: unknown): { document: PolicyDocument, origins: PmOrigins } {
  const problems = new Problems('policy-machine-core policy file')
  if (!isObject(doc)) {
    problems.add('', 'NGAC_ERR_VALIDATION', `a policy-machine-core policy is a JSON object {resourceAccessRights, graph, prohibitions, ...}, got ${describe(doc)}`)
    problems.throwIfAny()
  }
  const pm = doc as Record<string, unknown>
  for (const key of Object.keys(pm)) {
    if (!PM_TOP_FIELDS.has(key)) {
      problems.add(key, 'NGAC_ERR_VALIDATION', `unknown field '${key}' in a policy-machine-core policy: use ${[...PM_TOP_FIELDS].join(', ')}`)
    }
  }
  const origins = new PmOrigins()

  // Resource rights (3.3+ resourceAccessRights, 3.0-3.2 resourceOperations).
  const pmResource: string[] = []
  const resourceRights: string[] = []
  for (const field of ['resourceAccessRights', 'resourceOperations']) {
    const list = arrayField(pm, field, field, problems, false, true) ?? []
    for (let i = 0; i < list.length; i++) {
      const r: unknown = list[i]
      if (typeof r !== 'string') {
        problems.add(`${field}[${i}]`, 'NGAC_ERR_VALIDATION', `a resource access right is a name, got ${describe(r)}`)
      } else if (!pmResource.includes(r)) {
        pmResource.push(r)
        if (!ADMIN_RIGHT_SET.has(r)) {
          origins.rights.push(`${field}[${i}]`)
          resourceRights.push(r)
        }
      }
    }
  }
  const pmResourceSet = new Set(pmResource)

  // Nodes, first pass: ids and names.
  const graph = pm.graph ?? {}
  const pmNodes: PmNode[] = []
  const byId = new Map<number, { name: string, path: string }>()
  if (!isObject(graph)) {
    problems.add('graph', 'NGAC_ERR_VALIDATION', `'graph' must be an object {pcs, uas, oas, users, objects}, got ${describe(graph)}`)
  } else {
    checkFields(graph, PM_GRAPH_FIELDS, 'graph', 'graph', problems)
    for (let l = 0; l < PM_LISTS.length; l++) {
      const list = arrayField(graph, PM_LISTS[l], `graph.${PM_LISTS[l]}`, problems, false, true) ?? []
      const fields = l === 0 ? PM_PC_FIELDS : l === 1 ? PM_UA_FIELDS : PM_NODE_FIELDS
      for (let i = 0; i < list.length && !problems.full; i++) {
        const entry: unknown = list[i]
        const path = `graph.${PM_LISTS[l]}[${i}]`
        if (!isObject(entry)) {
          problems.add(path, 'NGAC_ERR_VALIDATION', `a node is {id, name, ...}, got ${describe(entry)}`)
          continue
        }
        checkFields(entry, fields, path, `a node of '${PM_LISTS[l]}'`, problems)
        const id = entry.id
        if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
          problems.add(`${path}.id`, 'NGAC_ERR_VALIDATION', `a node id is an integer, got ${describe(id)}`)
          continue
        }
        if (typeof entry.name !== 'string') {
          problems.add(`${path}.name`, 'NGAC_ERR_VALIDATION', `a node name is a string, got ${describe(entry.name)}`)
          continue
        }
        const other = byId.get(id)
        if (other !== undefined) {
          problems.add(`${path}.id`, 'NGAC_ERR_NODE_EXISTS', `node id ${id} is also the id of ${other.path}`)
          continue
        }
        byId.set(id, { name: entry.name, path })
        pmNodes.push({ list: l, index: i, entry, path, id })
      }
    }
  }

  // Admin policy nodes referred to but not in the document.
  const adminNeeded = new Set<number>()
  const resolveId = (value: unknown, path: string): string | undefined => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      problems.add(path, 'NGAC_ERR_VALIDATION', `a node reference is a node id, got ${describe(value)}`)
      return undefined
    }
    const node = byId.get(value)
    if (node !== undefined) return node.name
    const admin = PM_ADMIN_NODES.get(value)
    if (admin !== undefined) {
      for (let id = value; id < 0 && !byId.has(id); id = PM_ADMIN_NODES.get(id)?.parent ?? 0) adminNeeded.add(id)
      return admin.name
    }
    problems.add(path, 'NGAC_ERR_NODE_NOT_FOUND', `unknown node id ${value}: no node of the graph has it`)
    return undefined
  }
  const mapRights = (value: unknown, path: string): string[] | undefined => {
    if (!Array.isArray(value)) {
      problems.add(path, 'NGAC_ERR_VALIDATION', `an access right set is a list of names, got ${describe(value)}`)
      return undefined
    }
    const out = new Set<string>()
    let ok = true
    for (let k = 0; k < value.length; k++) {
      const r: unknown = value[k]
      const mapped = typeof r !== 'string' ? undefined
        : pmResourceSet.has(r) ? [r]
          : r === ALL_RIGHTS ? [ALL_RIGHTS]
            : PM_RIGHTS.get(r)
      if (mapped === undefined) {
        problems.add(`${path}[${k}]`, typeof r === 'string' ? 'NGAC_ERR_UNKNOWN_RIGHT' : 'NGAC_ERR_VALIDATION',
          typeof r === 'string'
            ? `unknown access right '${r}': not a resource access right of the policy, nor an admin access right or wildcard of policy-machine-core`
            : `an access right is a name, got ${describe(r)}`)
        ok = false
        continue
      }
      for (const m of mapped) {
        if (m === ALL_ADMIN) for (const a of ADMIN_RIGHTS) out.add(a)
        else if (m === ALL_RESOURCE) for (const a of pmResource) out.add(a)
        else out.add(m)
      }
    }
    if (!ok) return undefined
    return out.has(ALL_RIGHTS) ? [ALL_RIGHTS] : [...out]
  }

  // Nodes, second pass: properties, assignments, associations.
  type Converted = { name: string, type: NodeType, properties?: Record<string, string> }
  const nodes: Converted[] = []
  const assignments: PolicyAssignment[] = []
  const associations: PolicyAssociation[] = []
  const converted: { node: Converted, pm: PmNode }[] = []
  for (const n of pmNodes) {
    if (problems.full) break
    const node: Converted = { name: n.entry.name as string, type: PM_LIST_TYPES[n.list] }
    const properties = readPmProperties(n.entry.properties, `${n.path}.properties`, problems)
    if (properties !== undefined) node.properties = properties
    converted.push({ node, pm: n })
  }
  // Resolve references before laying out nodes, so the admin nodes they need come first.
  const parents: (string | undefined)[][] = []
  const grants: ({ target: string | undefined, rights: string[] | undefined } | undefined)[][] = []
  for (const { pm: n } of converted) {
    const list = arrayField(n.entry, 'assignments', `${n.path}.assignments`, problems, false, true) ?? []
    parents.push(list.map((id, k) => resolveId(id, `${n.path}.assignments[${k}]`)))
    const assocList = n.list === 1 ? arrayField(n.entry, 'associations', `${n.path}.associations`, problems, false, true) ?? [] : []
    grants.push(assocList.map((a: unknown, k) => {
      const path = `${n.path}.associations[${k}]`
      if (!isObject(a)) {
        problems.add(path, 'NGAC_ERR_VALIDATION', `an association is {target, arset}, got ${describe(a)}`)
        return undefined
      }
      checkFields(a, PM_ASSOCIATION_FIELDS, path, 'an association', problems)
      return { target: resolveId(a.target, `${path}.target`), rights: mapRights(a.arset ?? [], `${path}.arset`) }
    }))
  }
  // Prohibitions, in either shape (before the layout: they may refer to admin nodes too).
  const prohibitions: PolicyProhibition[] = []
  const pmProhibitions = arrayField(pm, 'prohibitions', 'prohibitions', problems, false, true) ?? []
  for (let i = 0; i < pmProhibitions.length && !problems.full; i++) {
    const p = convertPmProhibition(pmProhibitions[i], `prohibitions[${i}]`, resolveId, mapRights, problems)
    if (p !== undefined) {
      origins.prohibition.push(i)
      prohibitions.push(p)
    }
  }
  for (const [id, admin] of PM_ADMIN_NODES) {
    if (!adminNeeded.has(id)) continue
    origins.nodeList.push(-1)
    origins.nodeIndex.push(-1)
    nodes.push({ name: admin.name, type: admin.type })
    if (admin.parent < 0) {
      origins.assignmentNode.push(nodes.length - 1)
      origins.assignmentAt.push(-1)
      assignments.push([admin.name, resolveId(admin.parent, '') as string])
    }
  }
  for (let c = 0; c < converted.length; c++) {
    const { node, pm: n } = converted[c]
    const at = nodes.length
    origins.nodeList.push(n.list)
    origins.nodeIndex.push(n.index)
    nodes.push(node)
    parents[c].forEach((parent, k) => {
      if (parent === undefined) return
      origins.assignmentNode.push(at)
      origins.assignmentAt.push(k)
      assignments.push([node.name, parent])
    })
    grants[c].forEach((grant, k) => {
      if (grant?.target === undefined || grant.rights === undefined || grant.rights.length === 0) return
      origins.associationNode.push(at)
      origins.associationAt.push(k)
      associations.push({ ua: node.name, target: grant.target, rights: grant.rights })
    })
  }

  problems.throwIfAny()
  return { document: { resourceRights, nodes, assignments, associations, prohibitions }, origins }
}

function readPmProperties (value: unknown, path: string, problems: Problems): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value)) {
    problems.add(path, 'NGAC_ERR_VALIDATION', `properties are a list of {key, value}, got ${describe(value)}`)
    return undefined
  }
  const out: Record<string, string> = {}
  let any = false
  for (let k = 0; k < value.length; k++) {
    const p: unknown = value[k]
    if (!isObject(p) || typeof p.key !== 'string' || typeof p.value !== 'string') {
      problems.add(`${path}[${k}]`, 'NGAC_ERR_VALIDATION', `a property is {"key": string, "value": string}, got ${describe(p)}`)
      continue
    }
    checkFields(p, PM_PROPERTY_FIELDS, `${path}[${k}]`, 'a property', problems)
    out[p.key] = p.value
    any = true
  }
  return any ? out : undefined
}

function convertPmProhibition (
  value: unknown,
  path: string,
  resolveId: (value: unknown, path: string) => string | undefined,
  mapRights: (value: unknown, path: string) => string[] | undefined,
  problems: Problems
): PolicyProhibition | undefined {
  if (!isObject(value)) {
    problems.add(path, 'NGAC_ERR_VALIDATION', `a prohibition is an object, got ${describe(value)}`)
    return undefined
  }
  const legacy = 'subject' in value || 'containers' in value || 'arset' in value
  checkFields(value, legacy ? PM_LEGACY_PROHIBITION_FIELDS : PM_PROHIBITION_FIELDS, path, 'a prohibition', problems)
  let ok = true
  if (typeof value.name !== 'string') {
    problems.add(`${path}.name`, 'NGAC_ERR_VALIDATION', `a prohibition name is a string, got ${describe(value.name)}`)
    ok = false
  }
  let subject: ProhibitionSubject | undefined
  const containers: ProhibitionContainer[] = []
  let rights: string[] | undefined
  // Defaults of policy-machine-core: JSONProhibition's intersection is true, Prohibition's isConjunctive false.
  const intersectionField = legacy ? 'intersection' : 'isConjunctive'
  const intersection = value[intersectionField] ?? legacy
  if (typeof intersection !== 'boolean') {
    problems.add(`${path}.${intersectionField}`, 'NGAC_ERR_VALIDATION', `'${intersectionField}' must be true or false, got ${describe(intersection)}`)
    ok = false
  }
  if (legacy) {
    // 3.0-3.2: {name, subject: {node} | {process}, containers: [{id, complement}], arset, intersection}
    const s = value.subject
    if (isObject(s) && s.node !== undefined && s.node !== null) {
      checkFields(s, PM_SUBJECT_FIELDS, `${path}.subject`, 'a subject', problems)
      subject = resolveId(s.node, `${path}.subject.node`)
    } else if (isObject(s) && typeof s.process === 'string' && s.process.length > 0) {
      checkFields(s, PM_SUBJECT_FIELDS, `${path}.subject`, 'a subject', problems)
      subject = { process: s.process }
    } else {
      problems.add(`${path}.subject`, 'NGAC_ERR_INVALID_PROHIBITION', `a subject is {"node": id} or {"process": id}, got ${describe(s)}`)
    }
    const list = Array.isArray(value.containers) ? value.containers : undefined
    if (list === undefined) {
      problems.add(`${path}.containers`, 'NGAC_ERR_VALIDATION', `'containers' must be a list of {id, complement}, got ${describe(value.containers)}`)
      ok = false
    } else {
      for (let k = 0; k < list.length; k++) {
        const c: unknown = list[k]
        const cpath = `${path}.containers[${k}]`
        if (!isObject(c) || typeof c.complement !== 'boolean') {
          problems.add(cpath, 'NGAC_ERR_VALIDATION', `a container is {"id": id, "complement": true|false}, got ${describe(c)}`)
          ok = false
          continue
        }
        checkFields(c, PM_CONTAINER_FIELDS, cpath, 'a container', problems)
        const name = resolveId(c.id, `${cpath}.id`)
        if (name === undefined) ok = false
        else containers.push({ name, complement: c.complement })
      }
    }
    rights = mapRights(value.arset ?? [], `${path}.arset`)
  } else {
    // 3.3+: a NodeProhibition {nodeId, ...} or a ProcessProhibition {userId, process, ...}
    if (value.nodeId !== undefined && value.nodeId !== null) {
      subject = resolveId(value.nodeId, `${path}.nodeId`)
    } else if (typeof value.process === 'string' && value.process.length > 0) {
      subject = { process: value.process }
    } else {
      problems.add(path, 'NGAC_ERR_INVALID_PROHIBITION', "a prohibition needs a subject: 'nodeId', or 'process' with 'userId'")
    }
    for (const [field, complement] of [['inclusionSet', false], ['exclusionSet', true]] as const) {
      const list = arrayField(value, field, `${path}.${field}`, problems, false, true)
      if (list === undefined) {
        ok = false
        continue
      }
      for (let k = 0; k < list.length; k++) {
        const name = resolveId(list[k], `${path}.${field}[${k}]`)
        if (name === undefined) ok = false
        else containers.push({ name, complement })
      }
    }
    rights = mapRights(value.accessRightSet ?? [], `${path}.accessRightSet`)
  }
  if (!ok || subject === undefined || rights === undefined || typeof intersection !== 'boolean') return undefined
  // Nothing we model is denied, or it is never satisfied: policy-machine-core's meaning is "no effect".
  if (rights.length === 0 || containers.length === 0) return undefined
  return { name: value.name as string, subject, rights, intersection, containers }
}

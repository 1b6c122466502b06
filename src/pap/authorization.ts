/**
 * Administration governed by NGAC itself (DESIGN section 4): the admin rights each operation needs,
 * on both of its ends, checked in the same graph it changes.
 *
 * - createNode needs `create` on each parent; deleteNode `delete` and setProperties `update` on the
 *   node; assign `assign` on the child and `assign_to` on the parent; deassign `deassign` /
 *   `deassign_from`; associate `associate` on the ua and `associate_to` on the target; dissociate
 *   `dissociate` / `dissociate_from`; createProhibition and deleteProhibition `prohibit` on the
 *   subject and on every container; setResourceRights `update` on the policy.
 * - A policy class cannot be an association target, so rights on policy classes (creating one,
 *   creating or assigning under one, deleting one) and on the policy as a whole (resource rights,
 *   a process as a prohibition subject) are checked on the reserved object attribute
 *   {@link ADMIN_POLICY_OA}, assigned to the reserved policy class {@link ADMIN_PC}.
 * - Nodes named `ngac:...` are reserved: no authorized caller may create, delete, assign, deassign
 *   or update them (only unchecked changes, a super token's, may). Granting rights on them
 *   (associate_to) is an ordinary check: that is how the policy's own rights are delegated.
 * - A node that does not exist is not checked: the graph refuses the operation (404) right after,
 *   and the batch applies nothing. The reserved object attribute is the exception: when it is
 *   missing, nobody holds rights on it.
 *
 * Cost: two or three decisions per operation (a cached decision when the batch has not changed
 * the graph yet, an uncached linear-time walk after, since the cache trusts the revision and the
 * revision moves only when the batch commits).
 */
import { NgacError } from '../errors.js'
import { PC, type ADMIN_RIGHTS, type Operation, type PolicyGraph } from '../graph/index.js'

/** The prefix of reserved node names. */
export const RESERVED_PREFIX = 'ngac:'

/** The reserved policy class of the administration policy. */
export const ADMIN_PC = 'ngac:admin'

/**
 * The reserved object attribute (assigned to {@link ADMIN_PC}) that stands for the policy as a
 * whole and for its policy classes: rights on them are checked here.
 */
export const ADMIN_POLICY_OA = 'ngac:admin:policy'

/** An admin right (DESIGN section 4). */
export type AdminRight = typeof ADMIN_RIGHTS[number]

/**
 * Decides admin rights for the authorizer: whether `user` holds `right` on the node `target`.
 * The decision engine's check, by name; unknown users and nodes are denies.
 */
export interface AdminRightsOracle {
  /** On the graph at a committed revision (may be answered from a cache). */
  allowed (user: string, right: AdminRight, target: string): boolean
  /** On the graph as it is now, inside an open batch (never from a cache). */
  allowedInBatch (user: string, right: AdminRight, target: string): boolean
}

/** One right an operation needs on one node. */
export interface RequiredRight {
  readonly right: AdminRight
  readonly node: string
}

/**
 * Whether `name` is reserved for the administration policy (it starts with `ngac:`).
 *
 * @example
 * ```ts
 * isReservedName('ngac:admin') // true
 * isReservedName('docs')       // false
 * ```
 */
export function isReservedName (name: unknown): boolean {
  return typeof name === 'string' && name.startsWith(RESERVED_PREFIX)
}

/**
 * The reserved node `operation` would create, delete, assign, deassign or update, if any: such an
 * operation is refused to every authorized caller.
 *
 * @example
 * ```ts
 * reservedNodeOf({ op: 'deleteNode', name: 'ngac:admin:policy' }) // 'ngac:admin:policy'
 * reservedNodeOf({ op: 'associate', ua: 'ops', target: 'ngac:admin:policy', rights: ['create'] }) // undefined
 * ```
 */
export function reservedNodeOf (operation: Operation): string | undefined {
  const o = operation
  switch (o.op) {
    case 'createNode':
      if (isReservedName(o.name)) return o.name
      return Array.isArray(o.parents) ? o.parents.find(isReservedName) : undefined
    case 'deleteNode':
    case 'setProperties':
      return isReservedName(o.name) ? o.name : undefined
    case 'assign':
    case 'deassign':
      return isReservedName(o.child) ? o.child : isReservedName(o.parent) ? o.parent : undefined
    default:
      return undefined
  }
}

/**
 * The admin rights `operation` needs, on the graph as it is now: policy classes (and the policy as
 * a whole) are represented by {@link ADMIN_POLICY_OA}; nodes that do not exist are left out (the
 * graph refuses the operation), except the reserved object attribute.
 *
 * @example
 * ```ts
 * requiredRights(graph, { op: 'assign', child: 'bob', parent: 'eng' })
 * // [{ right: 'assign', node: 'bob' }, { right: 'assign_to', node: 'eng' }]
 * ```
 */
export function requiredRights (graph: PolicyGraph, operation: Operation): RequiredRight[] {
  const out: RequiredRight[] = []
  const on = (right: AdminRight, name: unknown): void => {
    if (typeof name !== 'string') return
    const id = graph.idOf(name)
    if (id < 0) return
    const node = graph.typeOf(id) === PC ? ADMIN_POLICY_OA : name
    if (!out.some((r) => r.right === right && r.node === node)) out.push({ right, node })
  }
  const onPolicy = (right: AdminRight): void => {
    if (!out.some((r) => r.right === right && r.node === ADMIN_POLICY_OA)) out.push({ right, node: ADMIN_POLICY_OA })
  }
  const o = operation
  switch (o.op) {
    case 'createNode': {
      const parents = Array.isArray(o.parents) ? o.parents : []
      if (parents.length === 0) onPolicy('create')
      for (const parent of parents) on('create', parent)
      break
    }
    case 'deleteNode': on('delete', o.name); break
    case 'setProperties': on('update', o.name); break
    case 'assign': on('assign', o.child); on('assign_to', o.parent); break
    case 'deassign': on('deassign', o.child); on('deassign_from', o.parent); break
    case 'associate': on('associate', o.ua); on('associate_to', o.target); break
    case 'dissociate': on('dissociate', o.ua); on('dissociate_from', o.target); break
    case 'createProhibition':
      prohibitionRights(o.subject, o.containers, on, onPolicy)
      break
    case 'deleteProhibition': {
      const p = typeof o.name === 'string' ? graph.prohibition(o.name) : undefined
      if (p !== undefined) prohibitionRights(p.subject, p.containers, on, onPolicy)
      break
    }
    case 'setResourceRights': onPolicy('update'); break
  }
  return out
}

function prohibitionRights (subject: unknown, containers: unknown, on: (right: AdminRight, name: unknown) => void, onPolicy: (right: AdminRight) => void): void {
  if (typeof subject === 'string') on('prohibit', subject)
  else onPolicy('prohibit')
  if (Array.isArray(containers)) for (const c of containers) on('prohibit', (c as { name?: unknown } | null)?.name)
}

/**
 * Checks the operations of one batch for one user: call {@link AdminAuthorizer.check} with each
 * operation just before it is applied (applyOperations' `before`), so that an operation is
 * checked on the graph its predecessors in the batch left.
 *
 * @example
 * ```ts
 * const authorizer = new AdminAuthorizer(graph, oracle, 'acme-admin')
 * applyOperations(graph, operations, (o, i) => { authorizer.check(o, i) })
 * ```
 */
export class AdminAuthorizer {
  readonly #graph: PolicyGraph
  readonly #oracle: AdminRightsOracle
  readonly #user: string

  constructor (graph: PolicyGraph, oracle: AdminRightsOracle, user: string) {
    this.#graph = graph
    this.#oracle = oracle
    this.#user = user
  }

  /**
   * Throws unless the user may apply `operation`, the `index`th of its batch, now.
   * @throws NgacError NGAC_ERR_RESERVED_NAME for a reserved node (details `{index, op, node}`),
   *   NGAC_ERR_FORBIDDEN naming the first missing right (details `{index, op, right, node}`).
   */
  check (operation: Operation, index: number): void {
    const op = operation.op
    const reserved = reservedNodeOf(operation)
    if (reserved !== undefined) {
      throw new NgacError('NGAC_ERR_RESERVED_NAME',
        `operations[${index}] (${op}): '${reserved}' is reserved for the administration policy (names under '${RESERVED_PREFIX}'); only a super token may change it`,
        { details: { index, op, node: reserved } })
    }
    // NOTE: before the batch changed anything the graph is at a committed revision, so the
    // decision cache answers; after, only an uncached decision sees the batch's changes.
    const inBatch = index > 0
    for (const { right, node } of requiredRights(this.#graph, operation)) {
      const allowed = inBatch
        ? this.#oracle.allowedInBatch(this.#user, right, node)
        : this.#oracle.allowed(this.#user, right, node)
      if (!allowed) {
        const why = node === ADMIN_POLICY_OA ? ` (rights on policy classes and on the whole policy are held on '${ADMIN_POLICY_OA}')` : ''
        throw new NgacError('NGAC_ERR_FORBIDDEN',
          `operations[${index}] (${op}): user '${this.#user}' lacks the admin right '${right}' on '${node}'${why}`,
          { details: { index, op, right, node } })
      }
    }
  }
}

/**
 * The operations that create the reserved nodes missing from `graph`: the policy class
 * {@link ADMIN_PC} and the object attribute {@link ADMIN_POLICY_OA} assigned to it.
 * @throws NgacError NGAC_ERR_RESERVED_NAME when a reserved name is taken by a node of another type.
 *
 * @example
 * ```ts
 * adminNodeOperations(new PolicyGraph())
 * // [{ op: 'createNode', name: 'ngac:admin', type: 'PC', parents: [] },
 * //  { op: 'createNode', name: 'ngac:admin:policy', type: 'OA', parents: ['ngac:admin'] }]
 * ```
 */
export function adminNodeOperations (graph: PolicyGraph): Operation[] {
  const out: Operation[] = []
  const pc = graph.node(ADMIN_PC)
  const oa = graph.node(ADMIN_POLICY_OA)
  if (pc !== undefined && pc.type !== 'PC') {
    throw new NgacError('NGAC_ERR_RESERVED_NAME', `'${ADMIN_PC}' is reserved for the administration policy class, but the policy has it as a ${pc.type}: rename that node`)
  }
  if (oa !== undefined && oa.type !== 'OA') {
    throw new NgacError('NGAC_ERR_RESERVED_NAME', `'${ADMIN_POLICY_OA}' is reserved for the administration object attribute, but the policy has it as a ${oa.type}: rename that node`)
  }
  if (pc === undefined) out.push({ op: 'createNode', name: ADMIN_PC, type: 'PC', parents: [] })
  if (oa === undefined) out.push({ op: 'createNode', name: ADMIN_POLICY_OA, type: 'OA', parents: [ADMIN_PC] })
  return out
}

/**
 * Administrative operations (DESIGN section 4) as data: the unit of a batch, of the changelog
 * and of replication. {@link applyOperations} applies a list to a graph atomically.
 */
import { isNgacError, NgacError } from '../errors.js'
import type { NodeType, PolicyGraph, ProhibitionContainer, ProhibitionSubject } from './policy-graph.js'

/** One change to a policy, as `POST /v1/batch` and the changelog spell it. */
export type Operation =
  | { readonly op: 'createNode', readonly name: string, readonly type: NodeType, readonly parents?: readonly string[], readonly properties?: Readonly<Record<string, string>> }
  | { readonly op: 'deleteNode', readonly name: string }
  | { readonly op: 'setProperties', readonly name: string, readonly properties: Readonly<Record<string, string>> }
  | { readonly op: 'assign', readonly child: string, readonly parent: string }
  | { readonly op: 'deassign', readonly child: string, readonly parent: string }
  | { readonly op: 'associate', readonly ua: string, readonly target: string, readonly rights: readonly string[] }
  | { readonly op: 'dissociate', readonly ua: string, readonly target: string }
  | {
    readonly op: 'createProhibition'
    readonly name: string
    readonly subject: ProhibitionSubject
    readonly rights: readonly string[]
    readonly intersection: boolean
    readonly containers: readonly ProhibitionContainer[]
  }
  | { readonly op: 'deleteProhibition', readonly name: string }
  | { readonly op: 'setResourceRights', readonly rights: readonly string[] }

/** The name of an operation kind. */
export type OperationName = Operation['op']

/** Every operation kind, in DESIGN section 4's order. */
export const OPERATION_NAMES: readonly OperationName[] = Object.freeze([
  'createNode', 'deleteNode', 'setProperties', 'assign', 'deassign', 'associate', 'dissociate',
  'createProhibition', 'deleteProhibition', 'setResourceRights'
])

/** The fields each operation kind requires besides `op`. */
const REQUIRED: Readonly<Record<OperationName, readonly string[]>> = {
  createNode: ['name', 'type'],
  deleteNode: ['name'],
  setProperties: ['name', 'properties'],
  assign: ['child', 'parent'],
  deassign: ['child', 'parent'],
  associate: ['ua', 'target', 'rights'],
  dissociate: ['ua', 'target'],
  createProhibition: ['name', 'subject', 'rights', 'intersection', 'containers'],
  deleteProhibition: ['name'],
  setResourceRights: ['rights']
}

/**
 * Applies one operation to `graph` (not atomically by itself: call it inside a batch).
 * @throws NgacError whatever the graph refuses, or NGAC_ERR_VALIDATION for a malformed operation.
 */
export function applyOperation (graph: PolicyGraph, operation: Operation): void {
  checkShape(operation)
  const o = operation
  switch (o.op) {
    case 'createNode': return graph.createNode(o.name, o.type, o.parents ?? [], o.properties as Record<string, string> | undefined)
    case 'deleteNode': return graph.deleteNode(o.name)
    case 'setProperties': return graph.setProperties(o.name, o.properties as Record<string, string>)
    case 'assign': return graph.assign(o.child, o.parent)
    case 'deassign': return graph.deassign(o.child, o.parent)
    case 'associate': return graph.associate(o.ua, o.target, o.rights)
    case 'dissociate': return graph.dissociate(o.ua, o.target)
    case 'createProhibition': return graph.createProhibition(o)
    case 'deleteProhibition': return graph.deleteProhibition(o.name)
    case 'setResourceRights': return graph.setResourceRights(o.rights)
  }
}

/**
 * Applies `operations` in order, atomically under one new revision: if one fails, none applies,
 * and the error thrown is the failing operation's, with `details.index` its position. `before`,
 * when given, is called with each operation and its index just before it is applied, on the graph
 * as the earlier operations left it (admin authorization); what it throws aborts the batch as is.
 *
 * @example
 * ```ts
 * applyOperations(graph, [
 *   { op: 'createNode', name: 'eng', type: 'UA', parents: ['RBAC'] },
 *   { op: 'associate', ua: 'eng', target: 'docs', rights: ['read'] }
 * ])
 * ```
 */
export function applyOperations (graph: PolicyGraph, operations: readonly Operation[], before?: (operation: Operation, index: number) => void): void {
  if (!Array.isArray(operations) || operations.length === 0) {
    throw new NgacError('NGAC_ERR_VALIDATION', 'give a non-empty list of operations')
  }
  graph.batch(() => {
    for (let i = 0; i < operations.length; i++) {
      try {
        if (before !== undefined) checkShape(operations[i])
      } catch (err) {
        throw atIndex(err, operations[i], i)
      }
      // Its error is thrown as it is: it names the operation itself.
      if (before !== undefined) before(operations[i], i)
      try {
        applyOperation(graph, operations[i])
      } catch (err) {
        throw atIndex(err, operations[i], i)
      }
    }
  })
}

function atIndex (err: unknown, operation: unknown, i: number): unknown {
  if (!isNgacError(err)) return err
  return new NgacError(err.code, `operations[${i}] (${describe(operation)}): ${err.message}`, { details: { index: i }, cause: err })
}

function checkShape (operation: unknown): asserts operation is Operation {
  if (operation === null || typeof operation !== 'object' || Array.isArray(operation)) {
    throw new NgacError('NGAC_ERR_VALIDATION', 'an operation is an object with an "op" field')
  }
  const op = (operation as { op?: unknown }).op
  if (typeof op !== 'string' || !Object.hasOwn(REQUIRED, op)) {
    throw new NgacError('NGAC_ERR_VALIDATION', `unknown operation ${JSON.stringify(op)}; use one of ${OPERATION_NAMES.join(', ')}`)
  }
  for (const field of REQUIRED[op as OperationName]) {
    if ((operation as Record<string, unknown>)[field] === undefined) {
      throw new NgacError('NGAC_ERR_VALIDATION', `operation ${op} needs the field '${field}'`)
    }
  }
}

function describe (operation: unknown): string {
  const op = (operation as { op?: unknown } | null)?.op
  return typeof op === 'string' ? op : 'operation'
}

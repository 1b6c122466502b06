/**
 * Helpers of the pdp tests: the decision fixture format and the resolution of the fixtures' user
 * and target encodings into evaluator Subjects and Targets, and into name-level requests.
 */
import type { PolicyDocument, PolicyGraph } from '../../src/graph/index.js'
import type { DecisionRequest, Subject, SubjectRequest, Target } from '../../src/pdp/index.js'

/** A user name, a user acting through a process, or an anonymous user assigned to UAs. */
export type UserSpec =
  | string
  | { user: string, process?: string }
  | { attributes: string[], process?: string }

/** A node name, or an anonymous object assigned to OAs. */
export type TargetSpec = string | { attributes: string[] }

/** One decision fixture file of test/pdp/fixtures. */
export interface Fixture {
  description: string
  policy: PolicyDocument
  checks: [UserSpec, string, TargetSpec, boolean][]
  privileges?: { user: UserSpec, target: TargetSpec, privileges: string[] }[]
  capabilities?: Record<string, { target: string, privileges: string[] }[]>
  acl?: Record<string, { user: string, privileges: string[] }[]>
  explain?: {
    user: UserSpec
    target: TargetSpec
    privileges: string[]
    policyClasses: { name: string, privileges: string[] }[]
    prohibitions: { name: string, rights: string[] }[]
  }[]
}

/** The name-level request a fixture's user and target encodings stand for. */
export function request (user: UserSpec, target: TargetSpec): DecisionRequest {
  const subject: SubjectRequest = typeof user === 'string'
    ? { user }
    : 'user' in user
      ? (user.process === undefined ? { user: user.user } : { user: user.user, process: user.process })
      : (user.process === undefined ? { userAttributes: user.attributes } : { userAttributes: user.attributes, process: user.process })
  return typeof target === 'string' ? { ...subject, target } : { ...subject, targetAttributes: target.attributes }
}

/**
 * The Subject a fixture's user encoding stands for, or null when it names an unknown node (or a
 * user name that is not a U): the caller then expects empty results.
 */
export function resolveSubject (graph: PolicyGraph, spec: UserSpec): Subject | null {
  if (typeof spec === 'string') return resolveUser(graph, spec, undefined)
  if ('user' in spec) return resolveUser(graph, spec.user, spec.process)
  const attributes = resolveNames(graph, spec.attributes)
  return attributes === null ? null : { user: -1, attributes, process: spec.process }
}

/** The Target a fixture's target encoding stands for, or null when it names an unknown node. */
export function resolveTarget (graph: PolicyGraph, spec: TargetSpec): Target | null {
  if (typeof spec === 'string') {
    const id = graph.idOf(spec)
    return id < 0 ? null : { target: id, attributes: [] }
  }
  const attributes = resolveNames(graph, spec.attributes)
  return attributes === null ? null : { target: -1, attributes }
}

function resolveUser (graph: PolicyGraph, name: string, process: string | undefined): Subject | null {
  const id = graph.idOf(name)
  if (id < 0 || graph.nodeInfo(id).type !== 'U') return null
  return { user: id, attributes: [], process }
}

function resolveNames (graph: PolicyGraph, names: readonly string[]): number[] | null {
  const ids: number[] = []
  for (const name of names) {
    const id = graph.idOf(name)
    if (id < 0) return null
    ids.push(id)
  }
  return ids
}

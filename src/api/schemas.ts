/**
 * JSON Schemas shared by the routes, registered once on the app with their `$id` and referenced
 * by `Type.Ref`. Bodies are closed (additionalProperties: false) so unknown fields are refused.
 */
import { Type, type TSchema } from 'typebox'
import { ERROR_CODES } from '../errors.js'
import { MAX_NAME_LENGTH } from '../graph/index.js'

/** `{code, message, details?}`: the body of every error. */
export const ErrorSchema = Type.Object({
  code: Type.Union(Object.keys(ERROR_CODES).map((code) => Type.Literal(code))),
  message: Type.String(),
  details: Type.Optional(Type.Unknown())
}, { $id: 'Error', additionalProperties: false, description: 'An error: a stable code from the catalogue and a message that says what to fix.' })

/** A node name: 1 to 1024 characters without control characters or unpaired surrogates. */
export const NameSchema = Type.String({ $id: 'Name', minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff]+$', description: 'A node name: unique across the policy.' })

/** The five node types. */
export const NodeTypeSchema = Type.Unsafe<'PC' | 'UA' | 'U' | 'OA' | 'O'>({ $id: 'NodeType', type: 'string', enum: ['PC', 'UA', 'U', 'OA', 'O'], description: 'PC policy class, UA user attribute, U user, OA object attribute, O object' })

/** String properties of a node. */
export const PropertiesSchema = Type.Record(Type.String({ maxLength: 1024 }), Type.String({ maxLength: 65536 }), { $id: 'Properties' })

/** A list of right names. */
export const RightsSchema = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { $id: 'Rights', minItems: 1, maxItems: 1024 })

/** The revision a change committed at, or a decision was computed at. */
export const RevisionSchema = Type.Object({ revision: Type.Integer({ minimum: 0 }) }, { $id: 'Revision', additionalProperties: false })

/** Why a subject holds what it holds on a target (`POST /v1/explain`, `POST /v1/check` with `explain: true`). */
export const ExplanationSchema = Type.Object({
  privileges: Type.Array(Type.String(), { description: 'The privileges: granted in every policy class of the target, minus what prohibitions deny; sorted.' }),
  policyClasses: Type.Array(Type.Object({
    name: Type.String(),
    privileges: Type.Array(Type.String()),
    paths: Type.Array(Type.Array(Type.String()), { description: 'One path per granting association: the user, its attributes up to the association\'s ua, then the association\'s target down to the target.' })
  }, { additionalProperties: false }), { description: 'Every policy class containing the target; one with no privileges blocks access.' }),
  prohibitions: Type.Array(Type.Object({
    name: Type.String(),
    rights: Type.Array(Type.String())
  }, { additionalProperties: false }), { description: 'The prohibitions that bind the subject and are satisfied for the target.' }),
  revision: Type.Integer({ minimum: 0 })
}, { $id: 'Explanation', additionalProperties: false, description: 'Per policy class, the rights granted and the paths that grant them, and the prohibitions applied.' })

/** A node as the administration API shows it. */
export const NodeSchema = Type.Object({
  name: Type.Ref('Name'),
  type: Type.Ref('NodeType'),
  properties: Type.Ref('Properties')
}, { $id: 'Node', additionalProperties: false, description: 'A node: its unique name, its type and its string properties.' })

/** An association `(ua, rights, target)`. */
export const AssociationSchema = Type.Object({
  ua: Type.Ref('Name'),
  target: Type.Ref('Name'),
  rights: Type.Ref('Rights')
}, { $id: 'Association', additionalProperties: false, description: 'An association: the users of `ua` hold `rights` on `target` and everything contained in it.' })

/** A prohibition, as created and listed. */
export const ProhibitionSchema = Type.Object({
  name: Type.Ref('Name'),
  subject: Type.Union([
    Type.Ref('Name'),
    Type.Object({ process: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false })
  ], { description: 'A user or user attribute name, or `{"process": id}`.' }),
  rights: Type.Ref('Rights'),
  intersection: Type.Boolean({ description: 'true: the target must satisfy every container; false: any one of them.' }),
  containers: Type.Array(Type.Object({
    name: Type.Ref('Name'),
    complement: Type.Boolean({ description: 'true: the container stands for everything outside it.' })
  }, { additionalProperties: false }), { minItems: 1, maxItems: 1024 })
}, { $id: 'Prohibition', additionalProperties: false, description: 'A prohibition: denies `rights` to its subject on the targets its containers select.' })

/** The policy file as exported (DESIGN section 5, Policy file). */
export const PolicyFileSchema = Type.Object({
  resourceRights: Type.Array(Type.String()),
  nodes: Type.Array(Type.Object({
    name: Type.String(),
    type: Type.Ref('NodeType'),
    properties: Type.Optional(Type.Ref('Properties'))
  }, { additionalProperties: false })),
  assignments: Type.Array(Type.Array(Type.String(), { minItems: 2, maxItems: 2 }), { description: 'Assignments as `[child, parent]`.' }),
  associations: Type.Array(Type.Ref('Association')),
  prohibitions: Type.Array(Type.Ref('Prohibition'))
}, { $id: 'PolicyFile', additionalProperties: false, description: 'A whole policy: declared resource rights, nodes in creation order, assignments, associations and prohibitions.' })

/** One committed change of the changelog. */
export const ChangeSchema = Type.Object({
  revision: Type.Integer({ minimum: 1 }),
  at: Type.String({ description: 'ISO 8601 time of the commit.' }),
  actor: Type.Union([Type.String(), Type.Null()], { description: 'Who made the change, when known.' }),
  operations: Type.Array(Type.Object({ op: Type.String() }, { additionalProperties: true }), {
    description: 'The operations of the batch as POST /v1/batch spells them, or one `{op: "replacePolicy", elements}` for a whole-policy replacement.'
  })
}, { $id: 'Change', additionalProperties: false, description: 'A committed batch: its revision, time, actor and operations.' })

/** Every shared schema, in registration order. */
export const SHARED_SCHEMAS: readonly TSchema[] = [ErrorSchema, NameSchema, NodeTypeSchema, PropertiesSchema, RightsSchema, RevisionSchema, ExplanationSchema, NodeSchema, AssociationSchema, ProhibitionSchema, PolicyFileSchema, ChangeSchema]

/** Error responses for the given statuses, for a route's `response` schema. */
export function errorResponses (...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {}
  for (const status of statuses) out[status] = Type.Ref('Error')
  return out
}

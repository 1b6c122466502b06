/**
 * JSON Schemas shared by the routes, registered once on the app with their `$id` and referenced
 * by `Type.Ref`. Bodies are closed (additionalProperties: false) so unknown fields are refused.
 */
import { Type, type TSchema } from 'typebox'
import { ERROR_CODES } from '../errors.js'

/** `{code, message, details?}`: the body of every error. */
export const ErrorSchema = Type.Object({
  code: Type.Union(Object.keys(ERROR_CODES).map((code) => Type.Literal(code))),
  message: Type.String(),
  details: Type.Optional(Type.Unknown())
}, { $id: 'Error', additionalProperties: false, description: 'An error: a stable code from the catalogue and a message that says what to fix.' })

/** A node name: 1 to 1024 characters without control characters. */
export const NameSchema = Type.String({ $id: 'Name', minLength: 1, maxLength: 1024, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]+$', description: 'A node name: unique across the policy.' })

/** The five node types. */
export const NodeTypeSchema = Type.Union([Type.Literal('PC'), Type.Literal('UA'), Type.Literal('U'), Type.Literal('OA'), Type.Literal('O')], { $id: 'NodeType' })

/** String properties of a node. */
export const PropertiesSchema = Type.Record(Type.String({ maxLength: 1024 }), Type.String({ maxLength: 65536 }), { $id: 'Properties' })

/** A list of right names. */
export const RightsSchema = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { $id: 'Rights', minItems: 1, maxItems: 1024 })

/** The revision a change committed at, or a decision was computed at. */
export const RevisionSchema = Type.Object({ revision: Type.Integer({ minimum: 0 }) }, { $id: 'Revision', additionalProperties: false })

/** Every shared schema, in registration order. */
export const SHARED_SCHEMAS: readonly TSchema[] = [ErrorSchema, NameSchema, NodeTypeSchema, PropertiesSchema, RightsSchema, RevisionSchema]

/** Error responses for the given statuses, for a route's `response` schema. */
export function errorResponses (...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {}
  for (const status of statuses) out[status] = Type.Ref('Error')
  return out
}

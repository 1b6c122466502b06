export { PolicyAdministrator, type ChangeOptions, type ChangeResult, type PolicyAdministratorOptions, type ReplaceOptions } from './administrator.js'
export {
  ADMIN_PC,
  ADMIN_POLICY_OA,
  AdminAuthorizer,
  RESERVED_PREFIX,
  adminNodeOperations,
  isReservedName,
  requiredRights,
  reservedNodeOf,
  type AdminRight,
  type AdminRightsOracle,
  type RequiredRight
} from './authorization.js'

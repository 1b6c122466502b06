export { PolicyAdministrator, type ChangeOptions, type ChangeResult } from './administrator.js'

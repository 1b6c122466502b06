export { PolicyAdministrator, type ChangeOptions, type ChangeResult, type ReplaceOptions } from './administrator.js'

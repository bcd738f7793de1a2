export {
  startSmartApp,
  createSmartAppHandler,
  type SmartAppOptions,
  type RunningSmartApp,
} from './server.js';
export { buildClientAssets, prepareClientAssets, DEFAULT_DIST_DIR, type AssetBuildMode } from './assets.js';
export { loadSmartAppConfig, type SmartAppConfig } from './config.js';
export { MissingAssetsError } from './missing-assets-error.js';
export { startAuthServer, type AuthServerOptions, type RunningAuthServer } from './auth-server/server.js';
export { loadAuthServerConfig, type AuthServerConfig } from './auth-server/config.js';

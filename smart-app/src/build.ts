/** Builds the page into `smart-app/dist/`: `npm run build -w smart-app`. */
import { buildClientAssets, DEFAULT_DIST_DIR } from './assets.js';

try {
  await buildClientAssets(DEFAULT_DIST_DIR);
  process.stdout.write(`Built the SMART app page into ${DEFAULT_DIST_DIR}\n`);
} catch (error) {
  process.stderr.write(`SMART app build failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
}

/**
 * Builds the browser code in `src/client/` with Vite 7 into `dist/`. The npm `build` script and the
 * server share this one configuration, so a fresh clone serves the same page whichever runs first.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { build } from 'vite';
import { MissingAssetsError } from './missing-assets-error.js';

/** Folder with `index.html` and the React sources; Vite's project root. */
export const CLIENT_ROOT_DIR = fileURLToPath(new URL('./client', import.meta.url));

/** Default output folder of the build, `smart-app/dist/` (git-ignored). */
export const DEFAULT_DIST_DIR = fileURLToPath(new URL('../dist', import.meta.url));

/**
 * When the server builds the assets: `if-missing` builds when `index.html` is absent (a fresh clone),
 * `always` rebuilds on every start (tests, so they check the current sources), `never` only serves.
 */
export type AssetBuildMode = 'if-missing' | 'always' | 'never';

/**
 * Builds the browser assets with Vite, replacing the contents of `distDir`.
 * @param distDir - Output folder.
 */
export async function buildClientAssets(distDir: string = DEFAULT_DIST_DIR): Promise<void> {
  await build({
    configFile: false,
    root: CLIENT_ROOT_DIR,
    base: '/',
    publicDir: false,
    logLevel: 'warn',
    clearScreen: false,
    plugins: [react()],
    build: {
      outDir: distDir,
      emptyOutDir: true,
      sourcemap: true,
      // Two pages: the SMART launch URL and the redirect URI that shows the results.
      rollupOptions: {
        input: { index: join(CLIENT_ROOT_DIR, 'index.html'), launch: join(CLIENT_ROOT_DIR, 'launch.html') },
      },
    },
  });
}

/**
 * Makes sure `distDir` contains built assets, building them according to `mode`.
 * @param distDir - Folder the server serves.
 * @param mode - When to build; see {@link AssetBuildMode}.
 * @returns `built` when this call ran the build, `existing` when it reused earlier output.
 * @throws MissingAssetsError when `mode` is `never` and `distDir` has no `index.html`.
 */
export async function prepareClientAssets(
  distDir: string,
  mode: AssetBuildMode
): Promise<'built' | 'existing'> {
  const indexFile = join(distDir, 'index.html');
  const present = existsSync(indexFile);

  if (mode === 'always' || (mode === 'if-missing' && !present)) {
    await buildClientAssets(distDir);
    return 'built';
  }
  if (!present) {
    throw new MissingAssetsError(
      `Missing ${indexFile}: run "npm run build -w smart-app" first, or start the server with building enabled.`
    );
  }
  return 'existing';
}

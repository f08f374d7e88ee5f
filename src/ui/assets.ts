/**
 * The web view's files: plain HTML, CSS and ES modules shipped in the package's `ui/`
 * folder (no build step, for us or for users), and the browser build of dagre (the
 * layout library) served from its own package in node_modules. Only these named files
 * are served; nothing else on disk is reachable.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** The package root: the first folder up from this module holding `ui/index.html` (src/ui in a clone, dist/src/ui when installed). */
function findUiFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "ui", "index.html")) && existsSync(join(dir, "package.json"))) return join(dir, "ui");
    dir = dirname(dir);
  }
  throw new Error(`the web view's files (ui/index.html) are missing from the phaseflow package near ${fileURLToPath(import.meta.url)}; reinstall phaseflow`);
}

function dagreBundle(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@dagrejs/dagre/package.json")), "dist", "dagre.esm.js");
}

/** URL path -> file, the whole list of what is served. */
function assetFiles(): Map<string, string> {
  const ui = findUiFolder();
  const files = new Map<string, string>([
    ["/", join(ui, "index.html")],
    ["/vendor/dagre.js", dagreBundle()],
  ]);
  for (const name of ["app.js", "api.js", "graph.js", "run-page.js", "run-list.js", "workers.js", "dom.js", "style.css"]) files.set(`/${name}`, join(ui, name));
  return files;
}

export interface AssetStore {
  /** The asset at a URL path, or undefined (a 404). */
  get(path: string): Promise<Asset | undefined>;
}

/**
 * Read the assets lazily, once each.
 * @example const asset = await createAssetStore().get("/app.js");
 */
export function createAssetStore(): AssetStore {
  const files = assetFiles();
  const cache = new Map<string, Promise<Asset>>();
  return {
    get(path) {
      const file = files.get(path);
      if (file === undefined) return Promise.resolve(undefined);
      let hit = cache.get(path);
      if (!hit) {
        const ext = file.slice(file.lastIndexOf("."));
        hit = readFile(file).then((body) => ({ body, type: TYPES[ext] ?? "application/octet-stream" }));
        hit.catch(() => cache.delete(path));
        cache.set(path, hit);
      }
      return hit;
    },
  };
}

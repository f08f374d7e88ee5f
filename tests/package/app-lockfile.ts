/**
 * The package-lock.json of the throwaway app the package test installs the tarball
 * into. It pins every dependency of phaseflow (and the app's own `@types/node`) to the
 * version this repository's lockfile pins, with the same `resolved` URL and integrity,
 * so `npm install --offline` finds every tarball in the cache `npm ci` filled: the test
 * downloads nothing and does not depend on what the registry has published since.
 * What it checks is the package itself (its files, bin, exports and types), not npm's
 * version resolution.
 */

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  [key: string]: unknown;
}

export interface Lockfile {
  name?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

export interface AppLockOptions {
  /** The repository's package-lock.json. */
  repoLock: Lockfile;
  /** The repository's package.json (name, version, dependencies, bin, engines). */
  repoPackage: { name: string; version: string; dependencies: Record<string, string>; bin?: unknown; engines?: unknown; license?: string };
  /** The tarball's file name, relative to the app directory. */
  tarball: string;
  /** The tarball's sha512 integrity, from `npm pack --json`. */
  integrity: string;
  /** Dev dependencies of the app, taken from the repository's lockfile. */
  devDependencies: Record<string, string>;
}

/** Where package `name`, required from the package at `from`, lives in the lock's tree (node's lookup, walking up). */
function locate(packages: Lockfile["packages"], from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = base === "" ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (base === "") return undefined;
    const cut = base.lastIndexOf("/node_modules/");
    base = cut === -1 ? "" : base.slice(0, cut);
  }
}

/**
 * The app's lockfile: phaseflow from the tarball, and the closure of its dependencies
 * and of `devDependencies` as the repository locks them.
 */
export function appLockfile(o: AppLockOptions): Lockfile {
  const source = o.repoLock.packages;
  const packages: Lockfile["packages"] = {};
  const visit = (path: string, dev: boolean): void => {
    const entry = source[path];
    if (entry === undefined) throw new Error(`the repository lockfile has no "${path}"`);
    const known = packages[path];
    if (known !== undefined) {
      if (!dev && known.dev === true) delete known.dev;
      return;
    }
    const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
    packages[path] = { ...rest, ...(dev ? { dev: true } : {}) };
    // npm installs non-optional peers too (graphology's graphology-types).
    const peers = Object.keys(entry.peerDependencies ?? {}).filter((name) => entry.peerDependenciesMeta?.[name]?.optional !== true);
    for (const name of [...Object.keys({ ...entry.dependencies, ...entry.optionalDependencies }), ...peers]) {
      const at = locate(source, path, name);
      if (at === undefined) {
        if (entry.optionalDependencies?.[name] !== undefined) continue;
        throw new Error(`"${path}" needs "${name}", which the repository lockfile does not hold`);
      }
      visit(at, dev);
    }
  };
  for (const name of Object.keys(o.repoPackage.dependencies)) visit(`node_modules/${name}`, false);
  for (const name of Object.keys(o.devDependencies)) visit(`node_modules/${name}`, true);
  packages["node_modules/phaseflow"] = {
    version: o.repoPackage.version,
    resolved: `file:${o.tarball}`,
    integrity: o.integrity,
    ...(o.repoPackage.license !== undefined ? { license: o.repoPackage.license } : {}),
    dependencies: o.repoPackage.dependencies,
    ...(o.repoPackage.bin !== undefined ? { bin: o.repoPackage.bin } : {}),
    ...(o.repoPackage.engines !== undefined ? { engines: o.repoPackage.engines } : {}),
  };
  return {
    name: "phaseflow-package-test-app",
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: "phaseflow-package-test-app", dependencies: { phaseflow: `file:${o.tarball}` }, devDependencies: o.devDependencies },
      ...packages,
    },
  };
}

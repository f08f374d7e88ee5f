/**
 * Ordering workflow versions, so "the latest" means what a person would mean.
 *
 * Versions are free-form strings (`"1"`, `"2"`, `"10"`, `"1.4.0"`, `"2.0.0-rc.1"`,
 * `"2024-11-03"`). They are compared naturally: runs of digits as numbers, everything
 * else as text, so "2" < "10" and "1.9.0" < "1.10.0". Semver is honoured: build metadata
 * (`+...`) is ignored, and a pre-release (`2.0.0-rc.1`) sorts before its release
 * (`2.0.0`). The `semver` package was not used: it rejects the plain "1", "2" most
 * workflows are versioned with, and a fallback comparison would be needed anyway.
 */

const CHUNKS = /(\d+)|(\D+)/g;

function chunksOf(text: string): (number | string)[] {
  return [...text.matchAll(CHUNKS)].map((m) => (m[1] !== undefined ? Number(m[1]) : m[2]!));
}

function compareNatural(a: string, b: string): number {
  const x = chunksOf(a);
  const y = chunksOf(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === q) continue;
    if (typeof p === "number" && typeof q === "number") return p < q ? -1 : 1;
    // A number before text at one position ("1.2" vs "1.a"): digits first, as semver orders identifiers.
    if (typeof p === "number") return -1;
    if (typeof q === "number") return 1;
    return p < q ? -1 : 1;
  }
  return x.length - y.length === 0 ? 0 : x.length < y.length ? -1 : 1;
}

/** Split off build metadata, then the pre-release: `"2.0.0-rc.1+abc"` -> `["2.0.0", "rc.1"]`. */
function partsOf(version: string): [string, string | undefined] {
  const withoutBuild = version.split("+", 1)[0]!;
  const dash = withoutBuild.indexOf("-");
  // A leading dash or a version with no digit before the dash is not a pre-release marker.
  if (dash <= 0 || !/\d/.test(withoutBuild.slice(0, dash))) return [withoutBuild, undefined];
  return [withoutBuild.slice(0, dash), withoutBuild.slice(dash + 1)];
}

/**
 * Negative when `a` is older than `b`, positive when newer, 0 when equal in order.
 * @example ["10", "2", "1"].sort(compareVersions) // ["1", "2", "10"]
 * @example compareVersions("2.0.0-rc.1", "2.0.0") // < 0
 */
export function compareVersions(a: string, b: string): number {
  const [coreA, preA] = partsOf(a);
  const [coreB, preB] = partsOf(b);
  const core = compareNatural(coreA, coreB);
  if (core !== 0) return core;
  if (preA === undefined && preB === undefined) return a === b ? 0 : a < b ? -1 : 1;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  const pre = compareNatural(preA, preB);
  return pre !== 0 ? pre : a === b ? 0 : a < b ? -1 : 1;
}

/** The newest of `versions` (undefined when empty). */
export function latestVersion(versions: Iterable<string>): string | undefined {
  let latest: string | undefined;
  for (const v of versions) if (latest === undefined || compareVersions(v, latest) > 0) latest = v;
  return latest;
}

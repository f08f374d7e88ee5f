/**
 * Routed API operations (README "Deploying new versions"): `<op>.wf.<workflow>[.v.<version>]`, e.g.
 * `run.start.wf.etl.v.2`, served only by coordinators serving that workflow (and
 * version), so a start never lands on a coordinator that would refuse it. Names and
 * versions that are not plain tokens (letters, digits, `_`, `-`) are hex-encoded after
 * a `=` (which never starts a plain token), so any name or version routes.
 */

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** A name as one address token: itself when it is one, else `=` and its UTF-8 bytes in hex. */
export function routeToken(value: string): string {
  return TOKEN.test(value) ? value : `=${Buffer.from(value, "utf8").toString("hex")}`;
}

/**
 * @example routedOp("run.start", "etl") // "run.start.wf.etl"
 * @example routedOp("run.start", "etl", "1.2.0") // "run.start.wf.etl.v.=312e322e30"
 */
export function routedOp(op: string, workflow: string, version?: string): string {
  return `${op}.wf.${routeToken(workflow)}${version === undefined ? "" : `.v.${routeToken(version)}`}`;
}

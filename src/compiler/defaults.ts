/** Defaults applied when a definition leaves a setting out (documented on the DSL options). */
export const DEFAULT_RETRIES = 0;
export const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000, factor: 2 } as const;
export const DEFAULT_MAX_VISITS = 100;
/** Upper bounds that catch typos (a retries of 1e9 is never meant). */
export const MAX_RETRIES = 1000;
export const MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

/** `[major, minor, patch]` of a server version such as `2.9.10` or `v2.10.0-beta.1`; zeros when unreadable. */
export function parseServerVersion(version: string | undefined): [number, number, number] {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version ?? "");
  if (!m) return [0, 0, 0];
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** True when `version` is at least `minimum` (both `MAJOR.MINOR.PATCH`). */
export function versionAtLeast(version: string | undefined, minimum: string): boolean {
  const a = parseServerVersion(version);
  const b = parseServerVersion(minimum);
  for (let i = 0; i < 3; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return true;
}

/** Consumers with several filter subjects (`filter_subjects`) arrived in nats-server 2.10. */
export const MULTI_FILTER_MIN_VERSION = "2.10.0";

/** `+TERM <reason>`: a 2.9 server only knows a bare `+TERM` and silently ignores anything longer. */
export const TERM_REASON_MIN_VERSION = "2.10.0";

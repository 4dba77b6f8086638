/**
 * NATS subject rules, for the in-process broker: tokens separated by ".", `*` matches one token, `>` matches
 * one or more trailing tokens. Patterns are tokenized once and matched token by token.
 */

export type Pattern = readonly string[];

export function tokenize(subject: string): Pattern {
  return subject.split(".");
}

/** A subject or pattern: non-empty tokens, no whitespace; `>` only last; wildcards only as whole tokens. */
export function isValidSubject(subject: string, allowWildcards: boolean): boolean {
  if (subject.length === 0 || /\s/.test(subject)) return false;
  const tokens = subject.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (t.length === 0) return false;
    // Like NATS, a token such as "a*" is a literal; only a whole "*" or ">" token is a wildcard.
    if (t === "*" || t === ">") {
      if (!allowWildcards) return false;
      if (t === ">" && i !== tokens.length - 1) return false;
    }
  }
  return true;
}

/** Whether the literal subject (already tokenized) matches the pattern. */
export function matches(pattern: Pattern, subject: Pattern): boolean {
  const n = pattern.length;
  for (let i = 0; i < n; i++) {
    const p = pattern[i];
    if (p === ">") return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== "*" && p !== subject[i]) return false;
  }
  return subject.length === n;
}

/** Whether some literal subject matches both patterns (JetStream refuses overlapping stream subjects). */
export function overlaps(a: Pattern, b: Pattern): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === ">" || y === ">") return x !== undefined && y !== undefined;
    if (x === undefined || y === undefined) return false;
    if (x !== "*" && y !== "*" && x !== y) return false;
  }
  return true;
}

/**
 * Remembers which literal subjects a set of patterns matches, so a hot subject costs one map lookup.
 * Bounded: the cache is dropped when it grows past `limit` distinct subjects.
 */
export class SubjectFilter {
  private readonly cache = new Map<string, boolean>();
  constructor(
    private readonly patterns: readonly Pattern[],
    private readonly limit = 4096,
  ) {}

  test(subject: string): boolean {
    const hit = this.cache.get(subject);
    if (hit !== undefined) return hit;
    const tokens = tokenize(subject);
    const result = this.patterns.some((p) => matches(p, tokens));
    if (this.cache.size >= this.limit) this.cache.clear();
    this.cache.set(subject, result);
    return result;
  }
}

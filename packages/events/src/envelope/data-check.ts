/**
 * A fast pre-check of event data, compiled once per registered schema from the zod schema's definition.
 *
 * zod validates a delivered event's data in a few microseconds, and in a consumer that runs between
 * socket reads its deep, generic call paths (a payload object and an issues array per field, checks run
 * through closures) cost several times what they cost in a tight loop. For the schemas events are
 * usually made of (objects of strings, numbers, booleans, enums, literals, arrays, optional and nullable
 * fields, with length, range, integer and pattern checks) this module builds a plain predicate instead.
 *
 * The contract is one-sided: `check(value) === true` means zod's `safeParse(value)` succeeds and its
 * output equals `value` (so `value` itself can be handed on). `false` means nothing beyond "ask zod": the
 * caller then runs `safeParse`, which produces the real error, or the real output (an object with keys
 * zod strips, say). A schema with anything outside that subset (transforms, defaults, refinements,
 * coercion, unions, records, formats that are more than a pattern, …) compiles to `undefined`, and every
 * value goes through zod as before. `data-check.test.ts` holds the predicate to zod's verdict.
 *
 * It reads `schema._zod.def`, zod 4's documented definition object for library authors.
 */
import type { z } from "zod";

export type DataCheck = (value: unknown) => boolean;

/** The slice of zod's internals read here (zod 4 `core` types, narrowed to what is used). */
interface ZodInternals {
  _zod: {
    def: ZodDef;
    traits: Set<string>;
    /** Allowed values of enums and literals. */
    values?: Set<unknown>;
    /** "defaulted" when an inner schema substitutes a default for absence. */
    optin?: string;
  };
}

interface ZodDef {
  type: string;
  coerce?: boolean;
  checks?: ZodInternals[];
  /** The check kind, on checks and on format schemas such as `z.iso.datetime()`. */
  check?: string;
  format?: string;
  pattern?: RegExp;
  minimum?: number;
  maximum?: number;
  length?: number;
  value?: number;
  inclusive?: boolean;
  shape?: Record<string, ZodInternals>;
  catchall?: ZodInternals;
  element?: ZodInternals;
  innerType?: ZodInternals;
}

/** String formats whose whole test is their pattern (zod's `$ZodCheckStringFormat` default check). */
const PATTERN_FORMATS = new Set([
  "guid",
  "uuid",
  "email",
  "nanoid",
  "cuid",
  "cuid2",
  "ulid",
  "xid",
  "ksuid",
  "datetime",
  "date",
  "time",
  "duration",
  "ipv4",
  "regex",
  "lowercase",
  "uppercase",
]);

/** zod's `NUMBER_FORMAT_RANGES`, and whether the format is an integer one. */
const NUMBER_FORMATS: Record<string, readonly [number, number, boolean]> = {
  safeint: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true],
  int32: [-2147483648, 2147483647, true],
  uint32: [0, 4294967295, true],
  float32: [-3.4028234663852886e38, 3.4028234663852886e38, false],
  float64: [-Number.MAX_VALUE, Number.MAX_VALUE, false],
};

/** Compiles `schema` to a `DataCheck`, or `undefined` when it uses anything outside the subset. */
export function compileDataCheck(schema: z.ZodType): DataCheck | undefined {
  return compile(schema as unknown as ZodInternals);
}

function compile(schema: ZodInternals): DataCheck | undefined {
  const def = schema._zod.def;
  if (def.coerce === true) return undefined;
  // A schema that is itself a check (`z.iso.datetime()`, `z.int()`): only strings and numbers know theirs.
  if (def.check !== undefined && def.type !== "string" && def.type !== "number") return undefined;
  switch (def.type) {
    case "string":
      return compileString(def);
    case "number":
      return compileNumber(def);
    case "boolean":
      return none(def) ? (v) => typeof v === "boolean" : undefined;
    case "enum":
    case "literal": {
      const values = schema._zod.values;
      return none(def) && values instanceof Set ? (v) => values.has(v) : undefined;
    }
    case "optional": {
      if (!none(def) || def.innerType === undefined || def.innerType._zod.optin === "defaulted")
        return undefined;
      const inner = compile(def.innerType);
      return inner && ((v) => v === undefined || inner(v));
    }
    case "nullable": {
      const inner = none(def) && def.innerType !== undefined ? compile(def.innerType) : undefined;
      return inner && ((v) => v === null || inner(v));
    }
    case "array":
      return compileArray(def);
    case "object":
      return compileObject(def);
    default:
      return undefined;
  }
}

/** Whether the schema carries no checks (refinements and the like live there). */
function none(def: ZodDef): boolean {
  return def.checks === undefined || def.checks.length === 0;
}

/** `ok(v)` and every one of `tests`, as one predicate. */
function all(ok: DataCheck, tests: DataCheck[]): DataCheck {
  if (tests.length === 0) return ok;
  return (v) => {
    if (!ok(v)) return false;
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(v)) return false;
    return true;
  };
}

function patternTest(pattern: RegExp): DataCheck {
  return (v) => {
    pattern.lastIndex = 0; // as zod does, for patterns with the g or y flag
    return pattern.test(v as string);
  };
}

/** The length checks strings and arrays share; undefined for any other check. */
function lengthTest(c: ZodDef): DataCheck | undefined {
  switch (c.check) {
    case "min_length": {
      const min = c.minimum as number;
      return (v) => (v as { length: number }).length >= min;
    }
    case "max_length": {
      const max = c.maximum as number;
      return (v) => (v as { length: number }).length <= max;
    }
    case "length_equals": {
      const length = c.length as number;
      return (v) => (v as { length: number }).length === length;
    }
    default:
      return undefined;
  }
}

function compileString(def: ZodDef): DataCheck | undefined {
  const tests: DataCheck[] = [];
  // A format schema (`z.iso.datetime()`, `z.email()`) is its own first check.
  if (def.check !== undefined) {
    if (def.check !== "string_format" || !PATTERN_FORMATS.has(def.format ?? "")) return undefined;
    if (!(def.pattern instanceof RegExp)) return undefined;
    tests.push(patternTest(def.pattern));
  }
  for (const check of def.checks ?? []) {
    const c = check._zod.def;
    if (c.check === "string_format") {
      if (!PATTERN_FORMATS.has(c.format ?? "") || !(c.pattern instanceof RegExp)) return undefined;
      tests.push(patternTest(c.pattern));
      continue;
    }
    const t = lengthTest(c);
    if (t === undefined) return undefined;
    tests.push(t);
  }
  return all((v) => typeof v === "string", tests);
}

function compileNumber(def: ZodDef): DataCheck | undefined {
  const tests: DataCheck[] = [];
  // A number format schema (`z.int()`) is its own first check.
  const own: ZodDef[] = def.check === undefined ? [] : [def];
  for (const c of [...own, ...(def.checks ?? []).map((check) => check._zod.def)]) {
    const bound = c.value as number;
    switch (c.check) {
      case "greater_than":
        tests.push(c.inclusive ? (v) => (v as number) >= bound : (v) => (v as number) > bound);
        break;
      case "less_than":
        tests.push(c.inclusive ? (v) => (v as number) <= bound : (v) => (v as number) < bound);
        break;
      case "number_format": {
        const range = NUMBER_FORMATS[c.format ?? "float64"];
        if (range === undefined) return undefined;
        const [min, max, integer] = range;
        tests.push(
          integer
            ? (v) => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
            : (v) => (v as number) >= min && (v as number) <= max,
        );
        break;
      }
      default:
        return undefined;
    }
  }
  return all((v) => typeof v === "number" && Number.isFinite(v), tests);
}

function compileArray(def: ZodDef): DataCheck | undefined {
  const element = def.element === undefined ? undefined : compile(def.element);
  if (element === undefined) return undefined;
  const tests: DataCheck[] = [];
  for (const check of def.checks ?? []) {
    const t = lengthTest(check._zod.def);
    if (t === undefined) return undefined;
    tests.push(t);
  }
  return all((v) => {
    if (!Array.isArray(v)) return false;
    for (let i = 0; i < v.length; i++) if (!element(v[i])) return false;
    return true;
  }, tests);
}

function compileObject(def: ZodDef): DataCheck | undefined {
  if (!none(def) || def.shape === undefined) return undefined;
  // Unknown keys: zod strips them by default (its output then differs from the input, so ask zod),
  // refuses them for a strict object (ask zod for the error), keeps them for a loose one.
  const catchall = def.catchall?._zod.def.type;
  if (catchall !== undefined && catchall !== "never" && catchall !== "unknown") return undefined;
  const keepUnknown = catchall === "unknown";
  const keys = Object.keys(def.shape);
  const fields: DataCheck[] = [];
  for (const key of keys) {
    const field = compile(def.shape[key]!);
    if (field === undefined) return undefined;
    fields.push(field);
  }
  const known = new Set(keys);
  return (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
    const o = v as Record<string, unknown>;
    for (let i = 0; i < keys.length; i++) if (!fields[i]!(o[keys[i]!])) return false;
    if (!keepUnknown) for (const key in o) if (!known.has(key)) return false;
    return true;
  };
}

/**
 * A fast pre-check of event data, compiled once per registered schema from the zod schema's definition.
 *
 * zod validates a delivered event's data in a few microseconds, and in a consumer that runs between
 * socket reads its deep, generic call paths (a payload object and an issues array per field, checks run
 * through closures) cost several times what they cost in a tight loop. For the schemas events are
 * usually made of (objects of strings, numbers, booleans, enums, literals, arrays, optional and nullable
 * fields, with length, range, integer and pattern checks) this module builds a plain predicate instead.
 *
 * The predicate is generated as source, one straight-line function per schema (as Ajv does for JSON
 * Schema): every field is read by its literal name and tested inline. A generic walker over the schema
 * would read fields by computed keys and call a closure per check, and those sites, shared by every field,
 * stay slow in V8 (megamorphic); the generated function's each see one shape. Nothing from the schema
 * becomes code but the field names, as JSON string literals; patterns, bounds and value sets are passed
 * in as constants.
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
  const cached = compiled.get(schema);
  if (cached !== undefined) return cached ?? undefined;
  const check = compile(schema);
  compiled.set(schema, check ?? null);
  return check;
}

/**
 * Checks by schema (zod schemas are immutable): every registry registering a definition shares its one
 * function, which V8 then optimizes once, not once per registry (a service, or a test, makes many).
 */
const compiled = new WeakMap<z.ZodType, DataCheck | null>();

function compile(schema: z.ZodType): DataCheck | undefined {
  const emitter = new Emitter();
  const code = emitter.emit(schema as unknown as ZodInternals, "v");
  if (code === undefined) return undefined;
  // The generated source reads its constants from `c` (see `Emitter.constant`).
  let build: (constants: unknown[]) => DataCheck;
  try {
    build = new Function("c", `return function check(v) {\n${code}\nreturn true;\n};`) as typeof build;
  } catch {
    // A runtime that forbids code from strings (--disallow-code-generation-from-strings, a CSP): zod alone.
    return undefined;
  }
  return build(emitter.constants);
}

/**
 * Writes the statements that check one value, held in a variable, and `return false` at the first
 * failure. Each method returns undefined when the schema is outside the subset.
 */
class Emitter {
  readonly constants: unknown[] = [];
  #names = 0;

  /** A constant the generated code reads, as an expression. */
  constant(value: unknown): string {
    this.constants.push(value);
    return `c[${this.constants.length - 1}]`;
  }

  /** A fresh variable name. */
  name(): string {
    return `v${++this.#names}`;
  }

  emit(schema: ZodInternals, v: string): string | undefined {
    const def = schema._zod.def;
    if (def.coerce === true) return undefined;
    // A schema that is itself a check (`z.iso.datetime()`, `z.int()`): only strings and numbers know theirs.
    if (def.check !== undefined && def.type !== "string" && def.type !== "number") return undefined;
    switch (def.type) {
      case "string":
        return this.#string(def, v);
      case "number":
        return this.#number(def, v);
      case "boolean":
        return none(def) ? `if (typeof ${v} !== "boolean") return false;` : undefined;
      case "enum":
      case "literal": {
        const values = schema._zod.values;
        if (!none(def) || !(values instanceof Set)) return undefined;
        return `if (!${this.constant(values)}.has(${v})) return false;`;
      }
      case "optional": {
        if (!none(def) || def.innerType === undefined || def.innerType._zod.optin === "defaulted")
          return undefined;
        const inner = this.emit(def.innerType, v);
        return inner && `if (${v} !== undefined) {\n${inner}\n}`;
      }
      case "nullable": {
        const inner = none(def) && def.innerType !== undefined ? this.emit(def.innerType, v) : undefined;
        return inner && `if (${v} !== null) {\n${inner}\n}`;
      }
      case "array":
        return this.#array(def, v);
      case "object":
        return this.#object(def, v);
      default:
        return undefined;
    }
  }

  #pattern(pattern: RegExp, v: string): string {
    const p = this.constant(pattern);
    // lastIndex reset as zod does, for patterns with the g or y flag
    return `${p}.lastIndex = 0;\nif (!${p}.test(${v})) return false;`;
  }

  /** The length checks strings and arrays share; undefined for any other check. */
  #length(c: ZodDef, v: string): string | undefined {
    switch (c.check) {
      case "min_length":
        return `if (${v}.length < ${this.constant(c.minimum)}) return false;`;
      case "max_length":
        return `if (${v}.length > ${this.constant(c.maximum)}) return false;`;
      case "length_equals":
        return `if (${v}.length !== ${this.constant(c.length)}) return false;`;
      default:
        return undefined;
    }
  }

  #string(def: ZodDef, v: string): string | undefined {
    const lines = [`if (typeof ${v} !== "string") return false;`];
    // A format schema (`z.iso.datetime()`, `z.email()`) is its own first check.
    if (def.check !== undefined) {
      if (def.check !== "string_format" || !PATTERN_FORMATS.has(def.format ?? "")) return undefined;
      if (!(def.pattern instanceof RegExp)) return undefined;
      lines.push(this.#pattern(def.pattern, v));
    }
    for (const check of def.checks ?? []) {
      const c = check._zod.def;
      if (c.check === "string_format") {
        if (!PATTERN_FORMATS.has(c.format ?? "") || !(c.pattern instanceof RegExp)) return undefined;
        lines.push(this.#pattern(c.pattern, v));
        continue;
      }
      const line = this.#length(c, v);
      if (line === undefined) return undefined;
      lines.push(line);
    }
    return lines.join("\n");
  }

  #number(def: ZodDef, v: string): string | undefined {
    const lines = [`if (typeof ${v} !== "number" || !Number.isFinite(${v})) return false;`];
    // A number format schema (`z.int()`) is its own first check.
    const own: ZodDef[] = def.check === undefined ? [] : [def];
    for (const c of [...own, ...(def.checks ?? []).map((check) => check._zod.def)]) {
      switch (c.check) {
        case "greater_than":
          lines.push(`if (!(${v} ${c.inclusive ? ">=" : ">"} ${this.constant(c.value)})) return false;`);
          break;
        case "less_than":
          lines.push(`if (!(${v} ${c.inclusive ? "<=" : "<"} ${this.constant(c.value)})) return false;`);
          break;
        case "number_format": {
          const range = NUMBER_FORMATS[c.format ?? "float64"];
          if (range === undefined) return undefined;
          const [min, max, integer] = range;
          const bounds = `${v} < ${this.constant(min)} || ${v} > ${this.constant(max)}`;
          lines.push(`if (${integer ? `!Number.isSafeInteger(${v}) || ` : ""}${bounds}) return false;`);
          break;
        }
        default:
          return undefined;
      }
    }
    return lines.join("\n");
  }

  #array(def: ZodDef, v: string): string | undefined {
    if (def.element === undefined) return undefined;
    const lines = [`if (!Array.isArray(${v})) return false;`];
    for (const check of def.checks ?? []) {
      const line = this.#length(check._zod.def, v);
      if (line === undefined) return undefined;
      lines.push(line);
    }
    const i = this.name();
    const e = this.name();
    const element = this.emit(def.element, e);
    if (element === undefined) return undefined;
    lines.push(`for (let ${i} = 0; ${i} < ${v}.length; ${i}++) {\nconst ${e} = ${v}[${i}];\n${element}\n}`);
    return lines.join("\n");
  }

  #object(def: ZodDef, v: string): string | undefined {
    if (!none(def) || def.shape === undefined) return undefined;
    // Unknown keys: zod strips them by default (its output then differs from the input, so ask zod),
    // refuses them for a strict object (ask zod for the error), keeps them for a loose one.
    const catchall = def.catchall?._zod.def.type;
    if (catchall !== undefined && catchall !== "never" && catchall !== "unknown") return undefined;
    const lines = [`if (typeof ${v} !== "object" || ${v} === null || Array.isArray(${v})) return false;`];
    const keys = Object.keys(def.shape);
    for (const key of keys) {
      const f = this.name();
      const field = this.emit(def.shape[key]!, f);
      if (field === undefined) return undefined;
      lines.push(`{\nconst ${f} = ${v}[${JSON.stringify(key)}];\n${field}\n}`);
    }
    if (catchall !== "unknown") {
      const k = this.name();
      // A known key is a string of the schema's: a switch on the literals, no lookup.
      const known = keys.map((key) => `case ${JSON.stringify(key)}: break;`).join("\n");
      lines.push(`for (const ${k} in ${v}) {\nswitch (${k}) {\n${known}\ndefault: return false;\n}\n}`);
    }
    return lines.join("\n");
  }
}

/** Whether the schema carries no checks (refinements and the like live there). */
function none(def: ZodDef): boolean {
  return def.checks === undefined || def.checks.length === 0;
}

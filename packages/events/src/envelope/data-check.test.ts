import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { createEvent } from "./cloud-event.js";
import { compileDataCheck } from "./data-check.js";
import { createEventRegistry, defineEvent } from "./registry.js";

/** Schemas inside the compiled subset, each with a value zod accepts unchanged. */
const supported: Record<string, { schema: z.ZodType; valid: unknown[] }> = {
  booking: {
    schema: z.object({
      bookingId: z.string().min(1),
      startsAt: z.iso.datetime(),
      price: z.object({ amount: z.number().int().nonnegative(), currency: z.string().length(3) }),
      channel: z.enum(["web", "mobile", "phone"]),
    }),
    valid: [
      {
        bookingId: "bk_1",
        startsAt: "2025-06-02T09:00:00Z",
        price: { amount: 0, currency: "EUR" },
        channel: "web",
      },
      {
        channel: "phone",
        price: { currency: "USD", amount: 4_500 },
        startsAt: "2024-02-29T23:59:59.123Z",
        bookingId: "x",
      },
    ],
  },
  fields: {
    schema: z.object({
      note: z.string().max(5).optional(),
      tags: z
        .array(z.string().regex(/^[a-z]+$/))
        .min(1)
        .max(3),
      score: z.number().gt(-1).lte(10),
      ratio: z.number(),
      small: z.int32(),
      count: z.number().int().gte(0),
      flag: z.boolean(),
      kind: z.literal("slot"),
      parent: z.string().uuid().nullable(),
      day: z.iso.date(),
      mail: z.email(),
      upper: z.string().uppercase(),
    }),
    valid: [
      {
        tags: ["a"],
        score: 10,
        ratio: -3.5,
        small: -5,
        count: 0,
        flag: false,
        kind: "slot",
        parent: null,
        day: "2025-01-31",
        mail: "a@b.co",
        upper: "AB",
      },
      {
        note: "hello",
        tags: ["a", "bc", "z"],
        score: -0.5,
        ratio: 1e300,
        small: 2147483647,
        count: 9_007_199_254_740_991,
        flag: true,
        kind: "slot",
        parent: "1f0e8c9a-2b3c-4d5e-8f60-718293a4b5c6",
        day: "2024-02-29",
        mail: "first.last@example.org",
        upper: "X Y",
      },
    ],
  },
  strict: { schema: z.strictObject({ a: z.string() }), valid: [{ a: "" }] },
  empty: { schema: z.object({}), valid: [{}] },
  // field names are written into the generated check as string literals
  names: {
    schema: z.object({ 'a "quoted"\\ key': z.string(), __proto__x: z.number(), "": z.boolean() }),
    valid: [{ 'a "quoted"\\ key': "x", __proto__x: 1, "": true }],
  },
  loose: { schema: z.looseObject({ a: z.string() }), valid: [{ a: "", extra: { any: [1] } }] },
};

const probes: unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  -0.5,
  10.000001,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 53,
  2 ** 31,
  -(2 ** 31) - 1,
  "",
  "x",
  "ab",
  "abcdef",
  "EUR",
  "eur",
  "AB c",
  "web",
  "WEB",
  "slot",
  "2025-06-02T09:00:00Z",
  "2025-06-02T09:00:00+02:00",
  "2025-13-02T09:00:00Z",
  "2023-02-29",
  "2025-01-31",
  "not-a-uuid",
  "1f0e8c9a-2b3c-4d5e-8f60-718293a4b5c6",
  "a@b",
  true,
  false,
  [],
  ["a"],
  ["A"],
  ["a", "b", "c", "d"],
  {},
  { amount: 1, currency: "EUR" },
];

/** Every value made from `valid` by changing one field (at any depth) to a probe, removing it, or adding one. */
function* mutations(valid: unknown): Generator<unknown> {
  yield* probes;
  if (typeof valid !== "object" || valid === null) return;
  if (Array.isArray(valid)) {
    for (let i = 0; i < valid.length; i++) {
      for (const m of mutations(valid[i])) yield valid.map((v, j) => (j === i ? m : v));
    }
    yield [...valid, "extra"];
    return;
  }
  const obj = valid as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    for (const m of mutations(obj[key])) yield { ...obj, [key]: m };
    const { [key]: _, ...without } = obj;
    yield without;
  }
  yield { ...obj, unexpected: "x" };
  yield { ...obj, note: "ok" };
}

describe("compileDataCheck", () => {
  for (const [name, { schema, valid }] of Object.entries(supported)) {
    it(`${name}: true exactly where zod accepts the value and returns it unchanged`, () => {
      const check = compileDataCheck(schema);
      expect(check).toBeTypeOf("function");
      let refused = 0;
      let total = 0;
      for (const v of valid) {
        expect(check!(v)).toBe(true);
        for (const m of mutations(v)) {
          total++;
          const zod = schema.safeParse(m);
          let unchanged = false;
          try {
            expect(zod.data).toStrictEqual(m);
            unchanged = zod.success;
          } catch {
            // zod refused the value, or changed it (stripped a key)
          }
          // Exactly zod's verdict: true iff zod accepts the value and gives it back unchanged.
          expect(check!(m), JSON.stringify(m)).toBe(unchanged);
          if (!zod.success) refused++;
        }
      }
      expect(total).toBeGreaterThan(probes.length);
      expect(refused).toBeGreaterThan(10);
    });
  }

  it("compiles a schema once, however many registries register it", () => {
    const schema = z.object({ a: z.string() });
    expect(compileDataCheck(schema)).toBe(compileDataCheck(schema));
    expect(compileDataCheck(z.object({ a: z.string() }))).not.toBe(compileDataCheck(schema));
    const outside = z.string().transform((s) => s.length);
    expect(compileDataCheck(outside)).toBeUndefined();
    expect(compileDataCheck(outside)).toBeUndefined();
  });

  it("leaves every value to zod where the runtime forbids code from strings", () => {
    vi.stubGlobal(
      "Function",
      class {
        constructor() {
          throw new EvalError("Code generation from strings disallowed for this context");
        }
      },
    );
    try {
      expect(compileDataCheck(z.object({ a: z.string() }))).toBeUndefined();
    } finally {
      vi.unstubAllGlobals();
    }
    expect(compileDataCheck(z.object({ a: z.string() }))).toBeTypeOf("function");
  });

  it("leaves to zod what it cannot decide exactly", () => {
    const outside: z.ZodType[] = [
      z.string().transform((s) => s.length),
      z.string().trim(),
      z.string().refine((s) => s !== "x"),
      z.string().default("x"),
      z.coerce.number(),
      z.union([z.string(), z.number()]),
      z.record(z.string(), z.number()),
      z.url(),
      z.string().includes("a"),
      z.number().multipleOf(5),
      z.object({ a: z.string() }).refine(() => true),
      z.object({ a: z.string() }).catchall(z.number()),
      z.object({ a: z.string().optional().default("x") }),
      z.date(),
      z.any(),
    ];
    for (const schema of outside) expect(compileDataCheck(schema)).toBeUndefined();
  });
});

describe("registry with compiled checks", () => {
  const Booked = defineEvent({
    type: "booking.slot.booked.v1",
    schema: z.object({ slotId: z.string().min(1), seats: z.number().int().positive() }),
  });
  const registry = createEventRegistry().register(Booked);
  const wire = (data: unknown) =>
    ({ ...createEvent({ type: Booked.type, source: "t", subject: "s", data: {} }), data }) as ReturnType<
      typeof createEvent
    >;

  it("hands valid data on as it is", () => {
    const data = { slotId: "a", seats: 2 };
    expect(registry.parseData(wire(data))).toBe(data);
  });

  it("still strips unknown keys and names the failing field, as zod does", () => {
    expect(registry.parseData(wire({ slotId: "a", seats: 2, extra: true }))).toStrictEqual({
      slotId: "a",
      seats: 2,
    });
    expect(() => registry.parseData(wire({ slotId: "a", seats: 0 }))).toThrow(
      expect.objectContaining({ code: "SCHEMA_VIOLATION" }),
    );
  });
});

import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { runWithEventContext } from "../context/index.js";
import { type EnvelopeError, isSlotwiseError } from "../errors/index.js";
import {
  createEvent,
  isReservedAttribute,
  isRfc3339,
  RESERVED_ATTRIBUTES,
  toWireObject,
} from "./cloud-event.js";
import { decodeEvent, encodeEvent } from "./codec.js";
import { parseSubject, streamNameFor, subjectFor } from "./naming.js";
import { createEventRegistry, defineEvent } from "./registry.js";

const valid = {
  type: "booking.appointment.confirmed.v1",
  source: "booking-service",
  subject: "bk-1",
  data: { bookingId: "bk-1" },
};

function refusal(fn: () => unknown): EnvelopeError {
  try {
    fn();
  } catch (err) {
    expect(isSlotwiseError(err)).toBe(true);
    return err as EnvelopeError;
  }
  throw new Error("expected a refusal");
}

describe("creating an event", () => {
  it("fills every required attribute and the SlotWise extensions", () => {
    const e = createEvent(valid);
    expect(e.specversion).toBe("1.0");
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.datacontenttype).toBe("application/json");
    expect(e.version).toBe("1.0");
    expect(e.correlationid).toBe(e.id);
    expect(e.causationid).toBeUndefined();
    expect(new Date(e.time).toISOString()).toBe(e.time);
  });

  it.each([
    ["source", { source: undefined }],
    ["subject", { subject: "" }],
    ["type", { type: undefined }],
  ])("refuses a missing %s and names it", (attribute, patch) => {
    const err = refusal(() => createEvent({ ...valid, ...patch } as typeof valid));
    expect(err.code).toBe("INVALID_ENVELOPE");
    expect(err.attribute).toBe(attribute);
  });

  it("refuses missing data", () => {
    const { data: _data, ...rest } = valid;
    const err = refusal(() => createEvent(rest as typeof valid));
    expect(err.attribute).toBe("data");
  });

  it.each([
    ["booking.created.v1", "no entity (the seed's own sample)"],
    ["Booking.Appointment.Confirmed.v1", "upper case"],
    ["booking.appointment.confirmed", "no version"],
    ["booking.appointment.confirmed.V1", "upper-case version"],
    ["booking.appointment.confirmed.v0", "version zero"],
    ["booking..confirmed.v1", "empty word"],
  ])("refuses the type %s (%s) with INVALID_EVENT_TYPE naming 'type'", (type) => {
    const err = refusal(() => createEvent({ ...valid, type }));
    expect(err.code).toBe("INVALID_EVENT_TYPE");
    expect(err.attribute).toBe("type");
  });

  it.each(["trace.id", "Upper", "with-dash", "waytoolongforanattributename", ""])(
    "refuses the metadata key %j and names it",
    (key) => {
      const err = refusal(() => createEvent({ ...valid, metadata: { [key]: "x" } }));
      expect(err.code).toBe("INVALID_ENVELOPE");
      expect(err.attribute).toBe(`metadata.${key}`);
    },
  );

  it("refuses a metadata key that shadows a CloudEvents attribute", () => {
    expect(refusal(() => createEvent({ ...valid, metadata: { subject: "x" } })).attribute).toBe(
      "metadata.subject",
    );
  });

  it("refuses a schema version whose major differs from the type's", () => {
    const err = refusal(() => createEvent({ ...valid, version: "2.0" }));
    expect(err.attribute).toBe("version");
    expect(refusal(() => createEvent({ ...valid, version: "1" })).attribute).toBe("version");
  });

  it("refuses a time that is not RFC 3339", () => {
    expect(refusal(() => createEvent({ ...valid, time: "yesterday" })).attribute).toBe("time");
  });

  it("inherits correlation and causation inside a handler's context", () => {
    const cause = createEvent(valid);
    const effect = runWithEventContext({ eventId: cause.id, correlationId: "corr-1" }, () =>
      createEvent({ ...valid, subject: "bk-2" }),
    );
    expect(effect.correlationid).toBe("corr-1");
    expect(effect.causationid).toBe(cause.id);
  });
});

describe("RFC 3339 times", () => {
  // The grammar as a regular expression: the specification `isRfc3339` is held to.
  const RFC3339 =
    /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
  const seeds = [
    "2026-12-02T17:43:28Z",
    "2026-12-02T17:43:28.123Z",
    "1999-01-31t23:59:60.5z",
    "2026-12-02T17:43:28+01:00",
    "2026-12-02T17:43:28.000001-23:59",
    "0000-10-10T00:00:00Z",
  ];
  // Every char replaced by each of these, deleted, or doubled; and every prefix.
  const alphabet = "0123456789:-+.TtZz x\u0660\u00b2";

  it("accepts exactly what the grammar accepts, near every boundary", () => {
    const cases = new Set<string>(seeds);
    for (const seed of seeds) {
      for (let i = 0; i <= seed.length; i++) {
        cases.add(seed.slice(0, i));
        cases.add(seed.slice(0, i) + seed.slice(i + 1));
        cases.add(seed.slice(0, i) + seed.charAt(i) + seed.slice(i));
        for (const c of alphabet) cases.add(seed.slice(0, i) + c + seed.slice(i + 1));
      }
    }
    for (const month of ["00", "01", "09", "10", "12", "13", "19", "20"])
      for (const day of ["00", "01", "09", "19", "29", "30", "31", "32", "40"])
        cases.add(`2026-${month}-${day}T00:00:00Z`);
    for (const hm of ["00", "09", "19", "20", "23", "24", "29", "59", "60", "61", "99"]) {
      cases.add(`2026-01-01T${hm}:${hm}:${hm}Z`);
      cases.add(`2026-01-01T00:00:00+${hm}:${hm}`);
    }
    const disagreements = [...cases].filter((s) => isRfc3339(s) !== RFC3339.test(s));
    expect(disagreements).toEqual([]);
    expect(cases.size).toBeGreaterThan(2_000);
    expect([...cases].filter((s) => isRfc3339(s)).length).toBeGreaterThan(100);
  });
});

describe("the wire format", () => {
  it("puts metadata entries as top-level extension attributes and reads them back", () => {
    const e = createEvent({
      ...valid,
      metadata: { tenant: "t1", region: "eu" },
      traceparent: "00-abc-def-01",
    });
    const wire = toWireObject(e);
    expect(wire.tenant).toBe("t1");
    expect(wire.metadata).toBeUndefined();
    const back = decodeEvent(encodeEvent(e));
    expect(back).toEqual(e);
  });

  it.each([
    ["not JSON", "{nope", "NOT_JSON"],
    ["JSON that is not an object", "[1,2]", "NOT_AN_OBJECT"],
    [
      "wrong specversion",
      JSON.stringify({ ...toWireObject(createEvent(valid)), specversion: "0.3" }),
      "UNSUPPORTED_SPECVERSION",
    ],
    [
      "a bad type",
      JSON.stringify({ ...toWireObject(createEvent(valid)), type: "booking.created.v1" }),
      "INVALID_EVENT_TYPE",
    ],
    ["10,000-deep nesting", `${"[".repeat(10_000)}${"]".repeat(10_000)}`, "TOO_DEEP"],
  ])("refuses %s with a typed error", (_name, text, code) => {
    const err = refusal(() => decodeEvent(new TextEncoder().encode(text)));
    expect(err.code).toBe(code);
  });

  it.each([
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "data",
    "correlationid",
    "version",
    "specversion",
  ])("refuses a decoded event without %s, naming it", (attribute) => {
    const wire = toWireObject(createEvent(valid));
    delete wire[attribute];
    const err = refusal(() => decodeEvent(new TextEncoder().encode(JSON.stringify(wire))));
    expect(err.attribute).toBe(attribute);
  });

  it.each([
    ["id", 5, "attribute 'id' must be a string"],
    ["subject", null, "attribute 'subject' is required"],
    ["version", "", "attribute 'version' is required"],
    ["causationid", "", "attribute 'causationid' must be a non-empty string"],
    ["traceparent", 3, "attribute 'traceparent' must be a non-empty string"],
    ["tenant", 7, 'extension attribute "tenant" must be a string named [a-z0-9]{1,20}'],
    ["Bad-Key", "x", 'extension attribute "Bad-Key" must be a string named [a-z0-9]{1,20}'],
  ])("refuses %s = %j, naming it and what is wrong", (attribute, value, message) => {
    const wire = { ...toWireObject(createEvent(valid)), [attribute]: value };
    const err = refusal(() => decodeEvent(new TextEncoder().encode(JSON.stringify(wire))));
    expect(err.attribute).toBe(attribute);
    expect(err.message).toBe(message);
  });

  it("skips reserved attributes it does not keep, and gathers every other one into metadata", () => {
    const wire = { ...toWireObject(createEvent(valid)), dataschema: "s", metadata: "m", region: "eu" };
    const back = decodeEvent(new TextEncoder().encode(JSON.stringify(wire)));
    expect(back.metadata).toEqual({ region: "eu" });
    expect(back).not.toHaveProperty("dataschema");
  });

  it("knows the reserved attribute names in one list", () => {
    for (const name of RESERVED_ATTRIBUTES) expect(isReservedAttribute(name), name).toBe(true);
    for (const name of ["tenant", "ID", "data_", "metadatas", ""])
      expect(isReservedAttribute(name)).toBe(false);
  });

  it("refuses invalid UTF-8 and oversized messages", () => {
    expect(refusal(() => decodeEvent(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))).code).toBe(
      "INVALID_ENCODING",
    );
    const big = encodeEvent(createEvent({ ...valid, data: { blob: "x".repeat(2000) } }));
    expect(refusal(() => decodeEvent(big, { maxBytes: 1000 })).code).toBe("MESSAGE_TOO_LARGE");
  });

  it("counts depth outside strings only", () => {
    const e = createEvent({ ...valid, data: { text: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["' } });
    expect(decodeEvent(encodeEvent(e), { maxDepth: 4 }).data).toEqual(e.data);
  });
});

describe("subjects and streams", () => {
  it("builds {env}.{type} and parses it back", () => {
    expect(subjectFor("prod", "booking.appointment.confirmed.v1")).toBe(
      "prod.booking.appointment.confirmed.v1",
    );
    expect(parseSubject("prod.booking.appointment.confirmed.v1")).toMatchObject({
      env: "prod",
      domain: "booking",
    });
    expect(refusal(() => parseSubject("qa.booking.appointment.confirmed.v1")).code).toBe("INVALID_SUBJECT");
    expect(streamNameFor("prod", "booking")).toBe("PROD_BOOKING");
  });
});

describe("the registry", () => {
  const Confirmed = defineEvent({
    type: "booking.appointment.confirmed.v1",
    version: "1.1",
    schema: z.object({ bookingId: z.string(), amount: z.number().int() }),
  });
  const registry = createEventRegistry().register(Confirmed);

  it("creates typed events through a definition, checking the data", () => {
    const e = Confirmed.create({
      source: "booking-service",
      subject: "bk-1",
      data: { bookingId: "bk-1", amount: 10 },
    });
    expect(e.version).toBe("1.1");
    expect(registry.validate(e).data).toEqual({ bookingId: "bk-1", amount: 10 });
    const err = refusal(() =>
      Confirmed.create({ source: "s", subject: "bk-1", data: { bookingId: "bk-1", amount: 1.5 } }),
    );
    expect(err.code).toBe("SCHEMA_VIOLATION");
    expect(err.attribute).toBe("data.amount");
  });

  it("does not parse again the data of an event its own definition created", () => {
    const e = Confirmed.create({ source: "s", subject: "bk-1", data: { bookingId: "bk-1", amount: 10 } });
    const parse = vi.spyOn(Confirmed.schema, "safeParse");
    try {
      expect(registry.validate(e)).toBe(e);
      expect(parse).not.toHaveBeenCalled();
      // the same attributes in an event of other making are checked (zod itself names what fails)
      expect(registry.validate({ ...e })).toStrictEqual(e);
      expect(() => registry.validate({ ...e, data: { ...e.data, amount: 1.5 } })).toThrow(
        expect.objectContaining({ code: "SCHEMA_VIOLATION", attribute: "data.amount" }),
      );
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
  });

  it("names unknown types, unknown versions and failing fields", () => {
    const unknownType = createEvent({ ...valid, type: "booking.appointment.moved.v1" });
    expect(refusal(() => registry.validate(unknownType)).code).toBe("UNKNOWN_EVENT_TYPE");
    const unknownVersion = createEvent({ ...valid, version: "1.7", data: { bookingId: "b", amount: 1 } });
    expect(refusal(() => registry.validate(unknownVersion)).code).toBe("UNKNOWN_EVENT_VERSION");
    const bad = createEvent({ ...valid, version: "1.1", data: { bookingId: 7, amount: 1 } });
    const err = refusal(() => registry.validate(bad));
    expect(err.code).toBe("SCHEMA_VIOLATION");
    expect(err.attribute).toBe("data.bookingId");
  });

  it("reads a newer minor with the newest known schema when told to", () => {
    const tolerant = createEventRegistry({ acceptNewerMinor: true }).register(Confirmed);
    const newer = createEvent({ ...valid, version: "1.4", data: { bookingId: "b", amount: 1, extra: true } });
    expect(tolerant.validate(newer).data).toEqual({ bookingId: "b", amount: 1 });
  });
});

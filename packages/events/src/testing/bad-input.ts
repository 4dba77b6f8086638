/**
 * The bad-input matrix: every kind of message a consumer can never handle, each published RAW to the subject a
 * handler consumes, between valid events. Each must land in the DLQ at once (never retried) with the error
 * code of its kind, the valid events around it must all be handled, and the consumer must keep going.
 * Written once over a `Transport`; each transport's test file wires a factory.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import { createEventBus } from "../bus/index.js";
import { ADVISORY_STREAM, createDeadLetterQueue, sweeperDurableFor } from "../dlq/index.js";
import { createEventRegistry, defineEvent } from "../envelope/index.js";
import type { TransportConformanceFactory } from "./transport-conformance.js";
import { uniqueId, waitFor } from "./wait.js";

const WAIT_MS = 20_000;
/** The bus's decode limit in the matrix: below the server's 1 MB max payload, so an oversized event arrives. */
export const BAD_INPUT_MAX_BYTES = 64 * 1024;

export const BadInputCreated = defineEvent({
  type: "booking.appointment.created.v1",
  schema: z.object({ bookingId: z.string(), seq: z.number().int() }),
});

/** Registered too, so an event of this type on `BadInputCreated`'s subject is known but on the wrong subject. */
export const BadInputCancelled = defineEvent({
  type: "booking.appointment.cancelled.v1",
  schema: BadInputCreated.schema,
});

export interface BadInputCase {
  name: string;
  /** The failure kind: cases of one kind share a code, different kinds never do. */
  kind: string;
  bytes: Uint8Array;
  code: string;
  /** The attribute the dead letter must name. */
  attribute?: string;
}

const encoder = new TextEncoder();
const REQUIRED = [
  "id",
  "source",
  "specversion",
  "type",
  "subject",
  "time",
  "datacontenttype",
  "data",
  "correlationid",
  "version",
] as const;

/** A valid wire object of `BadInputCreated`, to break one attribute at a time. */
function wire(subject: string): Record<string, unknown> {
  const id = randomUUID();
  return {
    id,
    source: "bad-input",
    specversion: "1.0",
    type: BadInputCreated.type,
    subject,
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data: { bookingId: subject, seq: -1 },
    correlationid: id,
    version: "1.0",
  };
}

const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

export function badInputCases(): BadInputCase[] {
  const cases: BadInputCase[] = [
    {
      name: "not JSON",
      kind: "not-json",
      bytes: encoder.encode("{nope: this is not JSON"),
      code: "NOT_JSON",
    },
    { name: "JSON that is not an object", kind: "not-object", bytes: json([1, 2, 3]), code: "NOT_AN_OBJECT" },
  ];
  for (const attribute of REQUIRED) {
    const obj = wire(`missing-${attribute}`);
    delete obj[attribute];
    cases.push({
      name: `required attribute '${attribute}' missing`,
      kind: "missing-attribute",
      bytes: json(obj),
      code: "INVALID_ENVELOPE",
      attribute,
    });
  }
  cases.push(
    {
      name: "wrong specversion",
      kind: "specversion",
      bytes: json({ ...wire("specversion"), specversion: "0.3" }),
      code: "UNSUPPORTED_SPECVERSION",
      attribute: "specversion",
    },
    {
      name: "invalid type name",
      kind: "type-name",
      bytes: json({ ...wire("type-name"), type: "Booking.Created" }),
      code: "INVALID_EVENT_TYPE",
      attribute: "type",
    },
    {
      name: "unknown type",
      kind: "unknown-type",
      bytes: json({ ...wire("unknown-type"), type: "booking.appointment.teleported.v1" }),
      code: "UNKNOWN_EVENT_TYPE",
      attribute: "type",
    },
    {
      name: "a known type on another type's subject",
      kind: "subject-mismatch",
      bytes: json({ ...wire("subject-mismatch"), type: BadInputCancelled.type }),
      code: "INVALID_SUBJECT",
      attribute: "type",
    },
    {
      name: "unknown version",
      kind: "unknown-version",
      bytes: json({ ...wire("unknown-version"), version: "1.7" }),
      code: "UNKNOWN_EVENT_VERSION",
    },
    {
      name: "data failing its schema",
      kind: "schema",
      bytes: json({ ...wire("schema"), data: { bookingId: 42, seq: "one" } }),
      code: "SCHEMA_VIOLATION",
      attribute: "data.bookingId",
    },
    {
      name: "over the configured size limit",
      kind: "size",
      bytes: json({ ...wire("size"), data: { bookingId: "x".repeat(BAD_INPUT_MAX_BYTES), seq: 1 } }),
      code: "MESSAGE_TOO_LARGE",
    },
  );
  // Invalid UTF-8: a lone continuation byte and a truncated sequence inside a string value.
  const text = JSON.stringify(wire("utf8")).replace('"utf8"', '"utf8-@@"');
  const at = text.indexOf("@@");
  const bytes = new Uint8Array([
    ...encoder.encode(text.slice(0, at)),
    0x80,
    0xc3,
    ...encoder.encode(text.slice(at + 2)),
  ]);
  cases.push({ name: "invalid UTF-8", kind: "utf8", bytes, code: "INVALID_ENCODING" });
  const deep = JSON.stringify({ ...wire("deep"), data: "@@" }).replace(
    '"@@"',
    `${"[".repeat(10_000)}${"]".repeat(10_000)}`,
  );
  cases.push({ name: "10,000-deep nesting", kind: "depth", bytes: encoder.encode(deep), code: "TOO_DEEP" });
  return cases;
}

export function runBadInputMatrix(name: string, factory: TransportConformanceFactory): void {
  describe(`bad-input matrix: ${name}`, () => {
    afterAll(() => factory.cleanup?.());
    it("dead-letters each bad message at once with the code of its kind, and handles every valid event around it", async () => {
      const env = `m${uniqueId(8)}`;
      const transport = await factory.connect();
      let retries = 0;
      const handled = new Set<number>();
      const bus = createEventBus({
        transport,
        service: "booking-service",
        env,
        registry: createEventRegistry().register(BadInputCreated, BadInputCancelled),
        decode: { maxBytes: BAD_INPUT_MAX_BYTES },
        retry: { attempts: 3, baseMs: 10, capMs: 50 },
        observer: { retried: () => void retries++ },
      });
      bus.handle({
        name: "matrix",
        types: [BadInputCreated],
        handler: (e) => void handled.add((e.data as { seq: number }).seq),
      });
      onTestFinished(async () => {
        await bus.close().catch(() => {});
        const admin = await factory.connect();
        const E = env.toUpperCase();
        await admin.deleteStream(`${E}_BOOKING`).catch(() => {});
        await admin.deleteStream(`${E}_DLQ`).catch(() => {});
        await admin.deleteConsumer(ADVISORY_STREAM, sweeperDurableFor(`${E}_BOOKING`)).catch(() => {});
        await admin.close();
      });
      await bus.start();

      const subject = `${env}.${BadInputCreated.type}`;
      const cases = badInputCases();
      const bySeq = new Map<number, BadInputCase>();
      let valid = 0;
      const publishValid = () =>
        bus.publish(
          BadInputCreated.create({
            source: "web",
            subject: `ok-${valid}`,
            data: { bookingId: `ok-${valid}`, seq: valid++ },
          }),
        );
      for (const c of cases) {
        await publishValid();
        const ack = await transport.publish({
          subject,
          data: c.bytes,
          msgId: `bad-${env}-${c.kind}-${c.name}`,
        });
        expect(ack.duplicate).toBe(false);
        bySeq.set(ack.seq, c);
      }
      await publishValid();

      const dlq = createDeadLetterQueue({ transport, env });
      const letters = await waitFor(
        async () => {
          const l = await dlq.list({ limit: 1000 });
          return l.length >= cases.length && handled.size === valid ? l : undefined;
        },
        { timeoutMs: WAIT_MS, message: "every bad message dead-lettered and every valid event handled" },
      );
      expect(letters).toHaveLength(cases.length);
      for (const dl of letters) {
        const c = bySeq.get(dl.streamSequence);
        expect(c, `dead letter of stream seq ${dl.streamSequence}`).toBeDefined();
        if (c === undefined) continue;
        expect({ case: c.name, code: dl.code }).toEqual({ case: c.name, code: c.code });
        expect({ case: c.name, deliveries: dl.deliveries }).toEqual({ case: c.name, deliveries: 1 });
        if (c.attribute !== undefined) {
          expect({ case: c.name, attribute: dl.attribute }).toEqual({ case: c.name, attribute: c.attribute });
          if (c.kind === "missing-attribute") expect(dl.message).toContain(`'${c.attribute}'`);
        }
        expect(dl.originalSubject).toBe(subject);
        expect(Buffer.compare(Buffer.from(dl.data), Buffer.from(c.bytes)), c.name).toBe(0);
        bySeq.delete(dl.streamSequence);
      }
      expect([...bySeq.values()].map((c) => c.name)).toEqual([]);
      // One code per kind of failure, never shared between kinds.
      const codeOfKind = new Map(cases.map((c) => [c.kind, c.code]));
      expect(new Set(codeOfKind.values()).size).toBe(codeOfKind.size);
      // The missing-attribute cases share a code but each names its own attribute.
      const missing = letters.filter((l) => l.code === "INVALID_ENVELOPE").map((l) => l.attribute);
      expect(new Set(missing).size).toBe(10);
      expect(retries).toBe(0);
      expect([...handled].sort((a, b) => a - b)).toEqual([...Array(valid).keys()]);

      // Still consuming after all of it.
      await publishValid();
      await waitFor(() => handled.size === valid, { timeoutMs: WAIT_MS });
    });
  });
}

import { headers } from "@nats-io/transport-node";
import { isSlotwiseError } from "@slotwise/events";
import { describe, expect, it } from "vitest";
import {
  consumerUpdate,
  fromNatsHeaders,
  msToNanos,
  nanosToMs,
  streamNeedsUpdate,
  toJsConsumerConfig,
  toJsStreamConfig,
  toNatsHeaders,
} from "./config.js";

describe("stream config mapping", () => {
  it("maps durations to nanoseconds and applies the defaults", () => {
    const c = toJsStreamConfig({ name: "DEV_BOOKING", subjects: ["dev.booking.>"] });
    expect(c).toMatchObject({
      name: "DEV_BOOKING",
      subjects: ["dev.booking.>"],
      storage: "file",
      num_replicas: 1,
      duplicate_window: 120_000_000_000,
      max_age: 0,
      max_msg_size: -1,
      retention: "limits",
      discard: "old",
    });
  });

  it("maps every field that is given", () => {
    const c = toJsStreamConfig({
      name: "S",
      subjects: ["a.>", "b.>"],
      replicas: 3,
      duplicateWindowMs: 30_000,
      maxAgeMs: 86_400_000,
      storage: "memory",
      maxMsgSize: 65_536,
    });
    expect(c).toMatchObject({
      subjects: ["a.>", "b.>"],
      num_replicas: 3,
      duplicate_window: 30_000_000_000,
      max_age: 86_400_000_000_000,
      storage: "memory",
      max_msg_size: 65_536,
    });
  });

  it.each([
    [{ replicas: 0 }, "replicas"],
    [{ replicas: 7 }, "replicas"],
    [{ subjects: [] }, "subject"],
    [{ duplicateWindowMs: 120_000, maxAgeMs: 60_000 }, "duplicateWindowMs"],
  ])("refuses %j with INVALID_OPTIONS naming the field", (extra, field) => {
    let caught: unknown;
    try {
      toJsStreamConfig({ name: "S", subjects: ["a.>"], ...extra });
    } catch (err) {
      caught = err;
    }
    expect(isSlotwiseError(caught, "INVALID_OPTIONS")).toBe(true);
    expect((caught as Error).message).toContain(field);
  });

  it("sees a change of any mapped field, and none when equal", () => {
    const wanted = toJsStreamConfig({ name: "S", subjects: ["a.>"] });
    const current = { ...wanted } as Parameters<typeof streamNeedsUpdate>[0];
    expect(streamNeedsUpdate(current, wanted)).toBe(false);
    expect(streamNeedsUpdate({ ...current, duplicate_window: 1 }, wanted)).toBe(true);
    expect(streamNeedsUpdate({ ...current, subjects: ["b.>"] }, wanted)).toBe(true);
    expect(streamNeedsUpdate({ ...current, max_msg_size: 10 }, wanted)).toBe(true);
  });

  it("converts between milliseconds and nanoseconds", () => {
    expect(msToNanos(1)).toBe(1_000_000);
    expect(nanosToMs(2_500_000_000)).toBe(2_500);
    expect(nanosToMs(undefined)).toBe(0);
  });
});

describe("consumer config mapping", () => {
  it("makes a durable with explicit ack and the defaults", () => {
    expect(toJsConsumerConfig({ stream: "S", durable: "svc-handler" }, false)).toEqual({
      durable_name: "svc-handler",
      ack_policy: "explicit",
      ack_wait: 30_000_000_000,
      max_deliver: -1,
      max_ack_pending: 1_000,
      deliver_policy: "all",
    });
  });

  it("maps the deliver policies", () => {
    const at = new Date("2025-01-02T03:04:05.000Z");
    expect(toJsConsumerConfig({ stream: "S", durable: "d", deliverPolicy: "new" }, false)).toMatchObject({
      deliver_policy: "new",
    });
    expect(
      toJsConsumerConfig({ stream: "S", durable: "d", deliverPolicy: { startTime: at } }, false),
    ).toMatchObject({ deliver_policy: "by_start_time", opt_start_time: "2025-01-02T03:04:05.000Z" });
    expect(
      toJsConsumerConfig({ stream: "S", durable: "d", deliverPolicy: { startSequence: 7 } }, false),
    ).toMatchObject({ deliver_policy: "by_start_sequence", opt_start_seq: 7 });
  });

  it("uses filter_subject for one subject on any server", () => {
    const c = toJsConsumerConfig({ stream: "S", durable: "d", filterSubjects: ["dev.booking.>"] }, false);
    expect(c.filter_subject).toBe("dev.booking.>");
    expect(c.filter_subjects).toBeUndefined();
  });

  it("refuses several filter subjects on a server without filter_subjects, naming the field", () => {
    let caught: unknown;
    try {
      toJsConsumerConfig({ stream: "S", durable: "d", filterSubjects: ["a.x", "a.y"] }, false);
    } catch (err) {
      caught = err;
    }
    expect(isSlotwiseError(caught, "INVALID_OPTIONS")).toBe(true);
    expect((caught as Error).message).toContain("2.10");
  });

  it("uses filter_subjects for several subjects on a server that has it", () => {
    const c = toJsConsumerConfig({ stream: "S", durable: "d", filterSubjects: ["a.x", "a.y"] }, true);
    expect(c.filter_subjects).toEqual(["a.x", "a.y"]);
    expect(c.filter_subject).toBeUndefined();
  });

  it("updates only what changed", () => {
    const wanted = toJsConsumerConfig({ stream: "S", durable: "d", ackWaitMs: 5_000 }, false);
    const current = toJsConsumerConfig({ stream: "S", durable: "d" }, false) as Parameters<
      typeof consumerUpdate
    >[0];
    expect(consumerUpdate(current, wanted)).toEqual({ ack_wait: 5_000_000_000 });
    expect(consumerUpdate({ ...current, ack_wait: 5_000_000_000 }, wanted)).toBeUndefined();
    const filtered = toJsConsumerConfig({ stream: "S", durable: "d", filterSubjects: ["a.>"] }, false);
    expect(consumerUpdate(current, filtered)).toEqual({ filter_subject: "a.>" });
  });
});

describe("headers", () => {
  it("round-trips through nats.js headers, msg id included", () => {
    const h = toNatsHeaders({ "Content-Type": "application/cloudevents+json", "x-a": "1" }, "evt-1");
    expect(fromNatsHeaders(h)).toEqual({
      "Content-Type": "application/cloudevents+json",
      "x-a": "1",
      "Nats-Msg-Id": "evt-1",
    });
  });

  it("sends no headers when there are none", () => {
    expect(toNatsHeaders(undefined)).toBeUndefined();
    expect(toNatsHeaders({})).toBeUndefined();
    expect(fromNatsHeaders(undefined)).toEqual({});
    expect(fromNatsHeaders(headers())).toEqual({});
  });
});

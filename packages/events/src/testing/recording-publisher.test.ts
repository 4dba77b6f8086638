import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createEventRegistry, defineEvent } from "../envelope/index.js";
import { ErrorCode, isSlotwiseError } from "../errors/index.js";
import { createRecordingPublisher } from "./recording-publisher.js";

const Pinged = defineEvent({ type: "test.probe.pinged.v1", schema: z.object({ n: z.number().int() }) });
const Ponged = defineEvent({ type: "test.probe.ponged.v1", schema: z.object({ n: z.number().int() }) });
const ping = (n: number) => Pinged.create({ source: "test", subject: "p-1", data: { n } });

describe("createRecordingPublisher", () => {
  it("records published events in order and filters them by type", async () => {
    const publisher = createRecordingPublisher();
    const a = ping(1);
    const b = Ponged.create({ source: "test", subject: "p-1", data: { n: 2 } });
    expect(await publisher.publish(a)).toEqual({ stream: "RECORDING", seq: 1, duplicate: false });
    await publisher.publishAsync(b);
    await publisher.flush();
    expect(publisher.published).toEqual([a, b]);
    expect(publisher.ofType(Ponged)).toEqual([b]);
    expect(publisher.ofType("test.probe.pinged.v1")).toEqual([a]);
    publisher.clear();
    expect(publisher.published).toEqual([]);
  });

  it("acknowledges a second event with the same id as a duplicate and keeps one copy", async () => {
    const publisher = createRecordingPublisher();
    const a = ping(1);
    await publisher.publish(a);
    expect(await publisher.publish(a)).toEqual({ stream: "RECORDING", seq: 1, duplicate: true });
    expect(publisher.published).toHaveLength(1);
  });

  it("validates against a registry and refuses unknown types", async () => {
    const publisher = createRecordingPublisher({ registry: createEventRegistry().register(Pinged) });
    await publisher.publish(ping(1));
    const other = Ponged.create({ source: "test", subject: "p-1", data: { n: 1 } });
    await expect(publisher.publish(other)).rejects.toSatisfy((e) =>
      isSlotwiseError(e, ErrorCode.UNKNOWN_EVENT_TYPE),
    );
    expect(publisher.published).toHaveLength(1);
  });

  it("fails chosen events, and reports async failures at flush", async () => {
    const publisher = createRecordingPublisher({
      failWith: (e) => (e.data as { n: number }).n === 2 && new Error("boom"),
    });
    await publisher.publishAsync(ping(1));
    await publisher.publishAsync(ping(2));
    await expect(publisher.flush()).rejects.toSatisfy((e) => isSlotwiseError(e, ErrorCode.PUBLISH_FAILED));
    await publisher.flush();
    await expect(publisher.publish(ping(2))).rejects.toThrow("boom");
    expect(publisher.published.map((e) => (e.data as { n: number }).n)).toEqual([1]);
  });
});

import { describe, expect, it } from "vitest";
import { isSlotwiseError } from "../errors/index.js";
import { streamsForEnvironments } from "./provision.js";

describe("streamsForEnvironments", () => {
  it("defines one stream per environment and domain plus one dead-letter stream per environment", () => {
    const streams = streamsForEnvironments({
      environments: ["dev", "prod"],
      domains: ["booking", "payment"],
    });
    expect(streams.map((s) => [s.name, s.subjects])).toEqual([
      ["DEV_BOOKING", ["dev.booking.>"]],
      ["DEV_PAYMENT", ["dev.payment.>"]],
      ["DEV_DLQ", ["dlq.dev.>"]],
      ["PROD_BOOKING", ["prod.booking.>"]],
      ["PROD_PAYMENT", ["prod.payment.>"]],
      ["PROD_DLQ", ["dlq.prod.>"]],
    ]);
    expect(
      streams.every((s) => s.replicas === 1 && s.storage === "file" && s.duplicateWindowMs === 120_000),
    ).toBe(true);
  });

  it("applies replicas, duplicate window and storage to every stream", () => {
    const streams = streamsForEnvironments({
      environments: ["prod"],
      domains: ["auth"],
      replicas: 3,
      duplicateWindowMs: 600_000,
      storage: "memory",
    });
    expect(streams).toHaveLength(2);
    for (const s of streams) {
      expect(s).toMatchObject({ replicas: 3, duplicateWindowMs: 600_000, storage: "memory" });
    }
  });

  it("refuses an upper-case environment, a bad domain and no environment at all", () => {
    const attempt = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err;
      }
      return undefined;
    };
    expect(
      isSlotwiseError(attempt(() => streamsForEnvironments({ environments: ["Prod"], domains: [] }))),
    ).toBe(true);
    expect(
      isSlotwiseError(
        attempt(() => streamsForEnvironments({ environments: ["dev"], domains: ["book ing"] })),
        "INVALID_OPTIONS",
      ),
    ).toBe(true);
    expect(
      isSlotwiseError(
        attempt(() => streamsForEnvironments({ environments: [], domains: ["a"] })),
        "INVALID_OPTIONS",
      ),
    ).toBe(true);
  });

  it("refuses a domain list that would define a stream twice", () => {
    let caught: unknown;
    try {
      streamsForEnvironments({ environments: ["dev"], domains: ["booking", "booking"] });
    } catch (err) {
      caught = err;
    }
    expect(isSlotwiseError(caught, "DUPLICATE_NAME")).toBe(true);
  });
});

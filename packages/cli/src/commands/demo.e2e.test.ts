import { describe, expect, it } from "vitest";
import { type DemoReport, formatDemoReport, runDemo } from "./demo.js";

const nats = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const postgres = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

function expectAccounted(report: DemoReport, bookings: number): void {
  expect(report.ok).toBe(true);
  expect(report.appended).toBe(bookings * 2);
  expect(report.published).toBe(report.appended);
  expect(report.handled).toBe(report.appended);
  expect(report.injectedBad).toBeGreaterThanOrEqual(5);
  expect(report.deadLetters).toBe(report.injectedBad);
  expect(report.readModel).toEqual({ pending: 0, confirmed: report.confirmed, cancelled: report.cancelled });
  expect(report.confirmed + report.cancelled).toBe(bookings);
  expect(report.p99Ms).toBeGreaterThanOrEqual(report.p50Ms);
  expect(Object.keys(report.deadLetterCodes).sort()).toEqual([
    "INVALID_ENCODING",
    "INVALID_ENVELOPE",
    "INVALID_EVENT_TYPE",
    "NOT_JSON",
    "SCHEMA_VIOLATION",
    "UNKNOWN_EVENT_VERSION",
  ]);
}

describe("slotwise demo", () => {
  it("embedded: every booking event is appended, relayed and handled once; the bad messages are dead letters", async () => {
    const lines: string[] = [];
    const report = await runDemo({ bookings: 40, progress: (l) => lines.push(l) });
    expect(report.mode).toBe("embedded");
    expectAccounted(report, 40);
    expect(lines[0]).toContain("embedded");
    expect(formatDemoReport(report)).toContain("OK:");
  });

  it("on NATS and PostgreSQL: the same accounting, on a unique env and schema dropped after", async () => {
    const report = await runDemo({ bookings: 40, nats, postgres });
    expect(report.mode).toBe("servers");
    expect(report.env).toMatch(/^demo-[0-9a-f]{8}$/);
    expectAccounted(report, 40);
  });

  it("refuses one server without the other", async () => {
    await expect(runDemo({ bookings: 1, nats })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });
});

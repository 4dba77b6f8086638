import { describe, expect, it } from "vitest";
import { parseServerVersion, versionAtLeast } from "../connection/server-version.js";
import { checkProductionProfile } from "./profile.js";

describe("server versions", () => {
  it("parses and compares MAJOR.MINOR.PATCH", () => {
    expect(parseServerVersion("2.9.10")).toEqual([2, 9, 10]);
    expect(parseServerVersion("v2.10.0-beta.1")).toEqual([2, 10, 0]);
    expect(parseServerVersion("garbage")).toEqual([0, 0, 0]);
    expect(versionAtLeast("2.9.10", "2.10.0")).toBe(false);
    expect(versionAtLeast("2.10.0", "2.10.0")).toBe(true);
    expect(versionAtLeast("2.11.1", "2.10.0")).toBe(true);
    expect(versionAtLeast("3.0.0", "2.10.0")).toBe(true);
  });
});

describe("production profile", () => {
  it("reports an old standalone server with R1 streams as warnings, not as a failure", () => {
    const report = checkProductionProfile({
      serverVersion: "2.9.10",
      clustered: false,
      streams: [
        { name: "PROD_BOOKING", replicas: 1 },
        { name: "PROD_DLQ", replicas: 3 },
      ],
    });
    expect(report.meetsProfile).toBe(false);
    expect(report.serverVersion).toBe("2.9.10");
    const warnings = report.findings.filter((f) => f.level === "warning");
    expect(warnings.map((f) => f.code).sort()).toEqual([
      "NOT_CLUSTERED",
      "REPLICAS_BELOW_PROFILE",
      "SERVER_TOO_OLD",
    ]);
    expect(warnings.find((f) => f.code === "REPLICAS_BELOW_PROFILE")?.stream).toBe("PROD_BOOKING");
  });

  it("meets the profile on a current cluster with R3 streams, noting what a client cannot check", () => {
    const report = checkProductionProfile({
      serverVersion: "2.11.4",
      clustered: true,
      streams: [{ name: "PROD_BOOKING", replicas: 3 }],
    });
    expect(report.meetsProfile).toBe(true);
    expect(report.findings.map((f) => f.code)).toEqual(["SYNC_UNVERIFIED"]);
  });
});

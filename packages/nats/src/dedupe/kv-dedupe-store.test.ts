import { isSlotwiseError } from "@slotwise/events";
import { describe, expect, it } from "vitest";
import { dedupeKey, MAX_PLAIN_KEY_TOKEN } from "./kv-dedupe-store.js";

const KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;

describe("dedupe keys", () => {
  it("keep consumer names and UUIDs readable", () => {
    expect(dedupeKey("booking-projector", "0191f0c4-6c1e-7a4b-9e0f-2d6f5a0b1c2d")).toBe(
      "booking-projector.0191f0c4-6c1e-7a4b-9e0f-2d6f5a0b1c2d",
    );
  });

  it("hash any other id into a legal, distinct token", () => {
    const ids = [
      "a.b",
      "a b",
      "a*",
      "a>",
      "ünïcødé",
      "x".repeat(MAX_PLAIN_KEY_TOKEN + 1),
      "=abc",
      ".",
      "a.b ",
    ];
    const keys = ids.map((id) => dedupeKey("svc", id));
    for (const k of keys) {
      expect(k).toMatch(KV_KEY);
      expect(k.split(".")).toHaveLength(2);
    }
    expect(new Set(keys).size).toBe(ids.length);
    // A hashed token never equals a plain one: plain tokens have no "=".
    expect(dedupeKey("svc", "abc")).not.toBe(dedupeKey("svc", "=abc"));
    expect(dedupeKey("svc.x", "id")).not.toBe(dedupeKey("svc", "x.id"));
  });

  it("refuse empty parts", () => {
    let err: unknown;
    try {
      dedupeKey("", "id");
    } catch (e) {
      err = e;
    }
    expect(isSlotwiseError(err, "INVALID_OPTIONS")).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { isValidSubject, matches, overlaps, SubjectFilter, tokenize } from "./subject.js";

const m = (pattern: string, subject: string) => matches(tokenize(pattern), tokenize(subject));
const o = (a: string, b: string) => overlaps(tokenize(a), tokenize(b));

describe("NATS subjects", () => {
  it("matches literals, * for one token and > for one or more trailing tokens", () => {
    expect(m("a.b.c", "a.b.c")).toBe(true);
    expect(m("a.b.c", "a.b")).toBe(false);
    expect(m("a.*.c", "a.x.c")).toBe(true);
    expect(m("a.*.c", "a.x.y.c")).toBe(false);
    expect(m("a.*", "a")).toBe(false);
    expect(m("a.>", "a.b")).toBe(true);
    expect(m("a.>", "a.b.c.d")).toBe(true);
    expect(m("a.>", "a")).toBe(false);
    expect(m(">", "anything.at.all")).toBe(true);
    expect(m("*.b.>", "x.b.y")).toBe(true);
    expect(m("*.b.>", "x.c.y")).toBe(false);
  });

  it("detects patterns that some subject matches both of", () => {
    expect(o("a.>", "a.b.c")).toBe(true);
    expect(o("a.*", "a.b")).toBe(true);
    expect(o("a.*", "a.b.c")).toBe(false);
    expect(o("a.b.>", "a.c.>")).toBe(false);
    expect(o("*.b", "a.*")).toBe(true);
    expect(o("a.>", "a")).toBe(false);
    expect(o("t1.booking.>", "t2.booking.>")).toBe(false);
  });

  it("validates subjects and where wildcards may stand", () => {
    expect(isValidSubject("a.b", false)).toBe(true);
    expect(isValidSubject("a.*", false)).toBe(false);
    expect(isValidSubject("a.*", true)).toBe(true);
    expect(isValidSubject("a.>.b", true)).toBe(false);
    expect(isValidSubject("a..b", true)).toBe(false);
    expect(isValidSubject("", true)).toBe(false);
    expect(isValidSubject("a b", true)).toBe(false);
    expect(isValidSubject("$JS.EVENT.ADVISORY.>", true)).toBe(true);
  });

  it("caches filter results without changing them", () => {
    const filter = new SubjectFilter([tokenize("a.*"), tokenize("b.>")], 2);
    for (let i = 0; i < 3; i++) {
      expect(filter.test("a.x")).toBe(true);
      expect(filter.test("b.x.y")).toBe(true);
      expect(filter.test("c.x")).toBe(false);
    }
  });
});

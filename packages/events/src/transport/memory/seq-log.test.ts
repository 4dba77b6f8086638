import { describe, expect, it } from "vitest";
import { SeqLog } from "./seq-log.js";

describe("SeqLog", () => {
  it("appends with consecutive sequences and looks them up", () => {
    const log = new SeqLog<string>();
    expect(log.firstSeq()).toBeUndefined();
    expect(log.append("a")).toBe(1);
    expect(log.append("b")).toBe(2);
    expect(log.get(1)).toBe("a");
    expect(log.get(2)).toBe("b");
    expect(log.get(3)).toBeUndefined();
    expect(log.get(0)).toBeUndefined();
    expect(log.size).toBe(2);
  });

  it("skips holes at the front and keeps sequences after compaction", () => {
    const log = new SeqLog<number>();
    for (let i = 1; i <= 5000; i++) log.append(i);
    expect(log.delete(2)).toBe(2);
    expect(log.delete(2)).toBeUndefined();
    expect(log.delete(1)).toBe(1);
    expect(log.firstSeq()).toBe(3);
    for (let i = 3; i <= 4000; i++) log.delete(i);
    expect(log.firstSeq()).toBe(4001);
    expect(log.first()).toBe(4001);
    expect(log.get(3999)).toBeUndefined();
    expect(log.get(4500)).toBe(4500);
    expect(log.size).toBe(1000);
    expect(log.append(5001)).toBe(5001);
    for (let i = 4001; i <= 5001; i++) log.delete(i);
    expect(log.size).toBe(0);
    expect(log.firstSeq()).toBeUndefined();
    expect(log.nextSeq).toBe(5002);
  });
});

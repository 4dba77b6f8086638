import { describe, expect, it } from "vitest";
import { KeyedQueue } from "./keyed-queue.js";

/** A promise settled from outside. */
function gate() {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe("KeyedQueue.enqueue", () => {
  it("runs a task at once and returns a synchronous result as is, queueing nothing", () => {
    const queue = new KeyedQueue();
    const seen: number[] = [];
    const result = queue.enqueue("a", (n: number) => void seen.push(n), 1);
    expect(result).toBeUndefined();
    expect(seen).toEqual([1]);
    expect(queue.size).toBe(0);
  });

  it("lets a synchronous throw of an immediate task reach the caller", () => {
    const queue = new KeyedQueue();
    expect(() =>
      queue.enqueue("a", () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(queue.size).toBe(0);
  });

  it("runs tasks of one key in order, behind an asynchronous one, and forgets the key after", async () => {
    const queue = new KeyedQueue();
    const order: string[] = [];
    const first = gate();
    const r1 = queue.enqueue("a", async () => {
      await first.promise;
      order.push("a1");
    });
    const r2 = queue.enqueue("a", () => void order.push("a2"));
    const r3 = queue.enqueue("b", () => void order.push("b1"));
    expect(r3).toBeUndefined(); // another key does not wait
    expect(order).toEqual(["b1"]);
    expect(queue.size).toBe(1);
    first.open();
    await r1;
    await r2;
    expect(order).toEqual(["b1", "a1", "a2"]);
    expect(queue.size).toBe(0);
  });

  it("runs the next task of a key after one that rejected, and rejects only that one's result", async () => {
    const queue = new KeyedQueue();
    const failing = gate();
    const r1 = queue.enqueue("a", () => failing.promise);
    const ran: string[] = [];
    const r2 = queue.enqueue("a", () => void ran.push("after"));
    failing.fail(new Error("nope"));
    await expect(r1).rejects.toThrow("nope");
    await expect(r2).resolves.toBeUndefined();
    expect(ran).toEqual(["after"]);
    expect(queue.size).toBe(0);
  });

  it("keeps run() returning a promise that settles with the task", async () => {
    const queue = new KeyedQueue();
    const order: number[] = [];
    const g = gate();
    const r1 = queue.run("k", async () => {
      await g.promise;
      order.push(1);
    });
    const r2 = queue.run("k", async () => {
      order.push(2);
    });
    expect(r1).toBeInstanceOf(Promise);
    g.open();
    await Promise.all([r1, r2]);
    expect(order).toEqual([1, 2]);
    expect(queue.size).toBe(0);
  });
});

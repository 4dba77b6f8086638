/**
 * Runs tasks one after another per key and concurrently across keys: events of one CloudEvents subject
 * (one aggregate) are handled in order. Memory is bounded by the caller, which limits tasks in flight.
 */
export class KeyedQueue {
  /** Per key with a task in flight, the promise that settles after its last queued task. */
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `task` after every task queued earlier under `key`; the result settles with the task. */
  run(key: string, task: () => Promise<void>): Promise<void> {
    return this.enqueue(key, task) ?? Promise.resolve();
  }

  /**
   * Like `run`, for the hot path: with nothing in flight under `key` (the common case) `fn(arg)` runs at
   * once, and a synchronous result is returned as is, with nothing queued and no promise made. A task
   * that returns a promise is tracked until it settles, so later tasks under `key` wait for it. A
   * synchronous throw of an immediate task reaches the caller; a queued one's rejects the result.
   */
  enqueue<A>(key: string, fn: (arg: A) => void | Promise<void>, arg: A): void | Promise<void>;
  enqueue(key: string, fn: () => void | Promise<void>): void | Promise<void>;
  enqueue<A>(key: string, fn: (arg?: A) => void | Promise<void>, arg?: A): void | Promise<void> {
    // Nothing in flight under any key (sync handlers, an idle consumer): no lookup of a fresh key.
    const previous = this.#tails.size === 0 ? undefined : this.#tails.get(key);
    let result: void | Promise<void>;
    if (previous === undefined) {
      result = fn(arg);
      if (!isPromiseLike(result)) return result;
    } else {
      const task = () => fn(arg);
      result = previous.then(task, task);
    }
    const tail: Promise<void> = result.then(
      () => this.#settled(key, tail),
      () => this.#settled(key, tail),
    );
    this.#tails.set(key, tail);
    return result;
  }

  #settled(key: string, tail: Promise<void>): void {
    // A later task under the key replaced the tail: it forgets the key when it settles.
    if (this.#tails.get(key) === tail) this.#tails.delete(key);
  }

  /** Keys with a task in flight. */
  get size(): number {
    return this.#tails.size;
  }
}

/** Whether a maybe-synchronous result is a promise (any thenable). */
export function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof value === "object" && value !== null && typeof (value as Promise<T>).then === "function";
}

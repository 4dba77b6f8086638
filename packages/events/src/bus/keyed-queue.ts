/**
 * Runs tasks one after another per key and concurrently across keys: events of one CloudEvents subject
 * (one aggregate) are handled in order. Memory is bounded by the caller, which limits tasks in flight.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `task` after every task queued earlier under `key`; the result settles with the task. */
  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.#tails.get(key);
    const result = previous ? previous.then(task, task) : task();
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  get size(): number {
    return this.#tails.size;
  }
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimeoutError } from '../../src/errors.js';
import { withLock } from '../../src/lock.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('without the Web Locks API, calls are serialised within the tab', async () => {
  const order: string[] = [];
  const job = (name: string, ms: number) =>
    withLock('x', 1000, async () => {
      order.push(`${name}+`);
      await sleep(ms);
      order.push(`${name}-`);
      return name;
    });
  const failing = withLock('x', 1000, async () => {
    throw new Error('boom');
  });
  const results = await Promise.allSettled([job('a', 20), failing, job('b', 1)]);
  assert.deepEqual(order, ['a+', 'a-', 'b+', 'b-']);
  assert.equal(results[1].status, 'rejected', 'a failure is reported and does not break the chain');
});

test('Web Locks: waiting is bounded and ends in a timeout error', async () => {
  // Minimal exclusive Web Locks stand-in honouring AbortSignal, as navigator.locks does.
  let held: Promise<unknown> = Promise.resolve();
  const locks = {
    request(_name: string, opts: { signal: AbortSignal }, cb: () => Promise<unknown>) {
      const prev = held;
      const run = new Promise((resolve, reject) => {
        opts.signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
        prev.then(() => (opts.signal.aborted ? undefined : cb().then(resolve, reject)));
      });
      held = run.catch(() => undefined);
      return run;
    },
  };
  const g = globalThis as { navigator?: unknown };
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true });
  try {
    const long = withLock('y', 1000, () => sleep(200).then(() => 'long'));
    const waiter = withLock('y', 50, async () => 'never');
    await assert.rejects(waiter, (e: unknown) => e instanceof TimeoutError && e.error === 'timeout');
    assert.equal(await long, 'long');
    // An error thrown by the holder is not mistaken for a lock timeout.
    await assert.rejects(withLock('y', 1000, async () => Promise.reject(new Error('inner'))), /inner/);
  } finally {
    if (saved) Object.defineProperty(globalThis, 'navigator', saved);
    else delete g.navigator;
  }
});

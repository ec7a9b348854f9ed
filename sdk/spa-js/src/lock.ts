import { TimeoutError } from './errors.js';

const chains = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` holding the exclusive Web Lock `name` (shared by every tab and worker of the origin),
 * waiting at most `timeoutMs` to acquire it. Without the Web Locks API, serialises within the tab.
 */
export async function withLock<T>(name: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const locks = globalThis.navigator?.locks;
  if (!locks) {
    const prev = chains.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    chains.set(name, run.catch(() => undefined));
    return run;
  }
  const ac = new AbortController();
  let acquired = false;
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    return await locks.request(name, { signal: ac.signal }, () => {
      acquired = true;
      clearTimeout(timer);
      return fn();
    });
  } catch (e) {
    if (!acquired) throw new TimeoutError(`Timed out waiting for lock ${name}`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

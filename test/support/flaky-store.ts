import type { Store } from '../../src/store/store.ts';

/** A real store whose next event writes fail on demand: a store write that did not go through. */
export function createFlakyStore(inner: Store): {
  store: Store;
  failNextAppends(count: number): void;
} {
  let failures = 0;
  const appendEvents: Store['appendEvents'] = (...args) => {
    if (failures > 0) {
      failures -= 1;
      return Promise.reject(new Error('injected store failure'));
    }
    return inner.appendEvents(...args);
  };
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'appendEvents') return appendEvents;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return { store, failNextAppends: (count) => void (failures = count) };
}

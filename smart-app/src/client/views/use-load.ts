import { useEffect, useState } from 'react';

/** State of an asynchronous load: loading, the value, or the failure message. */
export type LoadState<T> =
  { kind: 'loading' } | { kind: 'loaded'; value: T } | { kind: 'failed'; message: string };

/**
 * Runs `load` when a dependency changes and returns its state. A newer run or an unmounted view
 * never lets an older request overwrite the state, and aborts the older run's signal, so its requests
 * stop holding the browser's few connections to the server.
 */
export function useLoad<T>(
  load: (signal: AbortSignal) => Promise<T>,
  dependencies: readonly unknown[]
): LoadState<T> {
  const [state, setState] = useState<LoadState<T>>({ kind: 'loading' });

  useEffect(() => {
    let current = true;
    const controller = new AbortController();
    setState({ kind: 'loading' });
    load(controller.signal).then(
      (value) => {
        if (current) {
          setState({ kind: 'loaded', value });
        }
      },
      (error: unknown) => {
        if (current) {
          setState({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
        }
      }
    );
    return () => {
      current = false;
      controller.abort();
    };
    // The caller lists the dependencies of `load`, as with useEffect.
  }, dependencies);

  return state;
}

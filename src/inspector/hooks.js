import { useEffect, useRef, useState } from './htm-preact.js';

/** Runs `load` now and every `ms` while mounted (and again when `deps` change). */
export function usePoll(load, ms, deps) {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let stopped = false;
    const tick = async () => {
      if (!stopped) await latest.current();
    };
    void tick();
    const timer = setInterval(() => void tick(), ms);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, deps);
}

/** The current time, every second: for countdowns. */
export function useNow() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

export const shortId = (id) => (id.length > 14 ? `${id.slice(0, 14)}…` : id);
export const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '');

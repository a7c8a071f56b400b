/**
 * Whether the database is reachable, as the store last saw it: down from the first query that
 * could not reach it until a query (or the probe, run every `probeMs` while down) reaches it
 * again. Commands are refused with `store_unavailable` meanwhile, before they change a session.
 */
export interface Availability {
  isUp(): boolean;
  /** A query could not reach the database. */
  failed(): void;
  /** A query reached it. */
  reached(): void;
  close(): void;
}

export function createAvailability(probe: () => Promise<unknown>, probeMs = 500): Availability {
  let up = true;
  let timer: NodeJS.Timeout | undefined;
  let probing = false;

  function stopProbing(): void {
    if (timer) clearInterval(timer);
    timer = undefined;
  }

  const availability: Availability = {
    isUp: () => up,
    failed() {
      up = false;
      if (timer) return;
      timer = setInterval(() => {
        if (probing) return;
        probing = true;
        probe()
          .then(() => availability.reached())
          .catch(() => undefined)
          .finally(() => (probing = false));
      }, probeMs);
      timer.unref();
    },
    reached() {
      up = true;
      stopProbing();
    },
    close: stopProbing,
  };
  return availability;
}

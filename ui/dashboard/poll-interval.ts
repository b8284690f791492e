/** How often the dashboard scrapes `GET /metrics` unless its URL says otherwise (`?interval=<ms>`). */
export const DEFAULT_INTERVAL_MS = 1000;
/** The shortest interval `?interval=` may ask for; shorter asks get this. */
export const MIN_INTERVAL_MS = 250;

/** The polling interval a page URL's query string asks for (`?interval=500`), in ms; the default when it asks for none or nonsense. */
export function pollInterval(search: string): number {
  const asked = new URLSearchParams(search).get('interval');
  const ms = asked === null || asked.trim() === '' ? NaN : Number(asked);
  return Number.isFinite(ms) ? Math.max(MIN_INTERVAL_MS, Math.round(ms)) : DEFAULT_INTERVAL_MS;
}

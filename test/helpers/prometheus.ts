// The parser is the dashboard's (ui/shared/prometheus-text.ts): one copy, read by the page and the tests alike.
export { metricValue, parsePrometheus, type Sample } from '../../ui/shared/prometheus-text.js';

/** Scrapes a running server's `GET /metrics`. */
export async function scrape(httpUrl: string): Promise<string> {
  return (await fetch(`${httpUrl}/metrics`)).text();
}

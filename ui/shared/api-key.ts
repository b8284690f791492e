/**
 * The API key the user typed, kept in this tab's sessionStorage only (gone when the tab closes; never in
 * localStorage, never in a cookie), and sent as `Authorization: Bearer` with every API call of the page.
 */
const STORAGE_KEY = 'specroute.apiKey';

export function apiKey(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function setApiKey(key: string | null): void {
  if (key === null || key === '') sessionStorage.removeItem(STORAGE_KEY);
  else sessionStorage.setItem(STORAGE_KEY, key);
}

/** Headers for an API call: JSON, and the key when one is set. */
export function apiHeaders(): Record<string, string> {
  const key = apiKey();
  return { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

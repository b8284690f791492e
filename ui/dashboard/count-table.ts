import type { LabelledCount } from './figures.js';
import { formatCount } from '../shared/format.js';

const shownRows = new WeakMap<HTMLTableSectionElement, string>();

/**
 * Fills a table body with one row per count: its labels (the first as the row's header; an empty label as `—`), then
 * the count. With no counts, one row says `empty`. A body already showing these rows is left alone (a reader's
 * place in it stays put).
 */
export function fillCountTable(body: HTMLTableSectionElement, counts: readonly LabelledCount[], empty: string): void {
  const key = JSON.stringify(counts);
  if (shownRows.get(body) === key) return;
  shownRows.set(body, key);
  const columns = body.closest('table')?.querySelectorAll('thead th').length ?? 1;
  const rows = counts.map((count) => {
    const row = document.createElement('tr');
    count.labels.forEach((label, i) => {
      const cell = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) cell.setAttribute('scope', 'row');
      cell.textContent = label === '' ? '—' : label;
      row.append(cell);
    });
    const number = document.createElement('td');
    number.className = 'number';
    number.textContent = formatCount(count.count);
    row.append(number);
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement('tr');
    const cell = document.createElement('td');
    cell.colSpan = columns;
    cell.className = 'muted';
    cell.textContent = empty;
    row.append(cell);
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

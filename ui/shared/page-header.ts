/** Marks the current page's link in the shared header (`<nav>` links carry `data-page`). */
export function markCurrentPage(page: 'playground' | 'dashboard'): void {
  document.querySelector(`header.top nav a[data-page="${page}"]`)?.setAttribute('aria-current', 'page');
}

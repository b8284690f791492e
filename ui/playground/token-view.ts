import type { WireEscalation } from '../../src/streaming/openai-wire.js';
import type { StreamItem } from './chunk-reader.js';

type TokenItem = Extract<StreamItem, { kind: 'token' }>;

/** What the details box shows for one element of the reply. */
type Details = { kind: 'token'; token: TokenItem } | { kind: 'escalation'; escalation: WireEscalation };

/**
 * The streamed reply: each token an element with `data-source` (its provenance, coloured and underlined in its
 * own style), escalations marked where they happened (a spliced span wraps the frontier's tokens; a skipped one is
 * a badge), and a details box for the token under the pointer or keyboard focus: its log-probability, draft
 * position, ids and alternatives. The reply is one tab stop; arrow keys, Home and End move between its items.
 */
export class TokenView {
  private readonly details = new WeakMap<Element, Details>();
  /** The open spliced escalation: the frontier tokens that follow go inside it. */
  private group: HTMLElement | null = null;

  constructor(
    private readonly reply: HTMLElement,
    private readonly tip: HTMLElement,
  ) {
    reply.addEventListener('mouseover', (event) => this.show(event.target));
    reply.addEventListener('mouseleave', () => this.hide());
    reply.addEventListener('focusin', (event) => this.show(event.target));
    reply.addEventListener('focusout', () => this.hide());
    reply.addEventListener('keydown', (event) => this.onKey(event));
  }

  reset(): void {
    this.reply.replaceChildren();
    this.group = null;
    this.hide();
  }

  /** Tokens shown so far. */
  get count(): number {
    return this.reply.querySelectorAll('[data-source]').length;
  }

  token(token: TokenItem): void {
    const span = document.createElement('span');
    span.dataset.source = token.source;
    span.dataset.logprob = String(token.logprob);
    if (token.draftPosition !== undefined) span.dataset.position = String(token.draftPosition);
    span.tabIndex = -1;
    span.textContent = token.text;
    this.details.set(span, { kind: 'token', token });
    if (this.group && token.source !== 'frontier') this.group = null;
    (this.group ?? this.reply).append(span);
  }

  escalation(escalation: WireEscalation): void {
    const badge = document.createElement('span');
    badge.className = 'escalation-badge';
    badge.tabIndex = -1;
    badge.textContent = '⇪';
    badge.setAttribute('aria-label', `escalation ${escalation.status}${escalation.reason ? `: ${escalation.reason}` : ''}`);
    this.details.set(badge, { kind: 'escalation', escalation });
    const mark = document.createElement('span');
    mark.className = 'escalation';
    mark.dataset.escalation = escalation.status;
    if (escalation.reason) mark.dataset.reason = escalation.reason;
    mark.append(badge);
    this.reply.append(mark);
    this.group = escalation.status === 'spliced' ? mark : null;
  }

  /** The items arrow keys move between: tokens with visible text, and escalation badges. */
  private items(): HTMLElement[] {
    return [...this.reply.querySelectorAll<HTMLElement>('[data-source], .escalation-badge')].filter((el) => el.textContent !== '');
  }

  private onKey(event: KeyboardEvent): void {
    const items = this.items();
    if (items.length === 0) return;
    const at = items.indexOf(document.activeElement as HTMLElement);
    const next = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    items[Math.max(0, Math.min(items.length - 1, next))]?.focus();
  }

  private show(target: EventTarget | null): void {
    if (!(target instanceof HTMLElement)) return;
    const details = this.details.get(target);
    if (!details) return;
    this.tip.replaceChildren(...(details.kind === 'token' ? tokenDetails(details.token) : escalationDetails(details.escalation)));
    this.tip.hidden = false;
    const box = target.getBoundingClientRect();
    const parent = this.tip.offsetParent?.getBoundingClientRect() ?? { left: 0, top: 0 };
    this.tip.style.left = `${Math.max(0, box.left - parent.left)}px`;
    this.tip.style.top = `${box.bottom - parent.top + 4}px`;
  }

  private hide(): void {
    this.tip.hidden = true;
  }
}

function row(term: string, value: string): HTMLElement[] {
  return [Object.assign(document.createElement('dt'), { textContent: term }), Object.assign(document.createElement('dd'), { textContent: value })];
}

function visible(text: string): string {
  return JSON.stringify(text);
}

function tokenDetails(token: TokenItem): HTMLElement[] {
  const list = document.createElement('dl');
  list.append(
    ...row('source', token.source),
    ...row('logprob', Number.isFinite(token.logprob) ? `${token.logprob.toFixed(3)} (p ${(Math.exp(token.logprob) * 100).toFixed(1)}%)` : 'not scored'),
    ...row('draft position', token.draftPosition === undefined ? '—' : String(token.draftPosition)),
    ...row('token ids', token.tokenIds.join(', ')),
  );
  const out: HTMLElement[] = [Object.assign(document.createElement('strong'), { textContent: visible(token.text) }), list];
  if (token.alternatives.length > 0) {
    const table = document.createElement('table');
    table.className = 'alternatives';
    table.createCaption().textContent = 'alternatives';
    for (const alt of token.alternatives) {
      const tr = table.insertRow();
      tr.insertCell().textContent = visible(alt.token);
      tr.insertCell().textContent = alt.logprob.toFixed(3);
    }
    out.push(table);
  }
  return out;
}

function escalationDetails(escalation: WireEscalation): HTMLElement[] {
  const list = document.createElement('dl');
  list.append(
    ...row('status', escalation.status),
    ...row('reason', escalation.reason ?? '—'),
    ...row('latency', `${escalation.latency_ms.toFixed(0)} ms`),
    ...row('attempts', String(escalation.attempts)),
    ...row('frontier tokens', String(escalation.frontier_tokens)),
    ...row('spliced tokens', String(escalation.spliced_tokens)),
  );
  return [Object.assign(document.createElement('strong'), { textContent: 'escalation to the frontier' }), list];
}

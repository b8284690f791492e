import { allSettings, describeRange, inRange, type SettingGroup, type SettingSpec } from '../../src/contract/request-settings.js';

/**
 * The request settings part of the playground's form, built from the one description of every request setting
 * (src/contract/request-settings.ts): each setting an input named by its wire name, with its range, default and
 * meaning, checked with the same `inRange` the server uses. An empty input is left out of the request, so the
 * server's configured default applies.
 */

/** Settings shown open, in this order; the rest sit in their group's collapsed fieldset. */
const PRIMARY = ['temperature', 'max_tokens', 'seed', 'top_logprobs', 'route'];
const GROUP_TITLES: Record<SettingGroup, string> = { request: 'Request', sampling: 'Sampling', speculation: 'Speculation (γ bounds)', escalation: 'Escalation thresholds' };

/** A setting as a form field. */
interface Field {
  readonly group: SettingGroup;
  readonly wire: string;
  readonly spec: SettingSpec;
}

const FIELDS: readonly Field[] = allSettings();

/** The wire fields of one request, placed where the OpenAI body and the `specroute` extension want them. */
export interface SettingsBody {
  /** Top-level OpenAI body fields (`temperature`, `max_tokens`, …). */
  readonly body: Record<string, unknown>;
  /** Fields of the `specroute` extension object (`route`, `speculation: {…}`, `escalation: {…}`). */
  readonly extension: Record<string, unknown>;
}

/** A setting the user typed outside its range: the message names the field as the server's 400 would. */
export class SettingError extends Error {
  constructor(
    readonly wire: string,
    message: string,
  ) {
    super(message);
  }
}

function inputFor(field: Field): HTMLElement {
  const { spec, wire } = field;
  const label = document.createElement('label');
  label.title = `${spec.doc} (${describeRange(spec)}; default ${spec.default ?? 'per request'})`;
  const caption = document.createElement('span');
  caption.textContent = wire;
  label.append(caption);
  if (spec.kind === 'boolean') {
    label.classList.add('check');
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.name = wire;
    input.checked = spec.default;
    label.prepend(input);
    return label;
  }
  if (spec.kind === 'enum') {
    const select = document.createElement('select');
    select.name = wire;
    const unset = document.createElement('option');
    unset.value = '';
    unset.textContent = `server default`;
    select.append(unset, ...spec.values.map((value) => Object.assign(document.createElement('option'), { value, textContent: value })));
    label.append(select);
    return label;
  }
  const input = document.createElement('input');
  input.type = 'number';
  input.name = wire;
  input.inputMode = spec.kind === 'integer' ? 'numeric' : 'decimal';
  input.min = String(spec.min);
  if (spec.max !== undefined) input.max = String(spec.max);
  input.step = spec.kind === 'integer' ? '1' : 'any';
  input.placeholder = spec.default === undefined ? 'random' : String(spec.default);
  label.append(input);
  return label;
}

/** Builds the settings fieldsets into `container`. */
export function renderSettings(container: HTMLElement): void {
  const primary = document.createElement('fieldset');
  primary.className = 'settings primary';
  primary.append(Object.assign(document.createElement('legend'), { textContent: 'Settings' }));
  for (const wire of PRIMARY) {
    const field = FIELDS.find((f) => f.wire === wire);
    if (field) primary.append(inputFor(field));
  }
  container.append(primary);
  for (const group of ['sampling', 'speculation', 'escalation', 'request'] as const) {
    const fields = FIELDS.filter((f) => f.group === group && !PRIMARY.includes(f.wire));
    if (fields.length === 0) continue;
    const details = document.createElement('details');
    details.className = 'settings';
    details.dataset.group = group;
    const summary = document.createElement('summary');
    summary.textContent = GROUP_TITLES[group];
    const fieldset = document.createElement('fieldset');
    fieldset.append(Object.assign(document.createElement('legend'), { className: 'visually-hidden', textContent: GROUP_TITLES[group] }));
    if (group === 'speculation' || group === 'escalation') fieldset.append(toggleFor(group));
    fieldset.append(...fields.map(inputFor));
    details.append(summary, fieldset);
    container.append(details);
  }
}

/** The on/off switch of a group that can be turned off as a whole (`speculation: false`, `escalation: false`). */
function toggleFor(group: 'speculation' | 'escalation'): HTMLElement {
  const label = document.createElement('label');
  label.className = 'check';
  label.title = group === 'speculation' ? 'Off: the verifier decodes alone (speculation: false)' : 'Off: no span of this request goes to the frontier (escalation: false)';
  const input = document.createElement('input');
  input.type = 'checkbox';
  input.name = `${group}.enabled`;
  input.checked = true;
  label.append(input, Object.assign(document.createElement('span'), { textContent: `${group} on` }));
  return label;
}

/** Reads the settings from the form: only the fields the user set, each checked against its range. */
export function readSettings(form: HTMLFormElement): SettingsBody {
  const body: Record<string, unknown> = {};
  const extension: Record<string, unknown> = {};
  const groups: Partial<Record<'speculation' | 'escalation', Record<string, unknown> | false>> = {};
  for (const group of ['speculation', 'escalation'] as const) {
    const toggle = form.elements.namedItem(`${group}.enabled`);
    if (toggle instanceof HTMLInputElement && !toggle.checked) groups[group] = false;
  }
  for (const { group, wire, spec } of FIELDS) {
    const element = form.elements.namedItem(wire);
    if (!(element instanceof HTMLInputElement || element instanceof HTMLSelectElement)) continue;
    let value: unknown;
    if (spec.kind === 'boolean') {
      if (!(element instanceof HTMLInputElement) || element.checked === spec.default) continue;
      value = element.checked;
    } else if (element.value.trim() === '') continue;
    else value = spec.kind === 'enum' ? element.value : Number(element.value);
    if (!inRange(spec, value)) throw new SettingError(wire, `${wire} must be ${describeRange(spec)}`);
    if (group === 'speculation' || group === 'escalation') {
      const current = groups[group];
      if (current === false) continue; // turned off as a whole
      groups[group] = { ...current, [spec.name]: value };
    } else if (spec.http === 'body') body[spec.name] = value;
    else extension[spec.name] = value;
  }
  return { body, extension: { ...extension, ...groups } };
}

import { apiHeaders, apiKey, setApiKey } from '../shared/api-key.js';
import { markCurrentPage } from '../shared/page-header.js';
import { ApiError, apiError, streamJson } from '../shared/sse.js';
import { readChunk } from './chunk-reader.js';
import { endpoint, requestBody, type Mode } from './request-body.js';
import { readSettings, renderSettings, SettingError } from './settings-form.js';
import { describeRoute, StatsView } from './stats-view.js';
import { TokenView } from './token-view.js';
import type { WireSummary, WireUsage } from '../../src/streaming/openai-wire.js';
import './playground.css';

function $<T extends HTMLElement = HTMLElement>(selector: string): T {
  const element = document.querySelector<T>(selector);
  if (!element) throw new Error(`playground: ${selector} is missing from the page`);
  return element;
}

markCurrentPage('playground');
const form = $<HTMLFormElement>('#request');
const keyForm = $<HTMLFormElement>('#key-form');
const send = form.querySelector<HTMLButtonElement>('button[type=submit]')!;
const stop = form.querySelector<HTMLButtonElement>('button[name=stop]')!;
const forgetKey = $<HTMLButtonElement>('button[name=forget-key]');
const output = $('#output');
const status = $('#status');
const routeLine = $('#route');
const requestError = $('#request-error');
renderSettings($('#settings'));
const view = new TokenView($('#reply'), $('#token-tip'));
const stats = new StatsView($('#stats'));

/** The served model's id, once the server has answered `GET /v1/models`. */
let model: string | null = null;
/** The request in flight. */
let controller: AbortController | null = null;

function setState(state: 'idle' | 'streaming' | 'done' | 'stopped' | 'error'): void {
  output.dataset.state = state;
  send.disabled = state === 'streaming' || model === null;
  stop.disabled = state !== 'streaming';
}

function showAuth(message: string): void {
  model = null;
  $('#auth').hidden = false;
  $('#auth-error').textContent = message;
  forgetKey.hidden = apiKey() === null;
  setState('idle');
  keyForm.querySelector<HTMLInputElement>('input[name=api-key]')!.focus();
}

/** Finds the served model; asks for an API key first when the server wants one and the tab holds none. */
async function connect(): Promise<void> {
  const server = (await (await fetch('/ui/server.json')).json()) as { auth: boolean };
  if (server.auth && apiKey() === null) return showAuth('');
  const response = await fetch('/v1/models', { headers: apiHeaders() });
  if (response.status === 401) return showAuth('That key was refused.');
  if (!response.ok) {
    requestError.textContent = (await apiError(response)).message;
    return;
  }
  const models = (await response.json()) as { data: Array<{ id: string }> };
  model = models.data[0]?.id ?? null;
  $('#auth').hidden = true;
  forgetKey.hidden = apiKey() === null;
  $('#model').textContent = model ? `model: ${model}` : 'no model served';
  send.disabled = controller !== null || model === null;
}

function mode(): Mode {
  return (form.elements.namedItem('mode') as RadioNodeList).value === 'completion' ? 'completion' : 'chat';
}

/** `response_format` from the form; a schema that is not JSON is refused here, naming the field. */
function responseFormat(): Record<string, unknown> | undefined {
  const type = (form.elements.namedItem('response_format') as HTMLSelectElement).value;
  if (type === '') return undefined;
  if (type === 'json_object') return { type };
  const text = (form.elements.namedItem('json_schema') as HTMLTextAreaElement).value;
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (error) {
    throw new SettingError('json_schema', `response_format.json_schema.schema is not JSON: ${(error as Error).message}`);
  }
  return { type, json_schema: { name: 'playground', schema, strict: true } };
}

async function generate(): Promise<void> {
  if (controller || model === null) return;
  requestError.textContent = '';
  let body: Record<string, unknown>;
  const currentMode = mode();
  try {
    const settings = readSettings(form);
    body = requestBody({
      mode: currentMode,
      model,
      prompt: (form.elements.namedItem('prompt') as HTMLTextAreaElement).value,
      system: (form.elements.namedItem('system') as HTMLTextAreaElement).value.trim(),
      settings,
      responseFormat: responseFormat(),
    });
  } catch (error) {
    if (!(error instanceof SettingError)) throw error;
    requestError.textContent = error.message;
    (form.elements.namedItem(error.wire) as HTMLElement | null)?.focus();
    return;
  }
  view.reset();
  stats.reset();
  routeLine.textContent = '';
  status.textContent = 'generating…';
  const request = new AbortController();
  controller = request;
  setState('streaming');
  const started = performance.now();
  let firstToken: number | null = null;
  let summary: WireSummary | null = null;
  let usage: WireUsage | null = null;
  let finish = '';
  try {
    const chunks = streamJson(endpoint(currentMode), body, {
      headers: apiHeaders(),
      signal: request.signal,
      onResponse: (response) => (routeLine.textContent = describeRoute(null, response.headers.get('x-specroute-route'))),
    });
    for await (const chunk of chunks) {
      for (const item of readChunk(chunk)) {
        if (item.kind === 'token') {
          firstToken ??= performance.now();
          view.token(item);
        } else if (item.kind === 'escalation') view.escalation(item.escalation);
        else if (item.kind === 'finish') finish = item.reason;
        else if (item.kind === 'summary') summary = item.summary;
        else usage = item.usage;
      }
    }
    if (summary) {
      stats.show(summary, usage);
      routeLine.textContent = describeRoute(summary.route, null) || routeLine.textContent;
    }
    const ttft = firstToken === null ? '' : `, first token after ${(firstToken - started).toFixed(0)} ms`;
    status.textContent = `finished (${finish || 'unknown'}): ${view.count} tokens in ${(performance.now() - started).toFixed(0)} ms${ttft}`;
    setState('done');
  } catch (error) {
    if (request.signal.aborted) {
      status.textContent = `stopped after ${view.count} tokens`;
      setState('stopped');
    } else {
      const message = error instanceof ApiError ? `${error.message}${error.param ? ` (param: ${error.param})` : ''}` : `the stream broke: ${(error as Error).message}`;
      requestError.textContent = message;
      status.textContent = 'failed';
      setState('error');
      if (error instanceof ApiError && error.status === 401) showAuth('That key was refused.');
    }
  } finally {
    controller = null;
    send.disabled = model === null;
    stop.disabled = true;
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void generate();
});
stop.addEventListener('click', () => controller?.abort());
form.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    form.requestSubmit();
  }
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && controller) controller.abort();
});
form.addEventListener('change', (event) => {
  if ((event.target as HTMLInputElement).name === 'mode') $('#system-label').hidden = mode() !== 'chat';
});
keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = keyForm.querySelector<HTMLInputElement>('input[name=api-key]')!;
  setApiKey(input.value.trim());
  input.value = '';
  void connect();
});
// The page's one submit button is Send (`button[type=submit]`); Enter in the key field or this button submits the key.
keyForm.querySelector('button[name=use-key]')!.addEventListener('click', () => keyForm.requestSubmit());
forgetKey.addEventListener('click', () => {
  setApiKey(null);
  void connect();
});
setState('idle');
void connect().catch((error: unknown) => {
  requestError.textContent = `cannot reach the server: ${(error as Error).message}`;
});

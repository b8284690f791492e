/**
 * The load benchmark's clients: one streamed generation over SSE (`POST /v1/completions`, `stream: true`), over
 * gRPC (`specroute.v1.GenerationService/Generate`), or in-process (`engine.generate` on the server's own engine).
 * Each records when every token chunk arrived, so that time-to-first-token and inter-token latency are measured
 * the same way on all three.
 */
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { SseParser } from '../../src/escalation/sse-parser.js';
import { GenerateRequestSchema, GenerationService, ListModelsRequestSchema, type GenerateResponse, type ListModelsResponse } from '../../src/gen/specroute/v1/generate_pb.js';
import { makeClientConstructor } from '../../src/ingress/grpc/service-adapter.js';
import { requestSettings } from '../../src/contract/request-settings.js';
import type { SpeculativeEngine } from '../../src/pipeline/engine.js';

export type Transport = 'sse' | 'grpc' | 'in-process';

/**
 * The speculation a request asks for: `undefined` sends none (the server's settings), `false` turns it off
 * (verifier-only decoding), an object overrides the server's settings (camelCase fields of the request contract,
 * `src/contract/request-settings.ts`; the wire names are the same words, `p_min` for `pMin`).
 */
export type SpeculationRequest = false | { readonly min?: number; readonly max?: number; readonly initial?: number; readonly adaptive?: boolean; readonly pMin?: number } | undefined;

/** The OpenAI body's `specroute.speculation`: `false`, or the settings by wire name. */
export function sseSpeculation(speculation: Exclude<SpeculationRequest, undefined>): false | Record<string, number | boolean> {
  if (speculation === false) return false;
  const wire: Record<string, number | boolean> = {};
  for (const [field, value] of Object.entries(speculation) as Array<[keyof typeof requestSettings.speculation, number | boolean | undefined]>) {
    if (value !== undefined) wire[requestSettings.speculation[field].name] = value;
  }
  return wire;
}

/** The proto's `SpeculationOverride` fields: `disable`, or the settings (its fields are named like the contract's). */
export function grpcSpeculation(speculation: Exclude<SpeculationRequest, undefined>): { disable: boolean; min?: number; max?: number; initial?: number; adaptive?: boolean; pMin?: number } {
  return speculation === false ? { disable: true } : { disable: false, ...speculation };
}

/** One generation to run. */
export interface StreamRequest {
  readonly prompt: string;
  readonly maxTokens: number;
  readonly seed: number;
  /** The speculation settings the request carries (none: the server's). */
  readonly speculation?: SpeculationRequest;
  /** Aborts the request (its timeout). */
  readonly signal: AbortSignal;
}

/** The engine's own time split of one generation, in milliseconds (from its final stats). */
export interface EngineSplit {
  readonly totalMs: number;
  readonly prefillMs: number;
  readonly draftMs: number;
  readonly verifyMs: number;
  readonly otherMs: number;
  readonly acceptanceRate: number;
  readonly tokensPerPass: number;
}

/** What the client saw of one generation. Times are `performance.now()` milliseconds. */
export interface StreamResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly sentAt: number;
  readonly endAt: number;
  /** Arrival time of each chunk that carried at least one token. */
  readonly chunkTimes: readonly number[];
  /** Token ids in order, over all chunks. */
  readonly tokenIds: readonly number[];
  readonly engine?: EngineSplit;
  /** The HTTP status of a refused request (SSE). */
  readonly status?: number;
  /** Which tier answered and why, from the final chunk (SSE). */
  readonly route?: { readonly tier: string; readonly reason: string };
}

export interface Driver {
  readonly transport: Transport;
  stream(request: StreamRequest): Promise<StreamResult>;
  close(): Promise<void>;
}

/** Collects chunk arrivals; `finish` builds the result once. */
class Recorder {
  readonly sentAt = performance.now();
  readonly chunkTimes: number[] = [];
  readonly tokenIds: number[] = [];
  engine: EngineSplit | undefined;
  error: string | undefined;
  status: number | undefined;
  route: { tier: string; reason: string } | undefined;

  chunk(ids: readonly number[], at: number): void {
    if (ids.length === 0) return;
    this.chunkTimes.push(at);
    for (const id of ids) this.tokenIds.push(id);
  }

  finish(ok: boolean): StreamResult {
    return {
      ok: ok && this.error === undefined,
      ...(this.error !== undefined ? { error: this.error } : {}),
      sentAt: this.sentAt,
      endAt: performance.now(),
      chunkTimes: this.chunkTimes,
      tokenIds: this.tokenIds,
      ...(this.engine ? { engine: this.engine } : {}),
      ...(this.status !== undefined ? { status: this.status } : {}),
      ...(this.route ? { route: this.route } : {}),
    };
  }
}

interface SseChunk {
  error?: { message?: string };
  specroute?: {
    token_ids?: number[];
    route?: { tier: string; reason: string };
    stats?: { acceptance_rate: number; tokens_per_pass: number; time_ms: { total: number; prefill: number; draft: number; verify: number; other: number } };
  };
}

/**
 * OpenAI-compatible completions over SSE, with node:http and a keep-alive agent of its own (closed by `close`,
 * so that the process exits). The SSE framing is parsed by the same spec-following parser the frontier client uses.
 */
export class SseDriver implements Driver {
  readonly transport = 'sse' as const;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  private readonly endpoint: URL;

  constructor(
    baseUrl: string,
    private readonly model: string,
    private readonly apiKey: string | undefined,
  ) {
    this.endpoint = new URL('/v1/completions', baseUrl);
  }

  stream(request: StreamRequest): Promise<StreamResult> {
    const body = JSON.stringify({
      model: this.model,
      prompt: request.prompt,
      max_tokens: request.maxTokens,
      temperature: 0,
      seed: request.seed,
      stream: true,
      ignore_eos: true,
      ...(request.speculation !== undefined ? { specroute: { speculation: sseSpeculation(request.speculation) } } : {}),
    });
    return new Promise((resolve) => {
      const rec = new Recorder();
      let settled = false;
      let done = false;
      const settle = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        resolve(rec.finish(ok));
      };
      const req = http.request(
        this.endpoint,
        {
          method: 'POST',
          agent: this.agent,
          signal: request.signal,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            accept: 'text/event-stream',
            ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
          },
        },
        (res) => {
          res.setEncoding('utf8');
          if (res.statusCode !== 200) {
            let text = '';
            res.on('data', (t: string) => (text += t));
            res.on('end', () => {
              rec.status = res.statusCode;
              rec.error = `HTTP ${res.statusCode}: ${text.slice(0, 200)}`;
              settle(false);
            });
            return;
          }
          const parser = new SseParser();
          res.on('data', (text: string) => {
            const at = performance.now();
            for (const event of parser.push(text)) {
              if (event.data === '[DONE]') {
                done = true;
                continue;
              }
              let chunk: SseChunk;
              try {
                chunk = JSON.parse(event.data) as SseChunk;
              } catch {
                rec.error ??= `bad SSE data: ${event.data.slice(0, 100)}`;
                continue;
              }
              if (chunk.error) rec.error ??= chunk.error.message ?? 'error event';
              const sp = chunk.specroute;
              if (sp?.token_ids) rec.chunk(sp.token_ids, at);
              if (sp?.route) rec.route = { tier: sp.route.tier, reason: sp.route.reason };
              if (sp?.stats) {
                const t = sp.stats.time_ms;
                rec.engine = { totalMs: t.total, prefillMs: t.prefill, draftMs: t.draft, verifyMs: t.verify, otherMs: t.other, acceptanceRate: sp.stats.acceptance_rate, tokensPerPass: sp.stats.tokens_per_pass };
              }
            }
          });
          res.on('end', () => {
            if (!done) rec.error ??= 'the stream ended without data: [DONE]';
            settle(done);
          });
          res.on('error', (error) => {
            rec.error ??= error.message;
            settle(false);
          });
        },
      );
      req.on('error', (error) => {
        rec.error ??= error.name === 'AbortError' ? 'timed out (request timeout)' : error.message;
        settle(false);
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

type ServerStream<Res> = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<Res>;
type Unary<Res> = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Res) => void) => grpc.ClientUnaryCall;

/**
 * gRPC server streaming with the client built from the same generated descriptors the server uses. All
 * streams share one channel (one HTTP/2 connection), as a service holding one stub would.
 */
export class GrpcDriver implements Driver {
  readonly transport = 'grpc' as const;
  private readonly client: grpc.Client;

  constructor(
    address: string,
    private readonly model: string,
    private readonly apiKey: string | undefined,
  ) {
    const Client = makeClientConstructor(GenerationService);
    this.client = new Client(address, grpc.credentials.createInsecure());
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.apiKey) metadata.set('authorization', `Bearer ${this.apiKey}`);
    return metadata;
  }

  /** The served model ids (for external servers given no --model). */
  static listModels(address: string, apiKey: string | undefined, timeoutMs = 5000): Promise<string[]> {
    const driver = new GrpcDriver(address, '', apiKey);
    const method = (driver.client as unknown as { ListModels: Unary<ListModelsResponse> }).ListModels.bind(driver.client);
    return new Promise<string[]>((resolve, reject) => {
      method(create(ListModelsRequestSchema, {}), driver.metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(new Error(`gRPC ListModels on ${address}: ${error.message}`));
        else resolve((response?.models ?? []).map((m) => m.id));
      });
    }).finally(() => driver.client.close());
  }

  stream(request: StreamRequest): Promise<StreamResult> {
    const method = (this.client as unknown as { Generate: ServerStream<GenerateResponse> }).Generate.bind(this.client);
    return new Promise((resolve) => {
      const rec = new Recorder();
      let finalSeen = false;
      const call = method(
        create(GenerateRequestSchema, {
          model: this.model,
          input: { case: 'prompt', value: request.prompt },
          maxTokens: request.maxTokens,
          temperature: 0,
          seed: request.seed,
          ignoreEos: true,
          ...(request.speculation !== undefined ? { speculation: grpcSpeculation(request.speculation) } : {}),
        }),
        this.metadata(),
        {},
      );
      const onAbort = (): void => call.cancel();
      request.signal.addEventListener('abort', onAbort, { once: true });
      call.on('data', (m: GenerateResponse) => {
        const at = performance.now();
        if (m.event.case === 'chunk') rec.chunk(m.event.value.tokenIds, at);
        else if (m.event.case === 'final') {
          finalSeen = true;
          const s = m.event.value.stats;
          const t = s?.time;
          if (s && t) rec.engine = { totalMs: t.totalMs, prefillMs: t.prefillMs, draftMs: t.draftMs, verifyMs: t.verifyMs, otherMs: t.otherMs, acceptanceRate: s.acceptanceRate, tokensPerPass: s.tokensPerPass };
        }
      });
      call.on('error', () => undefined); // the status event carries it
      call.on('status', (status: grpc.StatusObject) => {
        request.signal.removeEventListener('abort', onAbort);
        if (status.code !== grpc.status.OK) rec.error ??= request.signal.aborted ? 'timed out (request timeout)' : `gRPC ${grpc.status[status.code]}: ${status.details}`;
        else if (!finalSeen) rec.error ??= 'the stream closed without a final message';
        resolve(rec.finish(status.code === grpc.status.OK && finalSeen));
      });
    });
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/**
 * The baseline: `engine.generate` called directly on the running server's engine, with the prompt tokenized as
 * the scheduler tokenizes a completions prompt (per request, as it does), and the same sampling settings as the wire requests.
 */
export class InProcessDriver implements Driver {
  readonly transport = 'in-process' as const;
  constructor(private readonly engine: SpeculativeEngine) {}

  async stream(request: StreamRequest): Promise<StreamResult> {
    const rec = new Recorder();
    try {
      const promptTokens = this.engine.encodePrompt(request.prompt); // as the scheduler does for every request
      for await (const event of this.engine.generateFromTokens(promptTokens, { maxTokens: request.maxTokens, sampling: { temperature: 0, seed: request.seed }, ignoreEos: true, ...(request.speculation !== undefined ? { speculation: request.speculation } : {}) }, { signal: request.signal })) {
        if (event.kind === 'token') rec.chunk(event.tokenIds, performance.now());
        else if (event.kind === 'done') {
          const s = event.stats;
          const t = s.timeMs;
          rec.engine = { totalMs: t.total, prefillMs: t.prefill, draftMs: t.draft, verifyMs: t.verify, otherMs: t.other, acceptanceRate: s.acceptanceRate, tokensPerPass: s.tokensPerPass };
        }
      }
      return rec.finish(true);
    } catch (error) {
      rec.error = request.signal.aborted ? 'timed out (request timeout)' : (error as Error).message;
      return rec.finish(false);
    }
  }

  async close(): Promise<void> {}
}

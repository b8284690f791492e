/** specroute's programmatic API: the engine, its options and its event stream. */
export { SpeculativeEngine, type EngineOptions } from './pipeline/engine.js';
export type { SpeculationOptions } from './pipeline/adaptive-draft-length.js';
export type { GenerationRequest, PromptInput, ChatMessage } from './contract/generation-request.js';
export type { Generator, EncodedPrompt, GenerateOptions } from './contract/generator.js';
export { requestSettings } from './contract/request-settings.js';
export type { SpeculationStats } from './events/speculation-stats.js';
export type { TokenEvent, TokenEventToken, TokenEventDone, TokenSource, FinishReason, Usage } from './events/token-event.js';
export type { ModelLoadOptions, ModelInfo } from './backends/types.js';
export type { SamplingParams } from './sampling/params.js';
export { acceptDraft, type AcceptanceResult } from './pipeline/acceptance.js';
export { makeDraft, type MakeDraftOptions, type MakeDraftResult } from './models/draft-make.js';
export { SpecrouteError, errorRegistry, type ErrorCode } from './errors/registry.js';

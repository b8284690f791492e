import { SpecrouteError } from '../errors/registry.js';

/**
 * A model named by URI that could not be fetched or did not check out (code `model_download_failed`). The message
 * names the URI; a sha256 mismatch carries both digests.
 */
export class ModelDownloadError extends SpecrouteError {
  /** The URI as written. */
  readonly uri: string;
  /** The sha256 the hub (or the URL's `#sha256=`) reported, when the failure is a mismatch. */
  readonly expectedSha256: string | undefined;
  /** The sha256 of the bytes received, when the failure is a mismatch. */
  readonly actualSha256: string | undefined;

  constructor(uri: string, reason: string, options: { cause?: unknown; param?: string; expectedSha256?: string; actualSha256?: string } = {}) {
    super('model_download_failed', `cannot download ${uri}: ${reason}`, {
      ...(options.param !== undefined ? { param: options.param } : {}),
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
    });
    this.uri = uri;
    this.expectedSha256 = options.expectedSha256;
    this.actualSha256 = options.actualSha256;
  }
}

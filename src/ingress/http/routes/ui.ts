import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ServerContext } from '../../server-context.js';
import { SpecrouteError } from '../../../errors/registry.js';
import { packageRoot } from '../../../package-root.js';

/** Where `npm run build` puts the browser UI (scripts/build-ui.mjs). */
export const UI_DIR = join(packageRoot(), 'dist', 'ui');

/**
 * What the pages may load: only this server (no CDN, no inline script), which also keeps a pasted API key from
 * leaving for another origin. uPlot sets element styles from script, which `style-src 'self'` allows.
 */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/**
 * The browser UI, open without an API key (the page asks for one and sends it with its API calls):
 * - `GET /`: the playground, `GET /dashboard`: the live dashboard;
 * - `GET /ui/*`: their bundles, stylesheets and icon; `GET /favicon.ico`: the icon;
 * - `GET /ui/server.json`: `{auth}`, whether the API asks for a key.
 *
 * Served from dist/ui, which the build writes; without it the pages are a 404 saying so. Off with `server.ui: false`.
 */
export const uiRoute: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  await app.register(fastifyStatic, { root: UI_DIR, prefix: '/ui/', index: false, wildcard: true });
  const page = (file: string) => async (_request: unknown, reply: FastifyReply) => {
    if (!existsSync(join(UI_DIR, file))) throw new SpecrouteError('not_found', `the web UI is not built (${join(UI_DIR, file)} is missing): run \`npm run build\``);
    return reply.header('content-security-policy', CONTENT_SECURITY_POLICY).header('cache-control', 'no-cache').sendFile(file);
  };
  app.get('/', page('index.html'));
  app.get('/dashboard', page('dashboard.html'));
  // Whether the API wants a key, so the page asks for one before its first call instead of after a 401.
  app.get('/ui/server.json', async () => ({ auth: ctx.keys.enabled }));
  app.get('/favicon.ico', async (_request, reply) => reply.type('image/svg+xml').sendFile('favicon.svg'));
};

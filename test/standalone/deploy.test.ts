/**
 * deploy/: the compose file, nginx.conf and the Kubernetes manifests parse, and agree with the server they deploy:
 * ports, probe paths, the metric the HPA scales on, environment variable names, shutdown grace and timeouts are
 * read from the server's own code and configuration (schema defaults, load-config's variable mapping, the HTTP
 * app, the metrics registry), never written a second time here.
 *
 * The nginx check runs Debian's `nginx -t` on nginx.conf. Outside CI it is skipped, saying so, when nginx is not
 * installed; with `CI` set it fails instead (`.ci/run` installs it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { envPath, loadConfig } from '../../src/config/load-config.js';
import { configSchema } from '../../src/config/schema.js';
import { buildHttpApp } from '../../src/ingress/http/app.js';
import { ApiKeyRing } from '../../src/ingress/auth.js';
import type { ServerContext } from '../../src/ingress/server-context.js';
import { Metrics } from '../../src/observability/metrics.js';
import { scratchDir } from '../helpers/models.js';

const REPO = resolve(import.meta.dirname, '../..');
const DEPLOY = join(REPO, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
const CONFIG_FILE = join(K8S, 'specroute.yaml');

/** A parsed YAML mapping, read field by field (the assertions check the shapes). */
type Node = Record<string, any>;

/** Every document of a YAML file (merge keys on, as compose reads them); a syntax error fails the test. */
function yamlDocs(path: string): Node[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { merge: true });
  if (!Array.isArray(docs)) return [];
  return docs.map((doc) => {
    expect(doc.errors.map(String), path).toEqual([]);
    return doc.toJS() as Node;
  });
}

const manifests = readdirSync(K8S)
  .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
  .flatMap((file) => (file === 'specroute.yaml' ? [] : yamlDocs(join(K8S, file)).map((doc) => ({ file, doc }))));
const manifest = (kind: string, name: string): Node => {
  const found = manifests.find(({ doc }) => doc.kind === kind && doc.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return found.doc;
};
const kustomization = yamlDocs(join(K8S, 'kustomization.yaml'))[0]!;
const deployment = manifest('Deployment', 'specroute');
const pod = deployment.spec.template.spec as Node;
const container = (pod.containers as Node[]).find((c) => c.name === 'specroute')!;
const initContainer = (pod.initContainers as Node[])[0]!;
const compose = yamlDocs(join(DEPLOY, 'compose.yaml'))[0]!;
const services = compose.services as Record<string, Node>;

/** The deploy config as the server reads it, with `env` (literal values only) on top. */
const rawDeployConfig = yamlDocs(CONFIG_FILE)[0]!;
const literalEnv = (env: Node[] = []): Record<string, string> => Object.fromEntries(env.filter((e) => 'value' in e).map((e) => [e.name, String(e.value)]));
/** Compose's `${VAR:-default}` interpolation, with no variable set. */
const composeEnv = (env: Record<string, unknown> = {}): Record<string, string> =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z0-9_]+(?::?-([^}]*))?\}/g, (_, d: string | undefined) => d ?? '')]));
const k8sConfig = loadConfig(CONFIG_FILE, {}, literalEnv(container.env));
const composeConfig = loadConfig(CONFIG_FILE, {}, composeEnv(services.specroute!.environment));
/** The server's defaults, from the schema. */
const defaults = configSchema.parse({ model: { verifier: { path: 'm.gguf' } } });

/** `30s`, `5m`, `1m30s`, `330` (seconds) → seconds. */
function seconds(duration: string | number): number {
  if (typeof duration === 'number') return duration;
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)?/g)];
  expect(parts.map((p) => p[0]).join(''), `duration ${duration}`).toBe(duration.replace(/\s+/g, ''));
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit ?? 's']!, 0);
}

/** A size in nginx's notation (`4m`, `512k`, `1048576`) → bytes. */
const bytes = (size: string): number => Number(size.slice(0, /[kmg]$/i.test(size) ? -1 : undefined)) * ({ k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[size.slice(-1).toLowerCase()] ?? 1);

/** An nginx directive: its name, arguments and block (when it has one). */
interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

/** nginx.conf as a tree of directives (quotes, comments and nesting; enough for this file). */
function parseNginx(text: string): Directive[] {
  const tokens = [...text.replace(/#[^\n]*/g, '').matchAll(/"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"']+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]!);
  let at = 0;
  const block = (): Directive[] => {
    const out: Directive[] = [];
    while (at < tokens.length && tokens[at] !== '}') {
      const words: string[] = [];
      while (at < tokens.length && tokens[at] !== ';' && tokens[at] !== '{' && tokens[at] !== '}') words.push(tokens[at++]!);
      const end = tokens[at++];
      if (words.length === 0) throw new Error(`nginx.conf: a stray ${end}`);
      const [name, ...args] = words as [string, ...string[]];
      if (end === '{') {
        out.push({ name, args, block: block() });
        expect(tokens[at++], `nginx.conf: the block of ${name} closes`).toBe('}');
      } else {
        expect(end, `nginx.conf: ${name} ends with ;`).toBe(';');
        out.push({ name, args });
      }
    }
    return out;
  };
  const tree = block();
  expect(at, 'nginx.conf: every token is read (no stray })').toBe(tokens.length);
  return tree;
}
const all = (tree: Directive[] | undefined, name: string): Directive[] => (tree ?? []).filter((d) => d.name === name);
const one = (tree: Directive[] | undefined, name: string): Directive => {
  const found = all(tree, name);
  expect(found.length, `exactly one ${name}`).toBe(1);
  return found[0]!;
};

const NGINX_CONF = readFileSync(join(DEPLOY, 'nginx.conf'), 'utf8');
const nginx = parseNginx(NGINX_CONF);
const http = one(nginx, 'http').block!;
const upstreams = new Map(all(http, 'upstream').map((u) => [u.args[0]!, u.block!]));
/** The nginx `server` block whose `location /` passes with `pass` (proxy_pass / grpc_pass). */
function serverPassingWith(pass: string): { server: Directive[]; location: Directive[]; upstream: Directive[] } {
  for (const server of all(http, 'server')) {
    const location = all(server.block, 'location').find((l) => all(l.block, pass).length > 0);
    if (!location) continue;
    const target = one(location.block, pass).args[0]!;
    const name = target.replace(/^\w+:\/\//, '');
    const upstream = upstreams.get(name);
    if (!upstream) throw new Error(`nginx.conf: ${pass} ${target} names no upstream`);
    return { server: server.block!, location: location.block!, upstream };
  }
  throw new Error(`nginx.conf: no server passes with ${pass}`);
}

describe('deploy/ parses', () => {
  it('every YAML file under deploy/ is valid YAML', () => {
    const files = [join(DEPLOY, 'compose.yaml'), ...readdirSync(K8S).map((f) => join(K8S, f))].filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) expect(yamlDocs(file).length, file).toBeGreaterThan(0);
  });

  it("the deploy config (Kubernetes' ConfigMap, compose's mount) loads with the variables each sets, keeping the default ports", () => {
    for (const config of [k8sConfig, composeConfig]) {
      expect(config.server.port).toBe(defaults.server.port);
      expect(config.server.grpcPort).toBe(defaults.server.grpcPort);
      expect(config.server.host).toBe('0.0.0.0');
    }
  });
});

describe('environment variables', () => {
  const stateVariables = (env: Record<string, string>): { url: string; prefix: string } => {
    const named = (path: string): [string, string] => {
      const found = Object.entries(env).filter(([name]) => name.startsWith('SPECROUTE_') && envPath(name).join('.') === path);
      expect(found.length, `one variable sets ${path}`).toBe(1);
      return found[0]!;
    };
    return { url: named('state.redis.url')[1], prefix: named('state.redis.keyPrefix')[1] };
  };

  it('load-config maps the Redis variables to state.redis.url and state.redis.keyPrefix', () => {
    expect(envPath('SPECROUTE_STATE__REDIS__URL')).toEqual(['state', 'redis', 'url']);
    expect(envPath('SPECROUTE_STATE__REDIS__KEY_PREFIX')).toEqual(['state', 'redis', 'keyPrefix']);
    expect(envPath('SPECROUTE_MODELS_DIR')).toEqual(['modelsDir']);
    expect(envPath('SPECROUTE_CACHE_DIR')).toEqual(['cacheDir']);
  });

  it('every SPECROUTE_ variable set in deploy/ names a config key', () => {
    const topLevel = new Set(Object.keys(configSchema.shape));
    const names = [...(container.env as Node[]), ...(initContainer.env as Node[])].map((e) => e.name as string);
    names.push(...Object.keys(services.specroute!.environment), ...Object.keys(services.pull!.environment));
    for (const name of names.filter((n) => n.startsWith('SPECROUTE_'))) expect(topLevel, name).toContain(envPath(name)[0]);
  });

  it('the replicas reach the Redis of their deployment, by the Redis service name and port', () => {
    const redisService = manifest('Service', 'redis');
    for (const [where, env, host, port] of [
      ['kubernetes', literalEnv(container.env), redisService.metadata.name, redisService.spec.ports[0].port],
      ['compose', composeEnv(services.specroute!.environment), 'redis', 6379],
    ] as const) {
      const { url, prefix } = stateVariables(env);
      const parsed = new URL(url);
      expect(parsed.protocol, where).toBe('redis:');
      expect(parsed.hostname, where).toBe(host);
      expect(Number(parsed.port || 6379), where).toBe(port);
      expect(prefix, where).toBe('specroute:');
    }
    expect(services.redis!.image).toMatch(/^redis:7(\b|$)/);
    const redisPod = manifest('Deployment', 'redis').spec.template.spec;
    expect(redisPod.containers[0].image).toMatch(/^redis:7(\b|$)/);
    expect(redisPod.containers[0].ports[0].containerPort).toBe(6379);
    expect(redisService.spec.selector).toEqual(manifest('Deployment', 'redis').spec.selector.matchLabels);
  });

  it('the server reads the Redis URL and key prefix from these variables', () => {
    const { url, prefix } = stateVariables(literalEnv(container.env));
    expect(k8sConfig.state.redis).toMatchObject({ url, keyPrefix: prefix });
  });
});

describe('Kubernetes manifests', () => {
  it('the kustomization lists every manifest present, and only those', () => {
    const listed = [...(kustomization.resources as string[]), ...(kustomization.configMapGenerator as Node[]).flatMap((g) => g.files as string[])].map((f) => f.replace(/^.*=/, ''));
    const present = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect([...listed].sort()).toEqual([...present].sort());
    for (const { file, doc } of manifests.filter((m) => m.file !== 'kustomization.yaml')) {
      expect(doc.apiVersion, file).toBeTruthy();
      expect(doc.kind, file).toBeTruthy();
    }
  });

  it("the ConfigMap holding specroute.yaml is the one the Deployment mounts, at serve's --config", () => {
    const generator = (kustomization.configMapGenerator as Node[]).find((g) => (g.files as string[]).includes('specroute.yaml'))!;
    const volume = (pod.volumes as Node[]).find((v) => v.configMap?.name === generator.name);
    expect(volume, `a volume of ConfigMap ${generator.name}`).toBeDefined();
    const mount = (container.volumeMounts as Node[]).find((m) => m.name === volume!.name)!;
    expect(container.args).toEqual(['serve', '--config', `${mount.mountPath}/specroute.yaml`]);
  });

  it('images: specroute (set by the kustomization) for the server and the pull init container, redis:7 for Redis', () => {
    expect(container.image).toBe('specroute');
    expect(initContainer.image).toBe(container.image);
    expect((kustomization.images as Node[]).map((i) => i.name)).toContain(container.image);
  });

  it('container ports are the config ports; the Service exposes them by name with an appProtocol', () => {
    const ports = Object.fromEntries((container.ports as Node[]).map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ http: k8sConfig.server.port, grpc: k8sConfig.server.grpcPort });
    const service = manifest('Service', 'specroute');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    const byName = Object.fromEntries((service.spec.ports as Node[]).map((p) => [p.name, p]));
    expect(byName.http).toMatchObject({ port: k8sConfig.server.port, targetPort: 'http', appProtocol: 'http' });
    expect(byName.grpc).toMatchObject({ port: k8sConfig.server.grpcPort, targetPort: 'grpc' });
    expect(byName.grpc!.appProtocol).toMatch(/^(kubernetes\.io\/h2c|grpc)$/);
  });

  it('probes: readiness on /ready, liveness and startup on /health, on the HTTP port; the paths answer as probes need', async () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/health', port: 'http' });
    expect(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold).toBeGreaterThanOrEqual(120);
    const annotations = deployment.spec.template.metadata.annotations as Record<string, string>;
    expect(Number(annotations['prometheus.io/port'])).toBe(k8sConfig.server.port);

    // The server's own HTTP app, with an API key set (probes and scrapes carry none).
    let ready = false;
    const ctx = { metrics: new Metrics(), keys: new ApiKeyRing(['sk-deploy-test-0123456789']), maxBodyBytes: 1 << 20, heartbeatSeconds: 15, ui: false, models: [], ready: () => ready };
    const app = await buildHttpApp(ctx as unknown as ServerContext, { logger: false });
    try {
      const get = async (url: string): Promise<number> => (await app.inject({ method: 'GET', url })).statusCode;
      expect(await get(container.livenessProbe.httpGet.path)).toBe(200);
      expect(await get(container.readinessProbe.httpGet.path)).toBe(503); // models not loaded yet / shutting down
      ready = true;
      expect(await get(container.readinessProbe.httpGet.path)).toBe(200);
      const scrape = await app.inject({ method: 'GET', url: annotations['prometheus.io/path']! });
      expect(scrape.statusCode).toBe(200);
      const hpaMetric = manifest('HorizontalPodAutoscaler', 'specroute').spec.metrics.find((m: Node) => m.type === 'Pods').pods.metric.name;
      expect(scrape.body).toMatch(new RegExp(`^${hpaMetric} `, 'm'));
    } finally {
      await app.close();
    }
  });

  it("terminationGracePeriodSeconds covers the preStop pause, the drain and the gRPC close (the server's shutdown grace, twice)", () => {
    const preStop = pod.containers[0].lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const pause = Number(preStop[1]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(pause + (2 * k8sConfig.server.shutdownGraceMs) / 1000);
  });

  it('the init container pulls the config\'s model URI into the volume the server reads as its cacheDir', () => {
    const uri = rawDeployConfig.model.verifier.path as string;
    expect(uri).toMatch(/^hf:[^/]+\/[^/]+\/.+\.gguf$/);
    expect(initContainer.args).toEqual(['pull', uri]);
    const models = (pod.volumes as Node[]).find((v) => v.persistentVolumeClaim)!;
    expect(models.persistentVolumeClaim.claimName).toBe(manifest('PersistentVolumeClaim', models.persistentVolumeClaim.claimName).metadata.name);
    for (const c of [initContainer, container]) {
      const mount = (c.volumeMounts as Node[]).find((m) => m.name === models.name)!;
      expect(literalEnv(c.env).SPECROUTE_CACHE_DIR, c.name).toBe(mount.mountPath);
    }
    expect(k8sConfig.cacheDir).toBe(literalEnv(container.env).SPECROUTE_CACHE_DIR);
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsUser);
  });

  it('resources: the server requests CPU (the HPA target is a share of it) and has a memory limit', () => {
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
  });

  it('the HPA (autoscaling/v2) scales the Deployment on the queue-depth gauge the server exports, and on CPU', () => {
    const hpa = manifest('HorizontalPodAutoscaler', 'specroute');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(deployment.spec.replicas, 'the HPA owns the replica count').toBeUndefined();
    const pods = (hpa.spec.metrics as Node[]).filter((m) => m.type === 'Pods');
    expect(pods).toHaveLength(1);
    const name = pods[0]!.pods.metric.name as string;
    expect(name).toBe('specroute_queue_depth');
    const metric = new Metrics().registry.getSingleMetric(name);
    expect(metric, `the server exports ${name}`).toBeDefined();
    expect(metric!.constructor.name).toBe('Gauge');
    expect(Number(pods[0]!.pods.target.averageValue)).toBeLessThan(k8sConfig.limits.maxQueue);
    expect((hpa.spec.metrics as Node[]).find((m) => m.type === 'Resource')?.resource.name).toBe('cpu');
  });
});

describe('compose', () => {
  const specroute = services.specroute!;

  it('runs at least two specroute replicas built from the repository Dockerfile, the pull job from the same image', () => {
    expect(specroute.deploy.replicas).toBeGreaterThanOrEqual(2);
    const context = resolve(DEPLOY, specroute.build.context as string);
    expect(context).toBe(REPO);
    expect(existsSync(join(context, specroute.build.dockerfile as string))).toBe(true);
    expect(services.pull!.image).toBe(specroute.image);
    expect(services.pull!.build).toEqual(specroute.build);
    expect(specroute.ports, 'replicas publish no host ports, so they scale').toBeUndefined();
  });

  it('pulls the config\'s model URI into the volume the replicas use as their cacheDir', () => {
    expect(services.pull!.command).toEqual(['pull', rawDeployConfig.model.verifier.path]);
    const cacheDir = composeConfig.cacheDir;
    for (const service of [services.pull!, specroute]) {
      expect(composeEnv(service.environment).SPECROUTE_CACHE_DIR).toBe(cacheDir);
      expect(service.volumes as string[]).toContain(`models:${cacheDir}`);
    }
  });

  it("mounts the deploy config at serve's --config", () => {
    const config = specroute.command[specroute.command.indexOf('--config') + 1];
    expect(specroute.command[0]).toBe('serve');
    const mount = (specroute.volumes as string[]).map((v) => v.split(':')).find(([, target]) => target === config);
    expect(mount && resolve(DEPLOY, mount[0]!)).toBe(CONFIG_FILE);
  });

  it('health checks /ready on the HTTP port; stop_grace_period covers the drain and the gRPC close', () => {
    const test = (specroute.healthcheck.test as string[]).join(' ');
    expect(test).toContain(`127.0.0.1:${composeConfig.server.port}/ready`);
    expect(seconds(specroute.stop_grace_period)).toBeGreaterThanOrEqual((2 * composeConfig.server.shutdownGraceMs) / 1000);
    expect(services.redis!.healthcheck.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('starts in order: Redis healthy and the model pulled before the replicas, the replicas healthy before nginx', () => {
    expect(specroute.depends_on).toEqual({ pull: { condition: 'service_completed_successfully' }, redis: { condition: 'service_healthy' } });
    expect(services.lb!.depends_on).toEqual({ specroute: { condition: 'service_healthy' } });
    expect(services.lb!.image).toMatch(/^nginx(:|$)/);
    expect(services.lb!.volumes).toContain('./nginx.conf:/etc/nginx/nginx.conf:ro');
  });

  it("publishes nginx's HTTP and gRPC listeners on the server's ports", () => {
    const published = (services.lb!.ports as string[]).map((p) => p.split(':').map(Number));
    const listens = all(http, 'server').map((s) => Number(one(s.block, 'listen').args[0]));
    expect(published).toEqual(expect.arrayContaining([[composeConfig.server.port, composeConfig.server.port], [composeConfig.server.grpcPort, composeConfig.server.grpcPort]]));
    for (const [, inside] of published) expect(listens).toContain(inside);
  });
});

describe('nginx.conf', () => {
  it('proxies HTTP to the replicas over keepalive HTTP/1.1, unbuffered for SSE, with timeouts above the request timeout', () => {
    const { location, upstream } = serverPassingWith('proxy_pass');
    expect(all(upstream, 'server').map((s) => s.args[0])).toEqual([`specroute:${composeConfig.server.port}`]);
    expect(Number(one(upstream, 'keepalive').args[0])).toBeGreaterThan(0);
    expect(one(location, 'proxy_http_version').args).toEqual(['1.1']);
    expect(all(location, 'proxy_set_header').find((d) => d.args[0] === 'Connection')?.args[1]).toBe('');
    expect(one(location, 'proxy_buffering').args).toEqual(['off']);
    expect(seconds(one(location, 'proxy_read_timeout').args[0]!)).toBeGreaterThan(composeConfig.limits.requestTimeoutMs / 1000);
    expect(seconds(one(location, 'proxy_read_timeout').args[0]!)).toBeGreaterThan(composeConfig.server.heartbeatSeconds);
    expect(bytes(one(http, 'client_max_body_size').args[0]!)).toBeGreaterThanOrEqual(composeConfig.server.maxBodyBytes);
  });

  it('passes gRPC to the replicas from an HTTP/2 listener', () => {
    const { server, location, upstream } = serverPassingWith('grpc_pass');
    expect(one(location, 'grpc_pass').args[0]).toMatch(/^grpc:\/\//);
    expect(all(upstream, 'server').map((s) => s.args[0])).toEqual([`specroute:${composeConfig.server.grpcPort}`]);
    const listen = one(server, 'listen');
    expect(listen.args.includes('http2') || one(server, 'http2').args[0] === 'on').toBe(true);
    expect(seconds(one(location, 'grpc_read_timeout').args[0]!)).toBeGreaterThan(composeConfig.limits.requestTimeoutMs / 1000);
  });

  it('every upstream host is the replicated compose service', () => {
    for (const [name, block] of upstreams) {
      for (const server of all(block, 'server')) expect(server.args[0]!.split(':')[0], name).toBe('specroute');
    }
    expect(Object.keys(services)).toContain('specroute');
  });

  // Debian installs it in /usr/sbin, which a plain user's PATH lacks.
  const onPath = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
  const NGINX = onPath || (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : '');
  const hasNginx = NGINX !== '';
  const required = Boolean(process.env.CI);
  if (!hasNginx && !required) console.warn('deploy.test.ts: nginx -t SKIPPED: nginx is not installed (apt-get install -y nginx)');
  it.skipIf(!hasNginx && !required)('is accepted by nginx -t (Debian nginx; the replicas resolved to 127.0.0.1)', () => {
    if (!hasNginx) throw new Error('CI is set, but nginx is not installed: apt-get install -y nginx');
    const dir = scratchDir('nginx-');
    // `specroute` resolves only inside compose's network; nginx -t resolves upstream hosts. Temp paths and the
    // access log go to the scratch folder so the check needs no write access to /var/lib/nginx or /var/log.
    const temps = [...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, t)};`), `access_log ${join(dir, 'access.log')};`].join(' ');
    const conf = NGINX_CONF.replace(/\bserver specroute:/g, 'server 127.0.0.1:').replace(/^http \{/m, `http {\n  ${temps}`);
    expect(conf).not.toBe(NGINX_CONF);
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const result = spawnSync(NGINX, ['-t', '-e', 'stderr', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `pid ${join(dir, 'nginx.pid')};`], { encoding: 'utf8' });
    expect(result.stderr).toContain('test is successful');
    expect(result.status, result.stderr).toBe(0);
  });
});

describe('README', () => {
  it('has a Deployment section with the commands that scale out', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Deployment\n');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    expect(section).toContain('docker compose -f deploy/compose.yaml up --build --scale specroute=');
    expect(section).toContain('kubectl apply -k deploy/kubernetes');
    for (const name of ['SPECROUTE_STATE__REDIS__URL', 'SPECROUTE_STATE__REDIS__KEY_PREFIX']) expect(section).toContain(name);
  });
});

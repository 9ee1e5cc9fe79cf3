// Build arguments as Docker's classic builder scopes them (moby builder/dockerfile/buildargs.go):
// ARGs before the first FROM are global ("meta") and usable in FROM lines; a stage sees an ARG
// only after declaring it (`ARG NAME` takes the global value, `ARG NAME=default` its own
// default); a --build-arg value overrides either; the proxy variables are usable without any
// declaration, and a proxy value stays out of the cache key and history unless declared.

export const PROXY_ARGS: ReadonlySet<string> = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
]);

/** The build-wide part of the argument scope. */
export interface ArgContext {
  /** Global ARG defaults (substituted); undefined for a global `ARG NAME` without default. */
  readonly meta: ReadonlyMap<string, string | undefined>;
  /** --build-arg values. */
  readonly buildArgs: Readonly<Record<string, string>>;
}

function buildArg(ctx: ArgContext, key: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(ctx.buildArgs, key) ? ctx.buildArgs[key] : undefined;
}

/**
 * Docker's getBuildArg: the value of `key` given the declarations of the scope (`declared`), or
 * undefined when it has none.
 */
function valueOf(ctx: ArgContext, declared: ReadonlyMap<string, string | undefined>, key: string): string | undefined {
  const override = buildArg(ctx, key);
  if (override !== undefined) return override;
  const own = declared.get(key);
  if (own === undefined) return ctx.meta.get(key);
  return own;
}

function sortedKeys(...sets: Iterable<string>[]): string[] {
  const keys = new Set<string>();
  for (const s of sets) for (const k of s) keys.add(k);
  return [...keys].sort();
}

/** The values FROM lines see: global ARGs and proxy variables given as --build-arg (GetAllMeta). */
export function globalArgValues(ctx: ArgContext): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of sortedKeys(ctx.meta.keys(), PROXY_ARGS)) {
    const v = valueOf(ctx, ctx.meta, key);
    if (v !== undefined) out.set(key, v);
  }
  return out;
}

/** The ARG values a scope with these declarations sees (GetAllAllowed), by name. */
export function allowedArgValues(ctx: ArgContext, declared: ReadonlyMap<string, string | undefined>): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of sortedKeys(declared.keys(), PROXY_ARGS)) {
    const v = valueOf(ctx, declared, key);
    if (v !== undefined) out.set(key, v);
  }
  return out;
}

/**
 * The `KEY=value` ARGs a step runs with: allowed ARGs not shadowed by an ENV of the same name
 * (FilterAllowed), sorted.
 */
export function argsNotInEnv(ctx: ArgContext, declared: ReadonlyMap<string, string | undefined>, env: readonly string[]): string[] {
  const envKeys = new Set(env.map((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e)));
  const out: string[] = [];
  for (const [k, v] of allowedArgValues(ctx, declared)) if (!envKeys.has(k)) out.push(`${k}=${v}`);
  return out.sort();
}

/** Whether an arg belongs in the cache key and history: declared here, or not a proxy variable. */
export function isReferencedOrNotProxy(declared: ReadonlyMap<string, string | undefined>, key: string): boolean {
  return declared.has(key) || !PROXY_ARGS.has(key);
}

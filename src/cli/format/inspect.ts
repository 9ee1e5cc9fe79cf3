// `docker inspect --format`: docker runs the template over the typed Go value
// first (so map-typed fields like Labels read <no value> when a key is
// missing, while an unknown struct field is an error), and only if that fails
// runs it again over the raw JSON with missingkey=error, reporting that second
// error (docker/cli cli/command/inspect/inspector.go).

import { NIL_MAP } from './gofmt.ts';
import { TemplateError, type CompiledTemplate } from './template.ts';

/** Field names that are Go maps in the Engine API's inspect shapes. */
export const INSPECT_MAP_FIELDS: ReadonlySet<string> = new Set([
  'Annotations', 'Containers', 'Data', 'DriverOpts', 'ExposedPorts', 'Labels', 'Networks', 'Options',
  'PortBindings', 'Ports', 'StorageOpt', 'Sysctls', 'Tmpfs', 'Volumes',
]);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The typed view of decoded inspect JSON: the values of map-typed fields
 * (by name, plus HostConfig.LogConfig.Config) become JS Maps, nulls there
 * empty maps; everything else stays a plain object (a Go struct).
 */
export function typedInspectView(value: unknown, mapFields: ReadonlySet<string> = INSPECT_MAP_FIELDS): unknown {
  const walk = (v: unknown, parent: string): unknown => {
    if (Array.isArray(v)) return v.map((e) => walk(e, ''));
    if (!isPlainObject(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, child] of Object.entries(v)) {
      const isMap = mapFields.has(k) || (k === 'Config' && parent === 'LogConfig');
      if (isMap && child === null) out[k] = NIL_MAP;
      else if (isMap && isPlainObject(child)) {
        out[k] = new Map(Object.entries(child).map(([mk, mv]) => [mk, walk(mv, '')]));
      } else out[k] = walk(child, k);
    }
    return out;
  };
  return walk(value, '');
}

/**
 * Run an inspect `--format` template over one decoded inspect object as docker
 * does. Throws the TemplateError of the raw pass (docker prints it after
 * "template parsing error: " and exits 1).
 */
export function executeInspect(run: CompiledTemplate, raw: unknown, mapFields?: ReadonlySet<string>): string {
  try {
    return run(typedInspectView(raw, mapFields));
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
  }
  return run(raw, { objects: 'map', missingKey: 'error' });
}

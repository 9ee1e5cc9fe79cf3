import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { executeInspect, typedInspectView } from './inspect.ts';
import { compileTemplate, TemplateError } from './template.ts';

// docker/cli cli/command/inspect/inspector.go: the template runs over the
// typed value; if that fails, over the raw JSON with missingkey=error.
// Typed docker structs have map[string]string labels (a missing key prints
// <no value>, `index` gives ""), and maps encode with sorted keys.

const CONTAINER = {
  Id: 'abc',
  State: { Status: 'running', Running: true, Pid: 42, Health: null },
  Config: { Labels: { 'com.z': '1', 'com.a': '2' }, Env: ['A=1', 'B=2'], ExposedPorts: null },
  HostConfig: { LogConfig: { Type: 'json-file', Config: {} } },
  NetworkSettings: {
    Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] },
    Networks: { bridge: { IPAddress: '172.17.0.2' } },
  },
};

function inspect(format: string): string {
  return executeInspect(compileTemplate(format), CONTAINER);
}

describe('executeInspect', () => {
  it('reads fields and map keys', () => {
    assert.equal(inspect('{{.State.Status}} {{.State.Pid}}'), 'running 42');
    assert.equal(inspect('{{.NetworkSettings.Networks.bridge.IPAddress}}'), '172.17.0.2');
    assert.equal(inspect('{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}'), '80/tcp -> 8080');
    assert.equal(inspect('{{range .Config.Env}}{{.}};{{end}}'), 'A=1;B=2;');
  });

  it('reads missing labels as <no value> (.Key) and "" (index), like docker\'s typed pass', () => {
    assert.equal(inspect('{{.Config.Labels.nope}}|{{index .Config.Labels "nope"}}|{{index .Config.Labels "com.a"}}'), '<no value>||2');
  });

  it('encodes map-typed fields with sorted keys, and a nil map as null', () => {
    assert.equal(inspect('{{json .Config.Labels}}'), '{"com.a":"2","com.z":"1"}');
    assert.equal(inspect('{{json .Config.ExposedPorts}} {{len .Config.ExposedPorts}}'), 'null 0');
    assert.equal(inspect('{{.Config.Labels}}'), 'map[com.a:2 com.z:1]');
  });

  it('reports an unknown field as the raw pass does (missingkey=error)', () => {
    assert.throws(() => inspect('{{.Foo}}'), (e: unknown) => {
      return e instanceof TemplateError && e.message === 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"';
    });
    assert.throws(() => inspect('{{.State.Health.Status}}'), {
      message: 'template: :1:8: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status',
    });
  });

  it('leaves struct-like objects alone and converts only map-typed fields', () => {
    const view = typedInspectView(CONTAINER) as { Config: { Labels: unknown; Env: unknown }; HostConfig: { LogConfig: { Config: unknown } } };
    assert.ok(view.Config.Labels instanceof Map);
    assert.ok(view.HostConfig.LogConfig.Config instanceof Map);
    assert.deepEqual(view.Config.Env, ['A=1', 'B=2']);
  });
});

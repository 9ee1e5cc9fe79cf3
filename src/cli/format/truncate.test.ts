import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ellipsis, formatCommand, formatNames, truncateId } from './truncate.ts';

// Vectors from docker/cli cli/command/formatter/displayutils_test.go and
// container_test.go.

describe('ellipsis (docker/cli TestEllipsis)', () => {
  const cases: [string, number, string][] = [
    ['t🐳ststring', 0, ''],
    ['t🐳ststring', 1, 't'],
    ['t🐳ststring', 2, 't…'],
    ['t🐳ststring', 6, 't🐳st…'],
    ['t🐳ststring', 20, 't🐳ststring'],
    ['你好世界teststring', 0, ''],
    ['你好世界teststring', 1, '你'],
    ['你好世界teststring', 3, '你…'],
    ['你好世界teststring', 6, '你好…'],
    ['你好世界teststring', 20, '你好世界teststring'],
    ['sh -c \'echo hello world\'', 20, "sh -c 'echo hello w…"],
    ['exactly-twenty-chars', 20, 'exactly-twenty-chars'],
    ['', 20, ''],
  ];
  for (const [s, w, want] of cases) {
    it(`${JSON.stringify(s)} at ${w} → ${JSON.stringify(want)}`, () => assert.equal(ellipsis(s, w), want));
  }
});

describe('truncateId (docker/cli TestTruncateID)', () => {
  it('keeps 12 characters after any algorithm prefix', () => {
    assert.equal(truncateId(''), '');
    assert.equal(truncateId('1234'), '1234');
    assert.equal(truncateId('90435eec5c4e124e741ef731e118be2fc799a68aba0466ec17717f24ce2ae6a2'), '90435eec5c4e');
    assert.equal(truncateId('sha256:90435eec5c4e124e741ef731e118be2fc799a68aba0466ec17717f24ce2ae6a2'), '90435eec5c4e');
  });
});

describe('formatCommand (ContainerContext.Command)', () => {
  it('Go-quotes the command, shortened to 20 columns unless noTrunc', () => {
    assert.equal(formatCommand("sh -c 'ls -la'"), `"sh -c 'ls -la'"`);
    assert.equal(formatCommand("sh -c 'echo hello world'"), `"sh -c 'echo hello w…"`);
    assert.equal(formatCommand("sh -c 'echo hello world'", true), `"sh -c 'echo hello world'"`);
    assert.equal(formatCommand(''), '""');
    assert.equal(formatCommand('echo "hi"\tthere'), '"echo \\"hi\\"\\tthere"');
  });
});

describe('formatNames (ContainerContext.Names)', () => {
  it('strips slashes and keeps the first non-link name when truncating', () => {
    assert.equal(formatNames(['/foobar_baz']), 'foobar_baz');
    assert.equal(formatNames(['/other/link', '/web', '/alias']), 'web');
    assert.equal(formatNames(['/other/link', '/web', '/alias'], true), 'other/link,web,alias');
    assert.equal(formatNames([]), '');
  });
});

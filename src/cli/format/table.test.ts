import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRows, headerLabel, prepareFormat, renderTable, tabwrite } from './table.ts';
import { TemplateError } from './template.ts';

// Expected strings come from docker/cli's own tests (cli/command/formatter/
// container_test.go and its golden file) and from running the docker 28.2.2
// client: `docker context ls --format …` goes through the same formatter and
// tabwriter as `docker ps`, and works without an engine.

const PS_HEADERS = {
  ID: 'CONTAINER ID',
  Names: 'NAMES',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  LocalVolumes: 'LOCAL VOLUMES',
  Networks: 'NETWORKS',
};
const PS_DEFAULT = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

// The two containers of docker/cli's TestContainerContextWrite.
function psRow(id: string, name: string): Record<string, unknown> {
  const labels: Record<string, string> = {};
  return {
    ID: id,
    Image: 'ubuntu',
    Command: '""',
    RunningFor: '24 hours ago',
    Status: '',
    Ports: '',
    Names: name,
    State: 'running',
    Size: '0B',
    Labels: '',
    Label: (k: string) => labels[k] ?? '',
  };
}
const PS_ROWS = [psRow('containerID1', 'foobar_baz'), psRow('containerID2', 'foobar_bar')];

describe('tabwrite (Go text/tabwriter, docker settings 10/1/3)', () => {
  it('pads tab-terminated cells to the widest plus 3, at least 10, and leaves the last cell unpadded', () => {
    assert.equal(tabwrite('a\tbb\tc\nxxxxxxxxxxxx\ty\tz\n'), 'a              bb        c\nxxxxxxxxxxxx   y         z\n');
  });

  it('pads empty cells too, so an empty last column leaves trailing spaces', () => {
    assert.equal(tabwrite('NAME\tERROR\nx\t\n'), 'NAME      ERROR\nx         \n');
  });

  it('ends a column block at a line without that column (Go doc example)', () => {
    // aaaa|bbb|d / aa|b|dd / a| / aa|cccc|eee : b and c are distinct columns.
    const out = tabwrite('aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n', { minwidth: 0, padding: 1 });
    assert.equal(out, 'aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n');
  });

  it('treats a line without tabs as a break between blocks', () => {
    assert.equal(tabwrite('NAME\nNAME\tNAME\nlonger-name\nlonger-name\tx\n'), 'NAME\nNAME      NAME\nlonger-name\nlonger-name   x\n');
  });

  it('counts East Asian wide characters as 2 columns and combining marks as 0', () => {
    // docker context ls with descriptions "wide 日本語x" (12 columns) and
    // "e\u0301mo😀|é" (7 columns), column width 42.
    const out = tabwrite('wide 日本語x\tab\ne\u0301mo😀|é\tcd\nCurrent DOCKER_HOST based configuration\tdefault\n');
    assert.equal(
      out,
      'wide 日本語x' + ' '.repeat(30) + 'ab\n' + 'e\u0301mo😀|é' + ' '.repeat(35) + 'cd\n' + 'Current DOCKER_HOST based configuration   default\n',
    );
  });

  it('keeps text without a final newline and handles \\v like \\t', () => {
    assert.equal(tabwrite('a\vb'), 'a         b');
    assert.equal(tabwrite(''), '');
  });

  it('can pad with tabs', () => {
    assert.equal(tabwrite('a\tb\n', { minwidth: 0, tabwidth: 8, padding: 1, padchar: '\t' }), 'a\tb\n');
  });
});

describe('renderTable', () => {
  it('aligns rows of cells like docker top (minwidth 20)', () => {
    const out = renderTable(
      [
        ['UID', 'PID', 'CMD'],
        ['root', '12345', 'sleep 100'],
      ],
      { minwidth: 20 },
    );
    assert.equal(out, 'UID                 PID                 CMD\nroot                12345               sleep 100\n');
  });

  it('uses the list settings by default', () => {
    assert.equal(renderTable([['A', 'B'], ['a-long-value', 'b']]), 'A              B\na-long-value   b\n');
  });
});

describe('prepareFormat', () => {
  it('detects "table" before trimming and strips it', () => {
    assert.deepEqual(prepareFormat('table {{.ID}}\\t{{.Image}}'), { table: true, template: '{{.ID}}\t{{.Image}}' });
    assert.deepEqual(prepareFormat('table{{.ID}}'), { table: true, template: '{{.ID}}' });
    assert.deepEqual(prepareFormat('  table {{.ID}} '), { table: false, template: 'table {{.ID}}' });
  });

  it('maps json, and replaces the two-character \\t and \\n only', () => {
    assert.deepEqual(prepareFormat('json'), { table: false, template: '{{json .}}' });
    assert.deepEqual(prepareFormat('{{.A}}\\n{{.B}}\\v\\\\t'), { table: false, template: '{{.A}}\n{{.B}}\\v\\\t' });
  });
});

describe('headerLabel (SubHeaderContext.Label)', () => {
  it('uses the last dotted part with - and _ as spaces', () => {
    assert.equal(headerLabel('com.docker-x_y.a-b'), 'a b');
    assert.equal(headerLabel('com.docker.compose.project'), 'project');
  });
});

describe('formatRows', () => {
  it('prints the default table (docker/cli TestContainerContextWrite "table")', () => {
    const want =
      'CONTAINER ID   IMAGE     COMMAND   CREATED        STATUS    PORTS     NAMES\n' +
      'containerID1   ubuntu    ""        24 hours ago                       foobar_baz\n' +
      'containerID2   ubuntu    ""        24 hours ago                       foobar_bar\n';
    assert.equal(formatRows(undefined, PS_DEFAULT, PS_ROWS, PS_HEADERS), want);
    assert.equal(formatRows('', PS_DEFAULT, PS_ROWS, PS_HEADERS), want);
    assert.equal(formatRows('table', PS_DEFAULT, PS_ROWS, PS_HEADERS), want);
  });

  it('prints the size column when the default format asks for it', () => {
    assert.equal(
      formatRows('table', PS_DEFAULT + '\\t{{.Size}}', PS_ROWS, PS_HEADERS),
      'CONTAINER ID   IMAGE     COMMAND   CREATED        STATUS    PORTS     NAMES        SIZE\n' +
        'containerID1   ubuntu    ""        24 hours ago                       foobar_baz   0B\n' +
        'containerID2   ubuntu    ""        24 hours ago                       foobar_bar   0B\n',
    );
  });

  it('prints just the header for no rows, as `docker ps` on an empty host', () => {
    assert.equal(
      formatRows(undefined, PS_DEFAULT, [], PS_HEADERS),
      'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n',
    );
  });

  it('keeps single-column tables unpadded', () => {
    assert.equal(formatRows('table {{.Image}}', PS_DEFAULT, PS_ROWS, PS_HEADERS), 'IMAGE\nubuntu\nubuntu\n');
    assert.equal(formatRows('table {{.State}}', PS_DEFAULT, PS_ROWS, PS_HEADERS), 'STATE\nrunning\nrunning\n');
  });

  it('renders headers through the header functions (docker golden container-context-write-special-headers)', () => {
    const format =
      'table {{truncate .ID 5}}\\t{{json .Image}} {{.RunningFor}}/{{title .Status}}/{{pad .Ports 2 2}}.{{upper .Names}} {{lower .Status}}';
    assert.equal(
      formatRows(format, PS_DEFAULT, PS_ROWS, PS_HEADERS),
      'CONTAINER ID   IMAGE CREATED/STATUS/  PORTS  .NAMES STATUS\n' +
        'conta          "ubuntu" 24 hours ago//.FOOBAR_BAZ \n' +
        'conta          "ubuntu" 24 hours ago//.FOOBAR_BAR \n',
    );
  });

  it('shows split results as lists but the header unsplit', () => {
    assert.equal(formatRows('table {{split .Image ":"}}', PS_DEFAULT, PS_ROWS, PS_HEADERS), 'IMAGE\n[ubuntu]\n[ubuntu]\n');
  });

  it('runs custom formats per row without header or alignment', () => {
    assert.equal(formatRows('{{.Image}}', PS_DEFAULT, PS_ROWS, PS_HEADERS), 'ubuntu\nubuntu\n');
    assert.equal(formatRows('{{.ID}}\\t{{.Names}}', PS_DEFAULT, PS_ROWS, PS_HEADERS), 'containerID1\tfoobar_baz\ncontainerID2\tfoobar_bar\n');
    assert.equal(formatRows('{{.Image}}', PS_DEFAULT, [], PS_HEADERS), '');
  });

  it('treats a format with leading spaces as custom (IsTable is checked before trimming)', () => {
    assert.equal(formatRows('  table   {{.Image}} x ', PS_DEFAULT, PS_ROWS, PS_HEADERS), 'table   ubuntu x\ntable   ubuntu x\n');
  });

  it('prints json as one object per line with sorted keys and no methods', () => {
    const rows = [{ Name: 'default', Current: true, Error: '', Label: (k: string) => k }];
    assert.equal(formatRows('json', PS_DEFAULT, rows, PS_HEADERS), '{"Current":true,"Error":"","Name":"default"}\n');
    assert.equal(formatRows('{{json .}}', PS_DEFAULT, rows, PS_HEADERS), '{"Current":true,"Error":"","Name":"default"}\n');
  });

  it('writes an empty header line for "table {{json .}}" (the header template fails, output so far is kept)', () => {
    const rows = [{ Name: 'a' }];
    assert.equal(formatRows('table {{json .}}', PS_DEFAULT, rows, { Name: 'NAME' }), '\n{"Name":"a"}\n');
  });

  it('reads unknown header fields as <no value> and .Label as the key name', () => {
    const rows = [psRow('c1', 'web')];
    assert.equal(
      formatRows('table {{.Names}}\\t{{.Label "com.example.some_key"}}', PS_DEFAULT, rows, PS_HEADERS),
      'NAMES     some key\nweb       \n',
    );
    const withHidden = [{ ...psRow('c1', 'web'), Hidden: 'h' }];
    assert.equal(formatRows('table {{.Hidden}}\\t{{.Names}}', PS_DEFAULT, withHidden, PS_HEADERS), '<no value>   NAMES\nh            web\n');
  });

  it('throws Go errors for unknown fields, naming the row type', () => {
    assert.throws(
      () => formatRows('table {{upper .Name}}\\t{{.Foo}}', PS_DEFAULT, [{ Name: 'x' }], { Name: 'NAME' }, { typeName: '*formatter.clientContextContext' }),
      (e: unknown) =>
        e instanceof TemplateError &&
        e.message === 'template: :1:18: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.clientContextContext',
    );
    assert.throws(() => formatRows('{{InvalidFunction}}', PS_DEFAULT, PS_ROWS, PS_HEADERS), {
      message: 'template: :1: function "InvalidFunction" not defined',
    });
  });

  it('matches docker context ls for mixed widths and a tab inside a value', () => {
    const rows = [
      { Name: 'a-much-longer-context-name', Description: '', DockerEndpoint: 'unix:///x', Error: '', Current: false },
      { Name: 'default', Description: 'Current DOCKER_HOST based configuration', DockerEndpoint: 'unix:///var/run/docker.sock', Error: '', Current: true },
      { Name: 'ef', Description: 'tab\tin', DockerEndpoint: 'unix:///z', Error: '', Current: false },
    ];
    const headers = { Name: 'NAME', Description: 'DESCRIPTION', DockerEndpoint: 'DOCKER ENDPOINT', Error: 'ERROR' };
    const def = 'table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}';
    assert.equal(
      formatRows(undefined, def, rows, headers),
      'NAME                         DESCRIPTION                               DOCKER ENDPOINT               ERROR\n' +
        'a-much-longer-context-name                                             unix:///x                     \n' +
        'default *                    Current DOCKER_HOST based configuration   unix:///var/run/docker.sock   \n' +
        'ef                           tab                                       in                            unix:///z   \n',
    );
  });
});

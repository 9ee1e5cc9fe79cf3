// Tables and `--format` for list commands, as the docker CLI prints them
// (docker/cli cli/command/formatter/formatter.go and its tabwriter fork).
//
// A list command turns each item into a row object, then calls formatRows:
// no format, or "table", prints the command's default table; "table X" prints
// a header row and the rows aligned in columns; "json" prints one JSON object
// per line; anything else runs as a Go template per row, unaligned.

import { goJson } from './gofmt.ts';
import { compileTemplate, headerFunctions, type TemplateFunc, type TemplateFuncSpec } from './template.ts';
import { stringWidth } from './width.ts';

export interface TabwriterOptions {
  /** Minimal cell width including padding. docker: 10 (lists), 20 (top). */
  readonly minwidth?: number;
  /** Width of a tab when padding with tabs. docker: 1. */
  readonly tabwidth?: number;
  /** Added to the widest cell of a column. docker: 3. */
  readonly padding?: number;
  /** ' ' (docker) or '\t'. */
  readonly padchar?: ' ' | '\t';
}

interface Cell {
  text: string;
  width: number;
}

/**
 * Go's text/tabwriter (docker/cli's fork, which measures display width with
 * go-runewidth), without flags. Cells are terminated by '\t' or '\v'; lines
 * by '\n' or '\f' ('\f' also ends all columns). Tab-terminated cells in
 * contiguous lines form a column, padded to its widest cell plus `padding`
 * (at least `minwidth`); the text after a line's last tab is not padded.
 * Defaults are docker's: minwidth 10, tabwidth 1, padding 3, padchar ' '.
 */
export function tabwrite(text: string, options: TabwriterOptions = {}): string {
  const minwidth = options.minwidth ?? 10;
  const tabwidth = options.tabwidth ?? 1;
  const padding = options.padding ?? 3;
  const padchar = options.padchar ?? ' ';
  let out = '';
  let lines: Cell[][] = [[]];
  let cell = '';
  const widths: number[] = [];

  const writePadding = (textw: number, cellw: number): void => {
    if (padchar === '\t') {
      if (tabwidth === 0) return;
      cellw = Math.ceil(cellw / tabwidth) * tabwidth;
      out += '\t'.repeat(Math.ceil((cellw - textw) / tabwidth));
      return;
    }
    out += ' '.repeat(cellw - textw);
  };

  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i]!;
      line.forEach((c, j) => {
        out += c.text;
        if (j < widths.length) writePadding(c.width, widths[j]!);
      });
      if (i + 1 < lines.length) out += '\n';
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let row = line0; row < line1; row++) {
      if (column >= lines[row]!.length - 1) continue;
      // A cell exists in this column: print the lines before this block,
      // then find the block's extent and width.
      writeLines(line0, row);
      line0 = row;
      let width = minwidth;
      for (; row < line1; row++) {
        const line = lines[row]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + padding);
      }
      widths.push(width);
      format(line0, row);
      widths.pop();
      line0 = row;
    }
    writeLines(line0, line1);
  };

  const flush = (): void => {
    format(0, lines.length);
    lines = [[]];
  };

  const terminateCell = (): number => {
    const line = lines[lines.length - 1]!;
    line.push({ text: cell, width: stringWidth(cell) });
    cell = '';
    return line.length;
  };

  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== '\t' && ch !== '\v' && ch !== '\n' && ch !== '\f') continue;
    cell += text.slice(start, i);
    start = i + 1;
    const ncells = terminateCell();
    if (ch === '\n' || ch === '\f') {
      lines.push([]);
      // A one-cell line cannot affect later columns, so flushing here is
      // what Go does too; '\f' always flushes.
      if (ch === '\f' || ncells === 1) flush();
    }
  }
  cell += text.slice(start);
  if (cell.length > 0) terminateCell();
  flush();
  return out;
}

/**
 * Rows of cells aligned as docker's tables are: each row is written as its
 * cells joined by tabs plus a newline, through `tabwrite` with docker's list
 * settings unless overridden (`docker top` uses minwidth 20).
 */
export function renderTable(rows: readonly (readonly string[])[], options: TabwriterOptions = {}): string {
  let text = '';
  for (const row of rows) text += row.join('\t') + '\n';
  return tabwrite(text, options);
}

/**
 * docker's Format handling: whether a format is a table ("table" prefix,
 * checked before trimming) and the template left after removing "table",
 * mapping "json" to {{json .}}, trimming spaces, and replacing the two-character
 * sequences \t and \n with a tab and a newline.
 */
export function prepareFormat(format: string): { table: boolean; template: string } {
  const table = format.startsWith('table');
  let template = table ? format.slice('table'.length) : format === 'json' ? '{{json .}}' : format;
  template = template.replace(/^ +| +$/g, '');
  template = template.replace(/\\[tn]/g, (m) => (m === '\\t' ? '\t' : '\n'));
  return { table, template };
}

/** docker's SubHeaderContext.Label: the header for {{.Label "com.example.some-key"}} is "some key". */
export function headerLabel(name: string): string {
  const parts = name.split('.');
  return (parts[parts.length - 1] ?? '').replace(/[-_]/g, ' ');
}

export interface FormatRowsOptions {
  /** Go type name of a row in errors, e.g. "*formatter.ContainerContext". */
  readonly typeName?: string;
  /** Extra template functions. */
  readonly funcs?: Readonly<Record<string, TemplateFunc | TemplateFuncSpec>>;
}

/**
 * Render list rows as docker does for `--format`:
 * - undefined, '' or 'table': `defaultTableFormat` (which starts with "table ");
 * - 'table …': header row (the template run over `headers` with docker's header
 *   functions; an unknown field reads "<no value>") then rows, via tabwrite;
 * - 'json': each row as one line of JSON, keys sorted (docker's rows are maps);
 * - anything else: the template per row, one line each, no header, no alignment.
 *
 * Rows are plain objects: fields as values or getters, methods with arguments
 * (like Label) as functions. A missing field is an error, thrown as a
 * TemplateError whose message docker prefixes with "template parsing error: ".
 * Returns the text to write, each line newline-terminated ('' for no rows
 * unless a table, which always has its header).
 */
export function formatRows(
  format: string | undefined,
  defaultTableFormat: string,
  rows: readonly object[],
  headers: Readonly<Record<string, string>>,
  options: FormatRowsOptions = {},
): string {
  const source = format === undefined || format === '' || format === 'table' ? defaultTableFormat : format;
  const { table, template } = prepareFormat(source);
  const rowSet = new Set<unknown>(rows);
  const json: TemplateFuncSpec = { params: ['any'], fn: (v: unknown) => goJson(v, rowSet.has(v)) };
  const run = compileTemplate(template, { funcs: { ...options.funcs, json } });
  let body = '';
  for (const row of rows) body += run(row, options.typeName === undefined ? {} : { typeName: options.typeName }) + '\n';
  if (!table) return body;
  const headerData = { ...headers, Label: (name: string) => headerLabel(name) };
  const header = run(headerData, { objects: 'map', funcs: headerFunctions, partialOnError: true });
  return tabwrite(header + '\n' + body);
}

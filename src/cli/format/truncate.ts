// Shortening of long values in docker's list output (docker/cli
// cli/command/formatter: Ellipsis, TruncateID, ContainerContext.Command/Names).
// Every shortening is skipped with --no-trunc.

import { quote } from './gofmt.ts';
import { charWidth } from './width.ts';

/**
 * docker's Ellipsis: shorten `s` to at most `maxDisplayWidth` columns, ending
 * in "…". Wide (East Asian) characters count 2 columns. A width of 1 keeps
 * just the first character; 0 or less gives ''.
 */
export function ellipsis(s: string, maxDisplayWidth: number): string {
  if (maxDisplayWidth <= 0) return '';
  const runes = Array.from(s);
  if (maxDisplayWidth === 1) return runes[0] ?? '';
  if (/^[\x00-\x7f]*$/.test(s)) {
    return s.length <= maxDisplayWidth ? s : s.slice(0, maxDisplayWidth - 1) + '…';
  }
  const display: number[] = [];
  let width = 0;
  for (const r of runes) {
    width += charWidth(r.codePointAt(0) ?? 0);
    display.push(width);
  }
  if (width <= maxDisplayWidth) return s;
  for (let i = 0; i + 1 < display.length; i++) {
    if (display[i]! <= maxDisplayWidth - 1 && display[i + 1]! > maxDisplayWidth - 1) {
      return runes.slice(0, i + 1).join('') + '…';
    }
  }
  return s;
}

/** stringid.TruncateID: drop an "algorithm:" prefix, keep 12 characters. */
export function truncateId(id: string): string {
  const colon = id.indexOf(':');
  const hex = colon >= 0 ? id.slice(colon + 1) : id;
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}

/** The ps Command column: Go-quoted, shortened to 20 columns unless noTrunc ("\"sh -c 'echo…\""). */
export function formatCommand(command: string, noTrunc = false): string {
  return quote(noTrunc ? command : ellipsis(command, 20));
}

/**
 * The ps Names column from the API's names ("/web", "/app/web" for a legacy
 * link): without their leading slash, comma-separated with noTrunc; otherwise
 * only the first name that is not a link.
 */
export function formatNames(names: readonly string[], noTrunc = false): string {
  const stripped = names.map((n) => (n.startsWith('/') ? n.slice(1) : n));
  if (noTrunc) return stripped.join(',');
  return stripped.find((n) => !n.includes('/')) ?? '';
}

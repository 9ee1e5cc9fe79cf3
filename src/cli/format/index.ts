// Output formatting for the berth CLI, matching the docker CLI byte for byte:
// Go templates for --format (template.ts), docker's table/json/template list
// output and Go's tabwriter (table.ts), inspect's two-pass templates
// (inspect.ts), go-units sizes and durations and container status text
// (units.ts), and the shortening of IDs, commands and names (truncate.ts).
// Pure functions of their inputs (plus the clock where a duration is shown);
// nothing here does I/O. Commands import from this file or the modules directly.

export {
  compileTemplate,
  goType,
  headerFunctions,
  isTrue,
  TemplateError,
  type CompileOptions,
  type CompiledTemplate,
  type ExecuteOptions,
  type ParamType,
  type TemplateFunc,
  type TemplateFuncSpec,
} from './template.ts';
export {
  formatRows,
  headerLabel,
  prepareFormat,
  renderTable,
  tabwrite,
  type FormatRowsOptions,
  type TabwriterOptions,
} from './table.ts';
export { executeInspect, INSPECT_MAP_FIELDS, typedInspectView } from './inspect.ts';
export {
  ago,
  bytesSize,
  containerState,
  containerStatus,
  goTimeString,
  humanDuration,
  humanSize,
  humanSizeWithPrecision,
  type ContainerStateInfo,
  type TimeInput,
} from './units.ts';
export { ellipsis, formatCommand, formatNames, truncateId } from './truncate.ts';
export { formatFloat, formatValue, goJson, NIL_MAP, quote, sprintf } from './gofmt.ts';
export { charWidth, stringWidth } from './width.ts';

// A self-contained SVG horizontal bar chart for bench/results.md: no dependencies, one bar per row,
// bars scaled to the largest value, each value printed at the end of its bar.

export interface ChartRow {
  readonly label: string;
  readonly value: number;
  /** A baseline (e.g. the raw limit the other rows are compared to), drawn in another colour. */
  readonly baseline?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  /** Printed after each value, e.g. "frames/s". */
  readonly unit: string;
}

const WIDTH = 720;
const PADDING = 16;
const TITLE_HEIGHT = 40;
const ROW_HEIGHT = 44;
const LABEL_HEIGHT = 18;
const BAR_HEIGHT = 16;
/** Room kept right of the longest bar for its value. */
const VALUE_ROOM = 150;
const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const BAR_COLOUR = "#2563eb";
const BASELINE_COLOUR = "#9ca3af";
const TEXT_COLOUR = "#111827";
const MUTED_COLOUR = "#4b5563";

/**
 * Renders rows as an SVG horizontal bar chart about 720 px wide: each row's label above its bar,
 * bars scaled to the largest value, the value (with `unit`) at the end of each bar, baseline rows
 * in grey. Labels and title are XML-escaped.
 *
 * @example
 * ```ts
 * const svg = renderChart(
 *   [{ label: "bare eventsource-parser", value: 1_200_000, baseline: true }, { label: "fetchWithStream", value: 1_000_000 }],
 *   { title: "Client parse rate", unit: "frames/s" },
 * );
 * await writeFile("bench/client-parse.svg", svg);
 * ```
 */
export function renderChart(rows: readonly ChartRow[], options: ChartOptions): string {
  const max = Math.max(0, ...rows.map((row) => (Number.isFinite(row.value) ? row.value : 0)));
  const track = WIDTH - 2 * PADDING - VALUE_ROOM;
  const height = PADDING + TITLE_HEIGHT + rows.length * ROW_HEIGHT + PADDING;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}" role="img" aria-label="${escapeXml(options.title)}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${PADDING}" y="${PADDING + 20}" font-size="17" font-weight="600" fill="${TEXT_COLOUR}">${escapeXml(options.title)}</text>`,
  ];
  rows.forEach((row, index) => {
    const top = PADDING + TITLE_HEIGHT + index * ROW_HEIGHT;
    const value = Number.isFinite(row.value) ? Math.max(0, row.value) : 0;
    const width = max > 0 ? (value / max) * track : 0;
    const barTop = top + LABEL_HEIGHT;
    const colour = row.baseline === true ? BASELINE_COLOUR : BAR_COLOUR;
    parts.push(
      `<text x="${PADDING}" y="${top + 13}" font-size="13" fill="${TEXT_COLOUR}">${escapeXml(row.label)}</text>`,
      `<rect x="${PADDING}" y="${barTop}" width="${round(Math.max(width, 1))}" height="${BAR_HEIGHT}" rx="2" fill="${colour}"/>`,
      `<text x="${round(PADDING + width + 6)}" y="${barTop + BAR_HEIGHT - 3}" font-size="13" fill="${MUTED_COLOUR}">${escapeXml(`${formatValue(row.value)} ${options.unit}`)}</text>`,
    );
  });
  parts.push("</svg>", "");
  return parts.join("\n");
}

/** A value with thousands separators, and up to two decimals below 100. */
function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString("en", { maximumFractionDigits: Math.abs(value) < 100 ? 2 : 0 });
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

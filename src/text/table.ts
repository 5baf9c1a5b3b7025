// Plain-text tables for the terminal: columns padded to their widest cell, and share bars. Used by
// `meshc simulate`, `meshc inspect` and `meshc demo`, so that their tables line up alike.

export interface TableOptions {
  /** Columns (by index) whose cells are right-aligned, such as counts and percentages. */
  right?: readonly number[];
  /** Put in front of every line. */
  indent?: string;
}

/**
 * Pads every column of `rows` to its widest cell, two spaces apart; the last column is not
 * padded when it is left-aligned, and no line ends in spaces. The first row may be a header.
 */
export function formatTable(rows: readonly (readonly string[])[], options: TableOptions = {}): string[] {
  const right = new Set(options.right ?? []);
  const indent = options.indent ?? '';
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => {
    const cells = row.map((cell, i) => {
      if (right.has(i)) return cell.padStart(widths[i]!);
      return i === row.length - 1 ? cell : cell.padEnd(widths[i]!);
    });
    return (indent + cells.join('  ')).trimEnd();
  });
}

/** A bar of `width` blocks at a share of 1, for `part` of `whole` (none when `whole` is 0). */
export function shareBar(part: number, whole: number, width: number): string {
  return '█'.repeat(Math.round((width * part) / Math.max(1, whole)));
}

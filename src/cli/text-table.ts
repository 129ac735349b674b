// Tables for a terminal: the one place where a command's rows become aligned lines.

/**
 * Each row as one line: every cell but the row's last padded to its column's width (the widest
 * cell of that column in any row), the cells joined by `sep`. With `sep` a tab, a column starts
 * at the same tab stop on every row (matrix), and a reader splitting on tabs trims the cells.
 */
export function alignedLines(rows: readonly (readonly string[])[], sep = '  '): string[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join(sep));
}

/** How many columns a line takes in a terminal, which puts tab stops every 8 columns. */
export function shownWidth(line: string): number {
  let col = 0;
  for (const ch of line) col = ch === '\t' ? (Math.floor(col / 8) + 1) * 8 : col + 1;
  return col;
}

/**
 * How wide a command's text may be: the terminal's width when stdout is one, else 120, so what
 * lands in a pipe or a file does not depend on the window the command was typed in.
 */
export function outputColumns(): number {
  return process.stdout.isTTY && process.stdout.columns > 0 ? process.stdout.columns : 120;
}

/**
 * `head` (ending with a space) followed by `items` joined with ", ", wrapped into lines of at
 * most `limit` columns: later lines start with `indent`, and an item longer than a line gets one
 * of its own. A list of a Deployment's 50 replicas made one 2,000-column line.
 */
export function wrappedList(head: string, items: readonly string[], limit: number, indent: string): string[] {
  const out: string[] = [];
  let line = head;
  let empty = true; // no item on `line` yet
  items.forEach((item, i) => {
    const piece = i < items.length - 1 ? `${item},` : item;
    const joined = empty ? line + piece : `${line} ${piece}`;
    if (joined.length <= limit || (empty && line === indent)) line = joined;
    else {
      out.push(line.trimEnd());
      line = indent + piece;
    }
    empty = false;
  });
  out.push(line);
  return out;
}

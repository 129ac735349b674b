// Graphviz layout in Node: the DOT of connectivity-format.ts (the one DOT writer) laid out by
// @viz-js/viz (Graphviz compiled to WebAssembly, no system binary) into SVG, for `connlist -o
// svg` and the HTML report, which embeds the SVG so opening it needs no WebAssembly and no network.

export async function dotToSvg(dot: string): Promise<string> {
  // Loaded on first use: the WebAssembly module is large and only -o svg and report need it.
  const { instance } = await import('@viz-js/viz');
  const viz = await instance();
  const svg = viz.renderString(dot, { format: 'svg', engine: 'dot' });
  // The XML prolog and DOCTYPE are fine in a file of their own, not inside HTML.
  return svg.replace(/^<\?xml[^>]*>\s*/, '').replace(/^<!DOCTYPE[^>]*>\s*/, '').replace(/^<!--[\s\S]*?-->\s*/gm, '');
}

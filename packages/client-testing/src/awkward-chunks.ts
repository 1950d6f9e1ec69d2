const encoder = new TextEncoder();

/**
 * Splits text into UTF-8 chunks that cut inside every multibyte character and, every few bytes,
 * through field names, values and line ends.
 *
 * @example
 * ```ts
 * splitAwkwardly("data: é\n\n"); // chunks such as "da", "ta: \xC3", "\xA9\n", "\n"
 * ```
 */
export function splitAwkwardly(text: string): Uint8Array[] {
  const bytes = encoder.encode(text);
  const cuts = new Set<number>();
  for (let index = 0; index < bytes.length; index += 1) {
    const byte = bytes[index] ?? 0;
    if (byte >= 0xc0) cuts.add(index + 1); // right after the lead byte of a multibyte character
    if (index % 7 === 2) cuts.add(index);
  }
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= start || cut >= bytes.length) continue;
    chunks.push(bytes.slice(start, cut));
    start = cut;
  }
  chunks.push(bytes.slice(start));
  return chunks;
}

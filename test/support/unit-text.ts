// What systemd and udev make of the files schedule writes, read strictly: the host
// tests check every unit and rule through these, never by a pattern alone.

/** The words systemd makes of an ExecStart= line (systemd.service "Command lines"), strict: anything it would substitute is an error here. */
export function execWords(line: string): string[] {
  const words: string[] = [];
  const esc: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'", s: ' ' };
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    let w = '';
    const quote = line[i] === '"' || line[i] === "'" ? line[i++] : undefined;
    while (i < line.length && (quote ? line[i] !== quote : line[i] !== ' ')) {
      if (line[i] === '\\') {
        const c = esc[line[i + 1]!];
        if (c === undefined) throw new Error(`unknown escape \\${line[i + 1]} in ${line}`);
        w += c;
        i += 2;
      } else if (!quote && (line[i] === '"' || line[i] === "'")) throw new Error(`a quote inside a word: ${line}`);
      else w += line[i++];
    }
    if (quote) {
      if (line[i] !== quote) throw new Error(`unterminated quote: ${line}`);
      i++;
      if (i < line.length && line[i] !== ' ') throw new Error(`text after a closing quote: ${line}`);
    }
    words.push(
      w.replace(/%(.)|\$(.)/gs, (m, pct?: string, dollar?: string) => {
        if (pct === '%' || dollar === '$') return pct ?? dollar!;
        throw new Error(`systemd would substitute ${m} in ${JSON.stringify(w)}`);
      }),
    );
  }
  return words;
}

/** udev's rules (udev(7)), strict: a line ending in \ continues, # lines are comments, every other line is one rule of KEY op "value" pairs. */
export function udevRules(text: string): { key: string; op: string; value: string }[][] {
  const rules = [];
  for (const line of text.replace(/\\\n/g, '').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const pairs = [];
    let rest = t;
    while (rest !== '') {
      const m = /^([A-Z_]+(?:\{[^}"]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,\s*|$)/.exec(rest);
      if (!m) throw new Error(`not a udev rule: ${t}`);
      pairs.push({ key: m[1]!, op: m[2]!, value: m[3]! });
      rest = rest.slice(m[0].length);
    }
    rules.push(pairs);
  }
  return rules;
}

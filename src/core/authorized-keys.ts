// One line of OpenSSH's authorized_keys (sshd(8), "AUTHORIZED_KEYS FILE FORMAT"): the
// options before the key, comma-separated, a value in double quotes may hold commas and
// spaces (and \" for a quote).

export interface KeyLine {
  /** the options as written, each `name` or `name=value` (value unquoted) */
  options: { name: string; value?: string }[];
  /** the key's comment, if any */
  comment: string;
}

const KEY_TYPE = /^(ssh-|ecdsa-|sk-)/;

/** undefined: a blank line or a comment */
export function parseKeyLine(line: string): KeyLine | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const options: KeyLine['options'] = [];
  let i = 0;
  if (!KEY_TYPE.test(text)) {
    let name = '';
    let value: string | undefined;
    let quoted = false;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (quoted) {
        if (c === '\\' && text[i + 1] === '"') value += text[++i]!;
        else if (c === '"') quoted = false;
        else value += c;
      } else if (c === '"') quoted = true;
      else if (c === ',' || c === ' ' || c === '\t') {
        options.push(value === undefined ? { name } : { name, value });
        name = '';
        value = undefined;
        if (c !== ',') break;
      } else if (c === '=' && value === undefined) value = '';
      else if (value === undefined) name += c;
      else value += c;
    }
  }
  const rest = text.slice(i).trim().split(/\s+/);
  return { options, comment: rest.slice(2).join(' ') };
}

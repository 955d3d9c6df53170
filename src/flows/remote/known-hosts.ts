import { createHmac } from 'node:crypto';

// Which lines of a known_hosts file ssh would use for a server, by ssh's own rules
// (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT): a list of names, `*` and `?` wildcards, `!`
// negations, hashed names (|1|salt|hash) and @cert-authority lines all trust a key for
// it. Pinning one key means no other line that applies is left.

/** the name ssh looks a server up by: `host`, or `[host]:port` off port 22 */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether ssh would take the key of this line for `name` (an @revoked line only refuses one: never). */
export function trustsKeyFor(line: string, name: string): boolean {
  const words = line.trim().split(/\s+/);
  if (words[0] === undefined || words[0] === '' || words[0].startsWith('#')) return false;
  if (words[0] === '@revoked') return false;
  const patterns = words[0] === '@cert-authority' ? words[1] : words[0];
  if (patterns === undefined) return false;
  const lower = name.toLowerCase();
  let match = false;
  for (const p of patterns.split(',')) {
    const negated = p.startsWith('!');
    const pat = negated ? p.slice(1) : p;
    if (!(pat.startsWith('|1|') ? hashedMatch(pat, lower) : globMatch(pat.toLowerCase(), lower))) continue;
    if (negated) return false;
    match = true;
  }
  return match;
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

function hashedMatch(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split('|');
  if (!salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

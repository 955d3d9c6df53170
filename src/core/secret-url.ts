// A notify URL is a secret: healthchecks.io's ping key is its path, other services put a
// token in the query or a password before the host. Only its scheme and host are ever
// shown (logs, the journal, --json, status, doctor, config problems).

/** `https://hc-ping.com/…`: scheme and host, and an ellipsis for whatever else there is. */
export function urlForLog(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(the notify URL, not shown)';
  }
  const rest = u.username || u.password || u.pathname.replace(/^\/$/, '') || u.search || u.hash;
  return `${u.protocol}//${u.host}${rest ? '/…' : ''}`;
}

/** A user name or password in the URL: fetch refuses to send such a URL at all. */
export function hasUserinfo(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return /^[a-z]+:\/\/[^/?#]*@/i.test(url);
  }
}

const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found (DNS)',
  EAI_AGAIN: 'host name lookup failed for now (DNS)',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  UND_ERR_SOCKET: 'the connection broke',
};

/**
 * Why fetch failed, from its cause (Node's "fetch failed" says nothing): the error code
 * and what it means, with every part of the URL but scheme and host taken out.
 */
export function fetchFailure(err: unknown, url: string): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'no answer in time';
  const code = e?.cause?.code;
  const tls =
    code && /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_CERT)/.test(code);
  const what = code ? (CAUSES[code] ?? (tls ? 'TLS failed' : 'failed')) : 'failed';
  const detail = scrub(e?.cause?.message ?? e?.message ?? String(err), url);
  return `${what}${code ? ` (${code})` : ''}${detail && !detail.includes(code ?? '\0') ? `: ${detail}` : ''}`;
}

/** The secret parts of the URL out of a text (an error message may quote the URL). */
export function scrub(text: string, url: string): string {
  let out = text;
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    /* unparseable: the whole URL is taken out below */
  }
  for (const whole of [url, u?.href]) if (whole) out = out.split(whole).join(urlForLog(url));
  const parts = [u && `${u.pathname}${u.search}${u.hash}`, u?.password, u?.username, u?.search, u?.pathname];
  // a bare `/` (a URL without a path) is no secret, and hiding it would hide every slash
  for (const s of parts) if (s && s !== '/') out = out.split(s).join('…');
  return out.split('\n')[0]!.slice(0, 200);
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchFailure, hasUserinfo, scrub, urlForLog } from '../../src/core/secret-url.js';

// A notify URL is a secret: shown as its scheme and host, also in why it could not be reached.

test('a notify URL is shown as scheme and host only, whatever secret it carries', () => {
  assert.equal(urlForLog('https://hc-ping.com/5f3a-uuid'), 'https://hc-ping.com/…');
  assert.equal(urlForLog('https://u:p@example.org:8443/x?token=t#f'), 'https://example.org:8443/…');
  assert.equal(urlForLog('https://example.org/'), 'https://example.org');
  assert.equal(urlForLog('not a url KEY'), '(the notify URL, not shown)');
  assert.ok(hasUserinfo('https://u:p@h/x') && hasUserinfo('https://u@h/') && !hasUserinfo('https://h/p@x'));
  const url = 'http://127.0.0.1:9/ping/KEY?token=TOK';
  assert.equal(scrub(`Failed to parse URL from ${url}`, url), 'Failed to parse URL from http://127.0.0.1:9/…');
  assert.doesNotMatch(scrub('at /ping/KEY and ?token=TOK', url), /KEY|TOK/);
  // a URL without a path hides nothing but itself: the slashes of the message stay
  assert.equal(scrub('connect to /run/x failed', 'https://example.org'), 'connect to /run/x failed');
});

test('"fetch failed" becomes its cause: refused, DNS, TLS, time-out, each with its code and no secret', () => {
  const failed = (code: string, message: string) =>
    Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(message), { code }) });
  const url = 'https://h.example/KEY';
  assert.equal(
    fetchFailure(failed('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9'), url),
    'connection refused (ECONNREFUSED)',
  );
  assert.equal(
    fetchFailure(failed('ENOTFOUND', 'getaddrinfo ENOTFOUND h.example'), url),
    'host name not found (DNS) (ENOTFOUND)',
  );
  assert.match(
    fetchFailure(failed('CERT_HAS_EXPIRED', 'certificate has expired'), url),
    /^TLS failed \(CERT_HAS_EXPIRED\): certificate has expired$/,
  );
  assert.equal(fetchFailure(Object.assign(new Error('x'), { name: 'TimeoutError' }), url), 'no answer in time');
  assert.doesNotMatch(fetchFailure(failed('EX', `bad ${url}`), url), /KEY/);
});

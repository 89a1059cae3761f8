import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSite } from '../../src/config/load.js';
import { managerLinkUrl, managerSpeaksTls } from '../../src/config/monitoring-schema.js';
import { maxConcurrentOf } from '../../src/config/schema.js';
import { SwitchyardError } from '../../src/errors.js';

const GOOD = `
interceptor: { listen: 127.0.0.1:8080 }
servers:
  - { name: web-a, url: http://127.0.0.1:9001, capacity: 1 }
  - { name: web-b, url: http://127.0.0.1:9002, capacity: 3 }
applications:
  - { name: shop, match: { pathPrefix: / }, servers: [web-a, web-b], stateful: ["/cart/*", "/checkout"] }
`;

/** The error message parseSite gives for `text`, which must be refused. */
function refused(text: string): string {
  try {
    parseSite(text, 'site.yaml', '.');
  } catch (e) {
    assert.ok(e instanceof SwitchyardError);
    assert.equal(e.code, 'SY_ERR_CONFIG');
    return e.message;
  }
  assert.fail('the site file was accepted');
}

test('the example site file loads with its defaults filled in', () => {
  const l = parseSite(GOOD, 'site.yaml', '.');
  assert.equal(l.site.interceptor.admin, '127.0.0.1:8081');
  assert.equal(l.site.interceptor.obsolescenceTime, 3000);
  assert.equal(l.site.applications[0]!.redirectStatus, 302);
  assert.deepEqual(l.listen, [{ host: '127.0.0.1', port: 8080 }]);
  assert.deepEqual(l.addresses.get('web-b'), {
    publicHttp: 'http://127.0.0.1:9002',
    publicHttps: undefined,
    internal: 'http://127.0.0.1:9002',
  });
});

test("maxConcurrent's default follows the mode: 1,000 redirecting, 20,000 proxying, where waiting requests stay (D58)", () => {
  const l = parseSite(
    `${GOOD}  - { name: api, match: { pathPrefix: /api }, servers: [web-a], mode: proxy }
  - { name: capped, match: { pathPrefix: /capped }, servers: [web-a], mode: proxy, maxConcurrent: 50 }
`,
    'site.yaml',
    '.',
  );
  assert.deepEqual(
    l.site.applications.map((a) => [a.name, maxConcurrentOf(a)]),
    [
      ['shop', 1000],
      ['api', 20_000],
      ['capped', 50],
    ],
  );
});

test('an unknown key is an error naming its path', () => {
  const m = refused(GOOD.replace('capacity: 3 }', 'capacity: 3, weight: 2 }'));
  assert.match(m, /^site\.yaml: servers\[1\]: unknown key "weight"$/);
});

test('an unknown server in an application names the list entry and the known servers', () => {
  const m = refused(GOOD.replace('[web-a, web-b]', '[web-a, web-c]'));
  assert.match(m, /applications\[0\]\.servers\[1\]: unknown server "web-c" \(expected one of web-a, web-b\)/);
});

test('wrong types, ranges and formats say what was expected', () => {
  assert.match(refused(GOOD.replace('capacity: 3', 'capacity: 11')), /servers\[1\]\.capacity: .*10/);
  assert.match(
    refused(GOOD.replace('listen: 127.0.0.1:8080', 'listen: nowhere')),
    /interceptor\.listen: .*host:port/,
  );
  assert.match(
    refused(GOOD.replace('listen: 127.0.0.1:8080', 'listen: 127.0.0.1:8080, headersTimeout: soon')),
    /interceptor\.headersTimeout: expected a duration/,
  );
  assert.match(
    refused(GOOD.replace('http://127.0.0.1:9001', 'http://user:pw@127.0.0.1:9001')),
    /servers\[0\]\.url: expected an http:\/\/ or https:\/\/ URL without credentials/,
  );
  assert.match(refused(GOOD.replace('"/cart/*"', '"/c*rt"')), /applications\[0\]\.stateful\[0\]/);
  assert.match(
    refused(
      GOOD.replace(
        'listen: 127.0.0.1:8080',
        'listen: 127.0.0.1:8080, headersTimeout: 5s, requestTimeout: 2s',
      ),
    ),
    /interceptor\.headersTimeout: must not be longer than requestTimeout \(2000 ms\)/,
  );
});

test('a missing required key and duplicate names are reported', () => {
  assert.match(refused(GOOD.replace(/servers:\n(.*\n){2}/, '')), /servers: required/);
  assert.match(
    refused(GOOD.replace('name: web-b', 'name: web-a')),
    /servers\[1\]\.name: duplicate server name "web-a"/,
  );
});

test('not YAML at all gives the line; a secure application needs an https server', () => {
  assert.match(refused('interceptor: [unclosed\n'), /^site\.yaml \(line \d+\): not valid YAML/);
  assert.match(
    refused(GOOD.replace('stateful:', 'secure: true, stateful:')),
    /applications\[0\]\.secure: no server of "shop" has an https address/,
  );
});

test('a file it names that cannot be read is reported with its key', () => {
  const m = refused(GOOD.replace('stateful:', 'sorryPage: ./no-such-sorry.html, stateful:'));
  assert.match(m, /applications\[0\]\.sorryPage: cannot read "\.\/no-such-sorry\.html"/);
});

test('a manager with no redirect target is refused when the interceptor listens on every address', () => {
  const wild = `${GOOD.replace('listen: 127.0.0.1:8080', 'listen: 0.0.0.0:80')}manager: {}\n`;
  const m = refused(wild);
  assert.match(
    m,
    /manager\.redirectTarget: required when the interceptor listens on 0\.0\.0\.0:80 \(every address\): overloaded servers would send browsers to http:\/\/0\.0\.0\.0, which none can reach/,
  );
  // Told where users reach it, it is fine; so is a site without a manager.
  parseSite(
    `${wild.replace('manager: {}', 'manager: { redirectTarget: "http://www.example.com" }')}`,
    'site.yaml',
    '.',
  );
  parseSite(GOOD.replace('listen: 127.0.0.1:8080', 'listen: 0.0.0.0:80'), 'site.yaml', '.');
});

test('links leave the machine only over TLS: the manager section says so in words (D53)', () => {
  const withManager = (m: string) => `${GOOD}manager: ${m}\n`;
  assert.match(
    refused(withManager('{ listen: "10.0.0.5:7070", tls: false }')),
    /manager\.tls: links must use TLS when the manager listens on 10\.0\.0\.5:7070, which is not a loopback address/,
  );
  assert.match(
    refused(withManager('{ listen: "0.0.0.0:7070", url: "ws://10.0.0.5:7070/link" }')),
    /manager\.url: the manager speaks TLS here \(manager\.tls\): components must dial a wss:\/\/ URL/,
  );
  assert.match(
    refused(withManager('{ tls: { cert: ./manager.pem } }')),
    /manager\.tls: give both cert and key, or neither/,
  );
  assert.match(
    refused(withManager('{ secretFile: ./secret }')),
    /manager\.secretFile: the one site secret is gone: give each job its own key under manager\.keys/,
  );
  // Loopback may go without; anywhere else is TLS by default, and the URL follows.
  const plain = parseSite(withManager('{ listen: "127.0.0.1:7070" }'), 'site.yaml', '.').site.manager!;
  assert.equal(managerLinkUrl(plain), 'ws://127.0.0.1:7070/link');
  const wide = parseSite(withManager('{ listen: "10.0.0.5:7070" }'), 'site.yaml', '.').site.manager!;
  assert.equal(managerSpeaksTls(wide), true);
  assert.equal(managerLinkUrl(wide), 'wss://10.0.0.5:7070/link');
  // A proxy that terminates TLS in front of a manager on loopback is dialled as it says.
  parseSite(withManager('{ url: "wss://manager.example:443/link" }'), 'site.yaml', '.');
  const asked = parseSite(withManager('{ listen: "127.0.0.1:7070", tls: {} }'), 'site.yaml', '.').site
    .manager!;
  assert.equal(managerLinkUrl(asked), 'wss://127.0.0.1:7070/link');
});

test("a server's page lists must fit the one line that takes them to its interface", () => {
  const many = Array.from({ length: 5000 }, (_, i) => `"/page-${String(i).padStart(6, '0')}"`).join(', ');
  assert.match(
    refused(GOOD.replace('stateful: ["/cart/*", "/checkout"]', `stateful: [${many}]`)),
    /applications\[0\]: the page lists of server "web-a" come to \d+ bytes; at most 49152 reach its interface/,
  );
  assert.match(
    refused(GOOD.replace('stateful: ["/cart/*", "/checkout"]', `stateful: ["/${'a'.repeat(3000)}"]`)),
    /applications\[0\]\.stateful\[0\]: a page pattern is at most 2048 characters/,
  );
});

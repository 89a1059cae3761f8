import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

/** What a component's logger prints to a pipe, with SWITCHYARD_LOG_FORMAT as given. */
function printed(format: string | undefined): string {
  const env = { ...process.env };
  delete env.SWITCHYARD_LOG_FORMAT;
  if (format !== undefined) env.SWITCHYARD_LOG_FORMAT = format;
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      "import('./src/log/logger.ts').then(({ createLogger }) => createLogger('manager').info({ port: 7070, token: 'sekrit' }, 'manager listening'))",
    ],
    { env, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('JSON lines to a pipe; readable lines when asked (or on a terminal); never a secret either way', () => {
  const json = JSON.parse(printed(undefined)) as Record<string, unknown>;
  assert.equal(json.component, 'manager');
  assert.equal(json.msg, 'manager listening');
  assert.equal(json.token, '[Redacted]');
  const pretty = printed('pretty');
  assert.match(pretty, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: manager: manager listening .*"port":7070/);
  assert.doesNotMatch(pretty, /sekrit/);
  assert.doesNotThrow(() => JSON.parse(printed('json')));
});

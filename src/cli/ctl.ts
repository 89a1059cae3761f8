import type { Command } from 'commander';
import { SwitchyardError } from '../errors.js';
import type { ExplainView, StatusView } from '../interceptor/views.js';
import type { ManagerStatusView } from '../manager/manager.js';
import { type CtlTarget, call, change, interceptorOf, readSorryFile, resolveTarget } from './ctl-client.js';
import { formatExplain, formatManager, formatStatus } from './ctl-format.js';
import { EXIT, fail, failFrom } from './exit.js';

/**
 * `switchyard ctl`: the interceptor control program of document 002. Overrides (enable,
 * disable, capacity, sorry, reset) go to the manager when the site has one (D25), else to
 * the interceptor; views and reload go to the interceptor's admin endpoint. Human tables by default, --json for scripts; on failure one line on stderr and
 * a non-zero exit (see exit.ts).
 */
export function registerCtl(program: Command): void {
  const ctl = program
    .command('ctl')
    .description('control a running site: overrides through the manager, views through an interceptor')
    .option('-c, --config <file>', 'site file: gives the admin address and token')
    .option('--admin <url>', "an interceptor's admin endpoint, e.g. http://127.0.0.1:8081")
    .option('--manager <url>', 'the manager, where overrides are kept, e.g. http://127.0.0.1:7070')
    .option('--json', 'print JSON')
    // Commander's own usage errors (unknown command, missing argument) get the same one-line
    // form and exit code (2) as ours; its subcommands inherit both settings.
    .configureOutput({ outputError: (str, write) => write(`switchyard: ${str.replace(/^error: /, '')}`) })
    .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage));

  const run = (fn: (t: CtlTarget, json: boolean) => Promise<string | undefined>) => async () => {
    const o = ctl.opts<{ config?: string; admin?: string; manager?: string; json?: boolean }>();
    try {
      const out = await fn(resolveTarget(o), Boolean(o.json));
      if (out !== undefined) process.stdout.write(`${out}\n`);
    } catch (e) {
      failFrom(e);
    }
  };
  const ok = (json: boolean, r: unknown, text: string) => (json ? JSON.stringify(r) : text);
  const note = (line: string) => process.stderr.write(`switchyard: ${line}\n`);

  ctl
    .command('status')
    .description('every application and server: enabled, health, capacity, LM, referrals')
    .action(
      run(async (t, json) => {
        const s = (await call(interceptorOf(t), 'GET', '/status')) as StatusView;
        return json ? JSON.stringify(s, null, 2) : formatStatus(s);
      }),
    );

  ctl
    .command('manager')
    .description("the manager's view: each server's L, level and figures, agents, overrides")
    .action(
      run(async (t, json) => {
        if (!t.manager)
          throw new SwitchyardError(
            'SY_ERR_CONFIG',
            'this site has no manager: give --manager http://host:port',
          );
        const m = (await call(
          { url: t.manager, token: t.token, name: 'manager', ca: t.managerCa },
          'GET',
          '/status',
        )) as ManagerStatusView;
        return json ? JSON.stringify(m, null, 2) : formatManager(m);
      }),
    );

  for (const verb of ['start', 'stop'] as const) {
    ctl
      .command(`${verb}-server <name>`)
      .description(
        `${verb} a server's web server process (run by its sidecar), through the manager and its agent`,
      )
      .action(async (name: string) => {
        await run(async (t, json) => {
          if (!t.manager)
            throw new SwitchyardError(
              'SY_ERR_CONFIG',
              'starting and stopping servers goes through the manager: give --manager',
            );
          const r = await call(
            { url: t.manager, token: t.token, name: 'manager', ca: t.managerCa },
            'POST',
            `/servers/${encodeURIComponent(name)}/${verb}`,
          );
          return ok(json, r, `${name} ${verb === 'start' ? 'started' : 'stopped'}`);
        })();
      });
  }

  for (const verb of ['enable', 'disable'] as const) {
    ctl
      .command(`${verb} <kind> <name>`)
      .description(`${verb} an application ("app NAME") or a server ("server NAME")`)
      .action(async (kind: string, name: string) => {
        const path =
          kind === 'app' || kind === 'application'
            ? 'applications'
            : kind === 'server'
              ? 'servers'
              : undefined;
        if (!path) fail(`${verb}: expected "app" or "server", got "${kind}"`, EXIT.usage);
        await run(async (t, json) => {
          const r = await change(t, 'POST', `/${path}/${encodeURIComponent(name)}/${verb}`, undefined, note);
          return ok(json, r, `${kind} ${name} ${verb}d`);
        })();
      });
  }

  ctl
    .command('capacity <server> <n>')
    .description('set the static capacity (1..10) of a server')
    .action(async (server: string, n: string) => {
      const capacity = Number(n);
      if (!Number.isFinite(capacity) || capacity < 1 || capacity > 10) {
        fail(`capacity: expected a number from 1 to 10, got "${n}"`, EXIT.usage);
      }
      await run(async (t, json) => {
        const r = await change(
          t,
          'PUT',
          `/servers/${encodeURIComponent(server)}/capacity`,
          { capacity },
          note,
        );
        return ok(json, r, `capacity of ${server} set to ${capacity}`);
      })();
    });

  ctl
    .command('sorry <app> <file>')
    .description("set an application's sorry page from an HTML file")
    .action(async (app: string, file: string) => {
      await run(async (t, json) => {
        const html = readSorryFile(file);
        const r = await change(t, 'PUT', `/applications/${encodeURIComponent(app)}/sorry`, { html }, note);
        return ok(json, r, `sorry page of ${app} set from ${file}`);
      })();
    });

  ctl
    .command('explain <url>')
    .description('which application a URL matches, each server with its share, and what a request gets now')
    .option('--host <host>', 'Host header to assume')
    .option('--secure', 'as if the request came over TLS')
    .action(async (url: string, o: { host?: string; secure?: boolean }) => {
      let path = url;
      let host = o.host ?? '';
      if (/^https?:\/\//i.test(url)) {
        const u = new URL(url);
        path = u.pathname + u.search;
        host ||= u.host;
      }
      await run(async (t, json) => {
        const q = new URLSearchParams({ url: path, host, ...(o.secure ? { secure: '1' } : {}) });
        const e = (await call(interceptorOf(t), 'GET', `/explain?${q}`)) as ExplainView;
        return json ? JSON.stringify(e, null, 2) : formatExplain(e);
      })();
    });

  ctl
    .command('reset')
    .description('drop every operator override and go back to the site file')
    .action(
      run(async (t, json) =>
        ok(json, await change(t, 'POST', '/reset', undefined, note), 'overrides dropped'),
      ),
    );
  ctl
    .command('reload')
    .description('read the site file again (an invalid file is refused and the old one stays)')
    .action(
      run(async (t, json) => ok(json, await call(interceptorOf(t), 'POST', '/reload'), 'site file reloaded')),
    );
  ctl
    .command('shutdown')
    .description('stop the interceptor')
    .action(
      run(async (t, json) =>
        ok(json, await call(interceptorOf(t), 'POST', '/shutdown'), 'interceptor shutting down'),
      ),
    );
}

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, httpRequest, metricValue } from '../helpers.js';
import { type RunningSite, startSite } from './site.js';

/**
 * The gateway folds each server's own figures into its choice (issue 30, D57): requests that
 * reach a server around the gateway (a bypass, another door) take its places as surely as the
 * gateway's own, so the gateway sends its requests elsewhere while they last, and a place
 * they free goes to a waiting request when the figures say so.
 */
describe("gateway with the manager's figures", { timeout: 120_000 }, () => {
  let site: RunningSite;
  before(async () => {
    site = await startSite({
      servers: [
        { name: 'web-a', slots: 2, serviceTime: 30 },
        { name: 'web-b', slots: 2, serviceTime: 30 },
      ],
      application: '    mode: proxy',
    });
  });
  after(() => site?.stop());

  const viaGateway = () => httpRequest(`http://127.0.0.1:${site.ic.port}/page`, { method: 'GET' });
  const direct = (server: string) =>
    httpRequest(`http://127.0.0.1:${site.ports.get(server)}/cart/1`, { method: 'GET' });

  test('a server kept busy by clients that bypass the gateway gets few of its requests, and its share back once they stop', async () => {
    // Figures for both servers first (the choice needs them from every server).
    await eventually(
      async () => {
        const m = await site.ic.metrics();
        return ['web-a', 'web-b'].every(
          (server) => metricValue(m, 'switchyard_interceptor_server_figures_age_seconds', { server }) < 1,
        );
      },
      'figures for both servers at the interceptor',
      5000,
    );
    // Six clients straight at web-a (2 slots, 30 ms): it is full with a queue of four, bounded in time.
    let bypassing = true;
    const until = Date.now() + 8000;
    const bypass = Array.from({ length: 6 }, async () => {
      while (bypassing && Date.now() < until) await direct('web-a');
    });
    try {
      await eventually(
        async () =>
          metricValue(await site.ic.metrics(), 'switchyard_interceptor_server_queue_length', {
            server: 'web-a',
          }) >= 2,
        "web-a's queue to show at the interceptor",
        3000,
      );
      const by = new Map<string, number>();
      // Two clients through the gateway, 40 requests: without the figures, least request sees
      // nothing of the bypass and splits them evenly.
      let next = 0;
      await Promise.all(
        Array.from({ length: 2 }, async () => {
          while (next < 40) {
            next++;
            const r = await viaGateway();
            assert.equal(r.status, 200);
            const who = String(r.headers['x-served-by']);
            by.set(who, (by.get(who) ?? 0) + 1);
          }
        }),
      );
      const a = by.get('web-a') ?? 0;
      assert.ok(a <= 4, `web-a got ${a} of 40 while the bypass kept it full (web-b ${by.get('web-b')})`);
    } finally {
      bypassing = false;
      await Promise.all(bypass);
    }
    // The bypass is gone: web-a is as good as web-b again, and gets its share.
    await eventually(
      async () => {
        const by = new Map<string, number>();
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            for (let k = 0; k < 5; k++) {
              const r = await viaGateway();
              const who = String(r.headers['x-served-by']);
              by.set(who, (by.get(who) ?? 0) + 1);
            }
          }),
        );
        return (by.get('web-a') ?? 0) >= 5;
      },
      'web-a to get its share again',
      5000,
    );
  });
});

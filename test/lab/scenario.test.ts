import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseYamlFile } from '../../src/config/load.js';
import {
  capacity,
  comebacksOf,
  doorShares,
  loadScenario,
  offeredRate,
  scenarioSchema,
  sessionRate,
  slotsOf,
  speedFactor,
} from '../../src/lab/scenario.js';

const DIR = join(import.meta.dirname, '../../bench/lab/scenarios');
const SIM_DIR = join(import.meta.dirname, '../../bench/lab/sim-scenarios');
const scenario = (name: string, dir = DIR) => loadScenario(join(dir, `${name}.yaml`));

test('every scenario file loads, and each is named for its file', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
  assert.deepEqual(files.sort(), [
    'bypass-sessions.yaml',
    'bypass.yaml',
    'degrade.yaml',
    'flash-crowd.yaml',
    'many-doors.yaml',
    'pause.yaml',
    'recover.yaml',
    'two-doors.yaml',
    'uneven-sessions.yaml',
    'uneven.yaml',
  ]);
  for (const f of files) assert.equal(scenario(f.replace('.yaml', '')).name, f.replace('.yaml', ''));
  const simOnly = readdirSync(SIM_DIR).filter((f) => f.endsWith('.yaml'));
  assert.deepEqual(simOnly.sort(), ['join.yaml', 'long-tail.yaml', 'tiny.yaml']);
  for (const f of simOnly)
    assert.equal(scenario(f.replace('.yaml', ''), SIM_DIR).name, f.replace('.yaml', ''));
});

test('a server that comes back is scored from when it does, against its share of all slots', () => {
  assert.deepEqual(comebacksOf(scenario('recover')), [
    { server: 4, at: 20_000, fair: 1 / 6 },
    { server: 5, at: 20_000, fair: 1 / 6 },
  ]);
  assert.deepEqual(comebacksOf(scenario('join', SIM_DIR)), [{ server: 3, at: 15_000, fair: 1 / 4 }]);
  assert.deepEqual(comebacksOf(scenario('degrade')), []); // four times slower is judged by its share reaction
  const late = { ...scenario('join', SIM_DIR) };
  const bad = scenarioSchema.safeParse({ ...late, servers: [{ name: 'x', strength: 1, start: 99_000 }] });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues[0]?.path, ['servers', 0, 'start']);
});

test('uneven: strengths 1, 1, 2, 4 at 70 % of capacity, one strength unit about 100 requests a second', () => {
  const s = scenario('uneven');
  assert.deepEqual(
    s.servers.map((x) => slotsOf(x.strength)),
    [2, 2, 4, 8],
  );
  assert.equal(capacity(s), 800);
  assert.equal(offeredRate(s, 0), 560);
  assert.deepEqual(doorShares(s), [1]);
  assert.deepEqual(s.service, { distribution: 'exponential', mean: 20 });
  assert.equal(s.timeout, 2000, 'the default client time-out');
  assert.ok((s.duration / 1000) * offeredRate(s, 0) >= 20_000, 'a p99 on at least 20,000 requests');
});

test('degrade: one server four times slower in the middle third only', () => {
  const s = scenario('degrade');
  assert.equal(speedFactor(s, 'd', 19_999), 1);
  assert.equal(speedFactor(s, 'd', 20_000), 4);
  assert.equal(speedFactor(s, 'd', 39_999), 4);
  assert.equal(speedFactor(s, 'd', 40_000), 1);
  assert.equal(speedFactor(s, 'a', 30_000), 1);
});

test('flash-crowd steps from 50 % to 110 % for ten seconds and back', () => {
  const s = scenario('flash-crowd');
  assert.deepEqual(
    [0, 19_999, 20_000, 29_999, 30_000].map((t) => offeredRate(s, t) / capacity(s)),
    [0.5, 0.5, 1.1, 1.1, 0.5],
  );
});

test('doors, bypass and sessions read as the issue describes them', () => {
  assert.deepEqual(doorShares(scenario('many-doors')), Array(8).fill(1 / 8));
  assert.deepEqual(scenario('bypass').bypass, { share: 0.3333, server: 'two' });
  const s = scenario('uneven-sessions');
  assert.deepEqual(s.sessions, { followUps: 5, think: 1000 });
  assert.equal(s.addedDelay, 20);
  assert.equal(sessionRate(s, 0), 560 / 6, 'sessions begin so that all their requests make the load');
});

test('a bad scenario is refused with the key named', () => {
  const base = 'name: x\ndescription: d\nservers: [{ name: a, strength: 1 }]\n';
  const problem = (extra: string) => {
    try {
      parseYamlFile(scenarioSchema, base + extra, 'x.yaml');
      return 'accepted';
    } catch (e) {
      return (e as Error).message;
    }
  };
  assert.equal(
    problem(''),
    'x.yaml: load: expected a share of total capacity such as 0.7, or a list of steps { at, share }',
  );
  assert.equal(problem('load: 0.5\n'), 'accepted');
  assert.equal(
    problem('load: [{ at: 1s, share: 0.5 }, { at: 1s, share: 0.7 }]\n'),
    'x.yaml: load[0].at: the first step begins at 0\nx.yaml: load[1].at: steps must be in time order',
  );
  assert.equal(
    problem('load: 0.5\nbypass: { share: 0.2, server: b }\n'),
    'x.yaml: bypass.server: no server "b"',
  );
  assert.equal(
    problem('load: 0.5\nspeed: [{ server: a, from: 10s, to: 5s, factor: 2 }]\n'),
    'x.yaml: speed[0].to: must be after "from"',
  );
  assert.equal(
    problem('load: 0.5\ndoors: 2\nsplit: [0.5, 0.6]\n'),
    'x.yaml: split: shares must add up to 1, not 1.1',
  );
  assert.equal(problem('load: 0.5\ndoors: 0\n'), 'x.yaml: doors: Too small: expected number to be >=1');
  assert.match(problem('load: 0.5\nservice: { distribution: gamma }\n'), /^x\.yaml: service\.distribution: /);
  assert.match(problem('load: 0.5\ncolour: red\n'), /unknown key "colour"/);
  assert.match(problem('load: 0.5\nduration: soon\n'), /^x\.yaml: duration: expected a duration/);
  assert.equal(
    problem('steps: [{ at: 0s, share: 0.5 }]\n'),
    'x.yaml: load: expected a share of total capacity such as 0.7, or a list of steps { at, share }\n' +
      'x.yaml: (top level): unknown key "steps"',
    'every problem, one a line',
  );
});

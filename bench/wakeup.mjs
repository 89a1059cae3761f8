// What waking a Node process costs on this machine (D59): two Node processes play ping-pong
// over a loopback TCP socket at a fixed pace, and the client's CPU (user + system, from
// process.cpuUsage) is divided by the round trips. Each round trip is one timer, one write
// and one read in the client, the least a process woken for each request can do; at a low
// pace every one of them starts from idle.
//
// Usage: node bench/wakeup.mjs [--rates 70,500,1000] [--seconds S]   (bounded: S per rate)
import { spawn } from 'node:child_process';
import net from 'node:net';
import { cpus } from 'node:os';

if (process.argv[2] === '--echo') {
  const server = net.createServer((s) => s.on('data', (d) => s.write(d)));
  server.listen(0, '127.0.0.1', () => console.log(`echo on ${server.address().port}`));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const rates = arg('--rates', '70,500,1000').split(',').map(Number);
  const seconds = Number(arg('--seconds', '10'));
  if (rates.some((r) => !(r > 0 && r <= 1000)) || !(seconds > 0 && seconds <= 120)) {
    console.error('wakeup: --rates takes numbers in (0, 1000] (timers are whole ms), --seconds in (0, 120]');
    process.exit(2);
  }
  const echo = spawn(process.execPath, [import.meta.filename, '--echo'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    echo.stdout.once('data', (d) => resolve(Number(/echo on (\d+)/.exec(String(d))?.[1])));
    echo.once('exit', () => reject(new Error('the echo process ended')));
  });
  console.log(`${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPUs, node ${process.version}`);
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  const msg = Buffer.alloc(200, 97);
  let echoed = 0;
  socket.on('data', (d) => {
    echoed += d.length;
  });
  for (const rate of rates) {
    const before = echoed;
    const c0 = process.cpuUsage();
    const timer = setInterval(() => socket.write(msg), 1000 / rate);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    clearInterval(timer);
    const c = process.cpuUsage(c0);
    const trips = (echoed - before) / msg.length;
    const per = (us) => (trips > 0 ? (us / trips).toFixed(0) : '-');
    console.log(
      `${String(rate).padStart(6)}/s requested: ${trips.toFixed(0)} round trips, CPU ${per(c.user + c.system)} µs a round trip (${per(c.user)} user, ${per(c.system)} system)`,
    );
  }
  socket.destroy();
  echo.stdin.end();
}

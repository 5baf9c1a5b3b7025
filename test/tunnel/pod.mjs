// A pod's process in the tunnel tests: `serve NAME PORT` echoes each chunk back prefixed by the
// pod's name once per connection; `dial HOST PORT MESSAGE` sends MESSAGE and prints one JSON line
// ({ok, reply} or {error, ms}); `hold HOST PORT MS` sends a line every 50 ms for MS and prints how
// many came back.
import net from 'node:net';

const [mode, a, b, c] = process.argv.slice(2);
if (mode === 'serve') {
  net.createServer((s) => {
    s.write(`${a}:`);
    s.pipe(s);
    s.on('error', () => s.destroy());
  }).listen(Number(b), () => console.log('listening'));
} else if (mode === 'dial') {
  const t0 = Date.now();
  const s = net.connect(Number(b), a);
  let reply = '';
  s.on('connect', () => s.write(c));
  s.on('data', (d) => {
    reply += d;
    if (reply.endsWith(c)) {
      console.log(JSON.stringify({ ok: true, reply, ms: Date.now() - t0 }));
      s.end();
      process.exit(0);
    }
  });
  s.on('error', (e) => {
    console.log(JSON.stringify({ error: e.code ?? e.message, reply, ms: Date.now() - t0 }));
    process.exit(0);
  });
  s.on('close', () => {
    console.log(JSON.stringify({ error: 'closed', reply, ms: Date.now() - t0 }));
    process.exit(0);
  });
  setTimeout(() => {
    console.log(JSON.stringify({ error: 'timeout', reply, ms: Date.now() - t0 }));
    process.exit(0);
  }, 10000);
} else if (mode === 'hold') {
  const s = net.connect(Number(b), a);
  let sent = 0;
  let echoed = 0;
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    echoed = (buf.match(/ping\n/g) ?? []).length;
  });
  s.on('connect', () => {
    const timer = setInterval(() => {
      s.write('ping\n');
      sent++;
    }, 50);
    setTimeout(() => {
      clearInterval(timer);
      setTimeout(() => {
        console.log(JSON.stringify({ sent, echoed, error: s.destroyed ? 'closed' : undefined }));
        process.exit(0);
      }, 300);
    }, Number(c));
  });
  s.on('error', (e) => {
    console.log(JSON.stringify({ sent, echoed, error: e.code ?? e.message }));
    process.exit(0);
  });
}

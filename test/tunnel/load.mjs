// Load for bench/tunnel.ts, run as a pod's process. `server PORT`: per connection, the first byte
// says what it wants: 'B' + 8-byte length: that many bytes sent back, then the end; 'E': echo.
// Clients print one JSON line:
//   bulk HOST PORT BYTES              one connection, BYTES from the server: throughput
//   rr HOST PORT CONNS SECONDS        CONNS keep-alive connections, 100-byte request/response
//                                     back to back: requests/s, p50/p99 µs
//   conn HOST PORT CONC SECONDS       a new connection per request, CONC at a time: connections/s
import net from 'node:net';

const [mode, host, portArg, a, b] = process.argv.slice(2);
const port = Number(portArg);
const REQ = 100;

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : 0;
}

if (mode === 'server') {
  const chunk = Buffer.alloc(256 * 1024, 120);
  net.createServer((s) => {
    s.on('error', () => s.destroy());
    s.once('readable', function first() {
      const head = s.read(1);
      if (!head) return s.once('readable', first);
      if (head[0] === 0x45) {
        s.pipe(s);
        return;
      }
      const readLen = () => {
        const len = s.read(8);
        if (!len) return s.once('readable', readLen);
        let left = Number(len.readBigUInt64BE(0));
        s.resume();
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return s.once('drain', pump);
          }
          s.end();
        };
        pump();
      };
      readLen();
    });
  }).listen(Number(host), () => console.log('listening'));
} else if (mode === 'bulk') {
  const bytes = Number(a);
  const t0 = process.hrtime.bigint();
  const s = net.connect(port, host, () => {
    const head = Buffer.alloc(9);
    head[0] = 0x42;
    head.writeBigUInt64BE(BigInt(bytes), 1);
    s.write(head);
  });
  let got = 0;
  s.on('data', (d) => (got += d.length));
  s.on('end', () => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(JSON.stringify({ bytes: got, ms, mbitps: (got * 8) / ms / 1000 }));
    process.exit(0);
  });
  s.on('error', (e) => {
    console.log(JSON.stringify({ error: e.code ?? e.message, bytes: got }));
    process.exit(0);
  });
} else if (mode === 'rr') {
  const conns = Number(a);
  const end = Date.now() + Number(b) * 1000;
  const lat = [];
  let errors = 0;
  const req = Buffer.alloc(REQ, 97);
  let running = conns;
  const finish = () => {
    if (--running > 0) return;
    lat.sort((x, y) => x - y);
    console.log(JSON.stringify({ requests: lat.length, rps: lat.length / Number(b), p50: percentile(lat, 50), p99: percentile(lat, 99), errors }));
    process.exit(0);
  };
  for (let i = 0; i < conns; i++) {
    const s = net.connect(port, host);
    s.setNoDelay(true);
    let got = 0;
    let t0 = 0n;
    const send = () => {
      if (Date.now() > end) {
        s.destroy();
        return finish();
      }
      got = 0;
      t0 = process.hrtime.bigint();
      s.write(req);
    };
    s.on('connect', () => {
      // Echo mode first; every request after it is echoed whole.
      s.write('E');
      send();
    });
    s.on('data', (d) => {
      got += d.length;
      if (got >= REQ) {
        lat.push(Number(process.hrtime.bigint() - t0) / 1000);
        send();
      }
    });
    s.on('error', () => {
      errors++;
      finish();
    });
  }
} else if (mode === 'conn') {
  const conc = Number(a);
  const end = Date.now() + Number(b) * 1000;
  const lat = [];
  let errors = 0;
  let running = conc;
  const req = Buffer.alloc(REQ + 1, 97);
  req[0] = 0x45;
  const one = () => {
    if (Date.now() > end) {
      if (--running === 0) {
        lat.sort((x, y) => x - y);
        console.log(JSON.stringify({ connections: lat.length, cps: lat.length / Number(b), p50: percentile(lat, 50), p99: percentile(lat, 99), errors }));
        process.exit(0);
      }
      return;
    }
    const t0 = process.hrtime.bigint();
    const s = net.connect(port, host);
    let got = 0;
    s.on('connect', () => s.write(req));
    s.on('data', (d) => {
      got += d.length;
      if (got >= REQ) {
        lat.push(Number(process.hrtime.bigint() - t0) / 1000);
        s.destroy();
        one();
      }
    });
    s.on('error', () => {
      errors++;
      s.destroy();
      one();
    });
  };
  for (let i = 0; i < conc; i++) one();
}

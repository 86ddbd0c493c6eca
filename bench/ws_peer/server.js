// The peer of mote's WebSocket benchmark (bench/run.py, `make bench`): an echo server on the npm
// `ws` package, the most used WebSocket server for Node.js. It echoes every message back with its
// type (text or binary), without compression (perMessageDeflate: false), at /ws on 127.0.0.1.
//
// usage: node server.js PORT      (prints "listening" once it accepts connections)
'use strict';

const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  path: '/ws',
  perMessageDeflate: false,
  clientTracking: false,
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => console.log('listening'));
wss.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(0));

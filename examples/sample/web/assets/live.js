// The live page: one JSON text a second from /live/ws, shown in the table.
'use strict';
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') +
                         location.host + '/live/ws');
const status = document.getElementById('status');
ws.onopen = () => { status.textContent = 'live'; };
ws.onclose = (e) => { status.textContent = 'closed (' + e.code + ')'; };
ws.onmessage = (e) => {
  const d = JSON.parse(e.data);
  for (const k of ['connections', 'websockets', 'requests', 'bytes_in', 'bytes_out'])
    document.getElementById(k).textContent = d[k];
  document.getElementById('uptime').textContent = Math.floor(d.uptime_ms / 1000);
};

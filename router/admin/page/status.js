// SeqDB status page: polls /status.json once a second and redraws. No framework, no build.
'use strict';
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (n) => (n === undefined || n === null ? '–' : Number(n).toLocaleString('en-US'));

function renderChart(history) {
  const svg = $('chart');
  const W = 800, H = 160, pad = 24;
  const pts = history.slice(-300);
  $('chart-span').textContent = String(pts.length);
  const max = Math.max(10, ...pts.map((p) => p.ops));
  const x = (i) => pad + (pts.length <= 1 ? 0 : (i * (W - pad - 4)) / (pts.length - 1));
  const y = (v) => H - 18 - (v * (H - 30)) / max;
  const line = (key) => pts.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join('');
  const grid = [0, 0.5, 1].map((f) => `<line class="grid" x1="${pad}" x2="${W}" y1="${y(max * f)}" y2="${y(max * f)}"/><text x="0" y="${y(max * f) + 4}">${Math.round(max * f)}</text>`).join('');
  const ops = line('ops');
  const area = pts.length > 1 ? `<path class="area" d="${ops}L${x(pts.length - 1)},${y(0)}L${x(0)},${y(0)}Z"/>` : '';
  const axis = pts.length > 1 ? `<text x="${pad}" y="${H - 2}">-${pts.length - 1} s</text><text x="${W - 26}" y="${H - 2}">now</text>` : '';
  svg.innerHTML = grid + axis + area + (pts.length > 1 ? `<path class="ops" d="${ops}"/><path class="errs" d="${line('errors')}"/>` : '');
}

function renderShard(s) {
  const rows = s.nodes.map((n) => `
    <tr class="node" data-addr="${esc(n.addr)}" data-up="${n.up}" data-role="${esc(n.role ?? 'down')}">
      <td><span class="dot"></span>${esc(n.addr)}</td>
      <td>${esc(n.nodeId ?? '')}</td>
      <td class="role ${esc(n.role ?? '')}">${n.up ? esc(n.role) : 'unreachable'}</td>
      <td>${num(n.term)}</td><td>${num(n.commit)}</td><td>${num(n.applied)}</td>
      <td class="${(n.lag ?? 0) > 100 ? 'lag-bad' : ''}">${n.lag === undefined ? '–' : num(n.lag)}</td>
    </tr>`).join('');
  return `<div class="shard" data-shard="${esc(s.id)}" data-healthy="${s.healthy}" data-leader="${esc(s.leader ?? '')}">
    <div class="shard-head">
      <h2>shard ${esc(s.id)}</h2>
      <span>leader <b class="leader">${esc(s.leader ?? 'none')}</b></span>
      <span>${num(s.slots)} slots (${s.sharePct}%) <span class="share"><div style="width:${s.sharePct}%"></div></span></span>
      <span class="problems">${s.problems.map(esc).join(' · ')}</span>
    </div>
    <table><thead><tr><th>node</th><th>id</th><th>role</th><th>term</th><th>commit</th><th>applied</th><th>lag</th></tr></thead>
    <tbody>${rows}</tbody></table></div>`;
}

function render(st) {
  $('cluster-name').textContent = st.cluster;
  $('router-addr').textContent = st.router;
  $('catalog-epoch').textContent = st.catalogEpoch;
  $('updated').textContent = new Date(st.time).toLocaleTimeString();
  const health = $('cluster-health');
  health.dataset.healthy = String(st.healthy);
  health.textContent = st.healthy ? 'healthy' : 'unhealthy';
  $('ops').textContent = num(st.opsPerSec);
  $('requests').textContent = num(st.requestsTotal);
  $('errors').textContent = num(st.errorsTotal);
  $('shard-count').textContent = String(st.shards.length);
  $('shards').innerHTML = st.shards.map(renderShard).join('') || '<p class="muted">No shards known yet.</p>';
  renderChart(st.history);
}

async function refresh() {
  try {
    const res = await fetch('/status.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render(await res.json());
    $('fetch-error').hidden = true;
  } catch (err) {
    $('fetch-error').hidden = false;
    $('fetch-error').textContent = `cannot reach the router: ${err.message}`;
    $('cluster-health').dataset.healthy = 'false';
    $('cluster-health').textContent = 'router unreachable';
  }
}

refresh();
setInterval(refresh, 1000);

// The local console's page (docs/console.md): preact + htm, uPlot for the charts, ES modules
// served by the local runtime from node_modules (no CDN, no bundler). It signs in through the
// local identity provider (authorization code + PKCE, a public client), reads tenant data through
// the MCP endpoint with the user's token, and the platform's queues and agents from /console/api/
// (operator role). What it shows follows what the token may do: tools/list names the tools the
// user's roles permit; the console API answers 403 to other roles.
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';

const html = htm.bind(h);
const config = JSON.parse(document.body.dataset.config);
const ISSUER_PATH = new URL(config.issuer).pathname;
const MCP_PATH = new URL(config.mcpUrl).pathname;
const REDIRECT_URI = `${location.origin}/console/`;
const SCOPES = ['switchboard/tasks.read', 'switchboard/audit'];
const TOKEN_KEY = 'switchboard.console.token';
const PKCE_KEY = 'switchboard.console.pkce';
const params = new URLSearchParams(location.search);
/** How often the page polls (ms); `?interval=` for a slower or faster page. */
const INTERVAL_MS = Math.min(60_000, Math.max(250, Number(params.get('interval')) || 1000));
/** How far back the charts go. */
const WINDOW_SECONDS = 10 * 60;
const STATUSES = ['queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'cancelled'];
const PRIORITIES = ['critical', 'high', 'normal', 'low'];
const COLORS = ['#1f77b4', '#ff7f0e', '#9467bd', '#2ca02c', '#d62728', '#7f7f7f'];

// ---------------------------------------------------------------------------------------------
// Sign-in: authorization code + PKCE (S256) with the local provider; the token in sessionStorage.

const base64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const random = (length) => base64url(crypto.getRandomValues(new Uint8Array(length)));

const signIn = async () => {
  const verifier = random(32);
  const state = random(16);
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(`${ISSUER_PATH}/auth`, location.origin);
  for (const [name, value] of Object.entries({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: REDIRECT_URI,
    scope: SCOPES.join(' '),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    resource: config.mcpUrl,
  })) url.searchParams.set(name, value);
  location.assign(url.href);
};

/** Back from the provider with `?code&state`: exchange the code (with the verifier) for an access token. */
const finishSignIn = async () => {
  const code = params.get('code');
  const error = params.get('error');
  if (!code && !error) return undefined;
  history.replaceState(null, '', REDIRECT_URI);
  if (error) throw new Error(`sign-in refused: ${error}${params.get('error_description') ? `: ${params.get('error_description')}` : ''}`);
  const pkce = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? 'null');
  sessionStorage.removeItem(PKCE_KEY);
  if (!pkce || pkce.state !== params.get('state')) throw new Error('sign-in: this answer does not match the sign-in started here; sign in again');
  const response = await fetch(`${ISSUER_PATH}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: config.clientId,
      code_verifier: pkce.verifier,
      resource: config.mcpUrl,
    }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`sign-in: ${body.error ?? response.status}: ${body.error_description ?? ''}`);
  const session = { token: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
  return session;
};

const storedSession = () => {
  const session = JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? 'null');
  return session && session.expiresAt > Date.now() + 5_000 ? session : undefined;
};

const claimsOf = (token) => {
  const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  return { subject: payload.sub, tenant: payload[config.tenantClaim], roles: [].concat(payload[config.rolesClaim] ?? []) };
};

// ---------------------------------------------------------------------------------------------
// The MCP endpoint (2025-11-25: stateless, JSON responses) and the console API, with the token.

class SignedOutError extends Error {}
let rpcId = 0;

const mcp = async (token, method, rpcParams) => {
  const response = await fetch(MCP_PATH, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params: rpcParams }),
  });
  if (response.status === 401) throw new SignedOutError('the token was refused: sign in again');
  const body = await response.json();
  if (body.error) throw new Error(body.error.message);
  return body.result;
};

const callTool = async (token, name, args) => {
  const result = await mcp(token, 'tools/call', { name, arguments: args });
  if (result.isError) throw new Error(result.content?.[0]?.text ?? `${name} failed`);
  return result.structuredContent;
};

const consoleApi = async (token, view) => {
  const response = await fetch(`/console/api/${view}`, { headers: { authorization: `Bearer ${token}` } });
  if (response.status === 401) throw new SignedOutError('the token was refused: sign in again');
  if (response.status === 403) return undefined;
  const body = await response.json();
  if (!response.ok) throw new Error(body.message ?? `console API ${view}: ${response.status}`);
  return body;
};

/** The deep health check when the runtime has one (`/healthz?deep=1`), else liveness (`/healthz`) only. */
const health = async () => {
  const deep = await fetch('/healthz?deep=1', { headers: { accept: 'application/json' } });
  const response = deep.status === 404 ? await fetch('/healthz', { headers: { accept: 'application/json' } }) : deep;
  const body = await response.json().catch(() => ({}));
  return { status: response.status, deep: response === deep, body };
};
/** The deep check reads every table, queue and key: once every few seconds is enough. */
const HEALTH_EVERY_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Views.

const age = (iso) => {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 90 ? `${seconds} s` : seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;
};
const isRun = (task) => task.capability?.startsWith('workflow.');

/** A uPlot line chart of series over time; redrawn with setData as samples arrive. */
const Chart = ({ id, title, labels, samples }) => {
  const box = useRef(null);
  const plot = useRef(null);
  const data = [samples.map((s) => s.t), ...labels.map((_, i) => samples.map((s) => s.values[i] ?? null))];
  useEffect(() => {
    plot.current = new uPlot(
      {
        title,
        width: Math.max(320, box.current.clientWidth || 480),
        height: 180,
        scales: { x: { time: true } },
        series: [{}, ...labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2 }))],
        axes: [{}, { size: 40 }],
      },
      data,
      box.current,
    );
    return () => plot.current.destroy();
  }, [labels.join(',')]);
  useEffect(() => plot.current?.setData(data), [samples]);
  return html`<div class="chart" id=${id} data-samples=${samples.length} ref=${box}></div>`;
};

const Health = ({ health: result }) => {
  if (!result) return html`<section id="health"><h2>Health</h2><p>…</p></section>`;
  const { ready, ...deep } = result.body;
  const detail = result.deep && Array.isArray(deep.dependencies)
    ? html`<table id="dependencies"><thead><tr><th>dependency</th><th>kind</th><th>status</th><th>latency</th></tr></thead><tbody>
        ${deep.dependencies.map((d) => html`<tr data-dependency=${d.name}><td>${d.name}</td><td>${d.kind}</td>
          <td><span class=${`badge ${d.status === 'ok' ? 'ok' : 'bad'}`}>${d.status}${d.error ? ` (${d.error})` : ''}</span></td><td>${d.latencyMs} ms</td></tr>`)}
      </tbody></table><p class="muted">Deep check${deep.checkedAt ? ` at ${deep.checkedAt.slice(11, 19)}` : ''}${deep.durationMs === undefined ? '' : `, ${deep.durationMs} ms`}.</p>`
    : result.deep && Object.keys(deep).length
    ? html`<pre class="deep">${JSON.stringify(deep, null, 2)}</pre>`
    : html`<p class="muted">Liveness only: this runtime has no deep health check (<code>/healthz?deep=1</code>).</p>`;
  return html`<section id="health"><h2>Health</h2>
    <p><span class=${`badge ${result.status === 200 ? 'ok' : 'bad'}`}>${result.status === 200 ? 'healthy' : `unhealthy (${result.status})`}</span>
    ${ready === undefined ? '' : ` ready: ${String(ready)}`}${deep.status ? ` ${deep.status}` : ''}</p>${detail}</section>`;
};

const StatusCounts = ({ label, tasks }) => html`<p class="counts">${label}:
  ${STATUSES.map((status) => html` <span class=${`badge ${status}`} data-count=${status}>${status} ${tasks.filter((t) => t.status === status).length}</span>`)}</p>`;

const Tasks = ({ tasks, history, selected, onSelect }) => html`<section id="tasks"><h2>Tasks and runs</h2>
  <${StatusCounts} label="tasks" tasks=${tasks.filter((t) => !isRun(t))} />
  <${StatusCounts} label="runs" tasks=${tasks.filter(isRun)} />
  <${Chart} id="tasks-chart" title="Tasks by status (newest 100)" labels=${STATUSES} samples=${history} />
  <table><thead><tr><th>task</th><th>capability</th><th>status</th><th>priority</th><th>updated</th></tr></thead>
  <tbody>${tasks.slice(0, 25).map((task) => html`<tr data-task-id=${task.taskId} data-status=${task.status}
      class=${selected === task.taskId ? 'selected' : ''} onClick=${() => onSelect(task.taskId)}>
    <td><a href="#" onClick=${(e) => e.preventDefault()}><code>${task.taskId}</code></a></td><td>${task.capability}</td>
    <td><span class=${`badge ${task.status}`}>${task.status}</span></td><td>${task.priority}</td><td>${age(task.updatedAt)} ago</td></tr>`)}
  </tbody></table>${tasks.length === 0 ? html`<p class="muted">No task yet in this tenant.</p>` : ''}</section>`;

const TaskDetail = ({ task, onClose }) => {
  if (!task) return null;
  return html`<section id="task-detail"><h2>${isRun(task) ? 'Run' : 'Task'} <code>${task.taskId}</code>
    <button class="link" onClick=${onClose}>close</button></h2>
    <p>${task.capability}, <span class=${`badge ${task.status}`}>${task.status}</span>, priority ${task.priority}, created ${age(task.createdAt)} ago</p>
    ${task.steps?.length
      ? html`<table id="steps"><thead><tr><th>step</th><th>status</th><th>attempts</th><th>output or error</th></tr></thead><tbody>
        ${task.steps.map((step) => html`<tr data-step-id=${step.stepId}><td>${step.stepId}</td><td><span class=${`badge ${step.status}`}>${step.status}</span></td>
          <td>${step.attempts ?? ''}</td><td><code>${JSON.stringify(step.error ?? step.output ?? '').slice(0, 200)}</code></td></tr>`)}</tbody></table>`
      : ''}
    ${task.approval ? html`<p>Waiting for approval by ${[].concat(task.approval.roles ?? []).join(', ')}</p>` : ''}
    ${task.result !== undefined ? html`<p>Result: <code>${JSON.stringify(task.result).slice(0, 500)}</code></p>` : ''}
    ${task.error ? html`<p class="error">Error: <code>${task.error.code}</code> ${task.error.message}</p>` : ''}</section>`;
};

const Agents = ({ agents }) => html`<section id="agents"><h2>Agents</h2>
  <table><thead><tr><th>agent</th><th>kind</th><th>capabilities</th><th>in flight</th><th>latency (EWMA)</th><th>success</th><th>circuit</th></tr></thead>
  <tbody>${agents.map((agent) => html`<tr data-agent-id=${agent.agentId}><td>${agent.agentId}</td><td>${agent.kind}</td>
    <td>${agent.capabilities.map((c) => (typeof c === 'string' ? c : c.name)).join(', ')}</td>
    <td>${agent.inFlight ?? 0}${agent.maxConcurrency ? ` / ${agent.maxConcurrency}` : ''}</td>
    <td>${agent.ewmaLatencyMs === undefined ? '—' : `${agent.ewmaLatencyMs} ms`}</td>
    <td>${agent.successRate === undefined ? '—' : `${Math.round(agent.successRate * 100)} %`}</td>
    <td><span class=${`badge circuit-${agent.circuit}`}>${agent.circuit}</span></td></tr>`)}</tbody></table>
  ${agents.length === 0 ? html`<p class="muted">No routed agent has been called yet (built-in agents alone on their capability keep no statistics).</p>` : ''}</section>`;

const Queues = ({ queues, history }) => html`<section id="queues"><h2>Queues</h2>
  <table><thead><tr><th>queue</th><th>priority</th><th>visible</th><th>in flight</th><th>delayed</th><th>oldest message</th></tr></thead>
  <tbody>${queues.map((queue) => html`<tr data-queue=${queue.priority ?? queue.name}><td><code>${queue.name}</code></td><td>${queue.priority ?? 'dead letters'}</td>
    <td>${queue.visible}</td><td>${queue.inFlight}</td><td>${queue.delayed}</td><td>${queue.oldestAgeSeconds} s</td></tr>`)}</tbody></table>
  <${Chart} id="queues-chart" title="Messages per priority (visible + in flight)" labels=${PRIORITIES} samples=${history} />
  <${Chart} id="ages-chart" title="Oldest message age per priority (s)" labels=${PRIORITIES} samples=${history.map((s) => ({ t: s.t, values: s.ages }))} /></section>`;

const Audit = ({ entries, showOwn, onToggle }) => {
  const shown = entries.filter((entry) => showOwn || entry.clientId !== config.clientId).slice(-20).reverse();
  return html`<section id="audit"><h2>Recent audit events</h2>
    <label><input type="checkbox" checked=${showOwn} onChange=${onToggle} /> include the console's own reads</label>
    <table><thead><tr><th>seq</th><th>time</th><th>subject</th><th>action</th><th>decision</th><th>outcome</th><th>target</th></tr></thead>
    <tbody>${shown.map((entry) => html`<tr data-seq=${entry.seq} data-action=${entry.action}><td>${entry.seq}</td><td>${entry.time.slice(11, 19)}</td>
      <td>${entry.subject}</td><td>${entry.action}</td><td>${entry.decision}</td><td>${typeof entry.outcome === 'string' ? entry.outcome : (entry.outcome?.status ?? JSON.stringify(entry.outcome))}${entry.outcome?.code ? ` (${entry.outcome.code})` : ''}</td>
      <td>${entry.target ?? ''}</td></tr>`)}</tbody></table>
    ${shown.length === 0 ? html`<p class="muted">No audit event in the last minutes.</p>` : ''}</section>`;
};

// ---------------------------------------------------------------------------------------------
// The dashboard: one poll per interval, each panel only when the token may read it.

const trim = (samples) => samples.filter((s) => s.t >= Date.now() / 1000 - WINDOW_SECONDS);

const Dashboard = ({ session, onSignOut }) => {
  const claims = claimsOf(session.token);
  const [allowed, setAllowed] = useState(undefined);
  const [state, setState] = useState({ tasks: [], taskHistory: [], queues: undefined, queueHistory: [], agents: undefined, audit: [], health: undefined });
  const [error, setError] = useState(undefined);
  const [selected, setSelected] = useState(undefined);
  const [detail, setDetail] = useState(undefined);
  const [showOwn, setShowOwn] = useState(false);
  const auditSince = useRef(new Date(Date.now() - 5 * 60_000).toISOString());
  const healthAt = useRef(0);

  useEffect(() => {
    mcp(session.token, 'tools/list', {})
      .then((result) => setAllowed(new Set(result.tools.map((tool) => tool.name))))
      .catch((e) => (e instanceof SignedOutError ? onSignOut(e.message) : setError(e.message)));
  }, []);

  useEffect(() => {
    if (!allowed) return undefined;
    let stopped = false;
    let timer;
    const tick = async () => {
      try {
        const now = Date.now() / 1000;
        const [tasks, audit, agents, queues, agentLoads, healthResult] = await Promise.all([
          allowed.has('list_tasks') ? callTool(session.token, 'list_tasks', { limit: 100 }).then((r) => r.tasks) : undefined,
          allowed.has('query_audit') ? callTool(session.token, 'query_audit', { filters: { since: auditSince.current }, limit: 1000 }).then((r) => r.entries) : undefined,
          allowed.has('list_agents') ? callTool(session.token, 'list_agents', {}).then((r) => r.agents) : undefined,
          consoleApi(session.token, 'queues'),
          consoleApi(session.token, 'agents'),
          Date.now() - healthAt.current >= HEALTH_EVERY_MS ? ((healthAt.current = Date.now()), health()) : undefined,
        ]);
        if (selected) callTool(session.token, 'get_task', { taskId: selected }).then(setDetail, () => setDetail(undefined));
        if (stopped) return;
        if (audit?.length) auditSince.current = audit[audit.length - 1].time;
        setError(undefined);
        setState((previous) => {
          const byPriority = (pick) => PRIORITIES.map((p) => queues?.queues.filter((q) => q.priority === p).reduce((sum, q) => sum + pick(q), 0) ?? null);
          const seen = new Set(previous.audit.map((entry) => entry.seq));
          return {
            tasks: tasks ?? [],
            taskHistory: tasks ? trim([...previous.taskHistory, { t: now, values: STATUSES.map((s) => tasks.filter((task) => task.status === s).length) }]) : [],
            queues: queues?.queues,
            queueHistory: queues
              ? trim([...previous.queueHistory, { t: now, values: byPriority((q) => q.visible + q.inFlight), ages: byPriority((q) => q.oldestAgeSeconds) }])
              : [],
            agents: agentLoads?.agents ?? agents,
            audit: audit ? [...previous.audit, ...audit.filter((entry) => !seen.has(entry.seq))].slice(-500) : [],
            health: healthResult ?? previous.health,
          };
        });
      } catch (e) {
        if (e instanceof SignedOutError) return onSignOut(e.message);
        if (!stopped) setError(e.message);
      }
      if (!stopped) timer = setTimeout(tick, INTERVAL_MS);
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [allowed, selected]);

  const select = (taskId) => {
    setSelected(taskId);
    callTool(session.token, 'get_task', { taskId }).then(setDetail, (e) => setError(e.message));
  };

  return html`<header><h1>Switchboard console <small>local</small></h1>
      <p id="who">Signed in as <strong>${claims.subject}</strong>, tenant <strong>${claims.tenant}</strong>, roles <strong>${claims.roles.join(', ')}</strong>
      <button id="sign-out" class="link" onClick=${() => onSignOut()}>sign out</button></p>
      <p class="muted">Updates every ${INTERVAL_MS / 1000} s${state.taskHistory.length ? `; charts over the last ${Math.round(WINDOW_SECONDS / 60)} minutes` : ''}.</p></header>
    ${error ? html`<p class="error" id="error">${error}</p>` : ''}
    ${allowed === undefined ? html`<p>Reading what your roles may see…</p>` : ''}
    <${Health} health=${state.health} />
    ${state.queues ? html`<${Queues} queues=${state.queues} history=${state.queueHistory} />` : ''}
    ${allowed?.has('list_tasks') ? html`<${Tasks} tasks=${state.tasks} history=${state.taskHistory} selected=${selected} onSelect=${select} />` : ''}
    <${TaskDetail} task=${selected ? detail : undefined} onClose=${() => (setSelected(undefined), setDetail(undefined))} />
    ${state.agents ? html`<${Agents} agents=${state.agents} />` : ''}
    ${allowed?.has('query_audit') ? html`<${Audit} entries=${state.audit} showOwn=${showOwn} onToggle=${() => setShowOwn(!showOwn)} />` : ''}`;
};

const App = () => {
  const [session, setSession] = useState(storedSession());
  const [message, setMessage] = useState(undefined);
  useEffect(() => {
    finishSignIn().then((fresh) => fresh && setSession(fresh), (e) => setMessage(e.message));
  }, []);
  const signOut = (reason) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setSession(undefined);
    setMessage(reason);
  };
  if (session) return html`<${Dashboard} session=${session} onSignOut=${signOut} />`;
  return html`<header><h1>Switchboard console <small>local</small></h1></header>
    <section id="signed-out"><p>Queues, tasks and runs, agents and the audit log of this local cloud, as your roles allow.</p>
    ${message ? html`<p class="error">${message}</p>` : ''}
    <p><button id="sign-in" onClick=${() => signIn().catch((e) => setMessage(e.message))}>Sign in with the local identity provider</button></p></section>`;
};

const root = document.getElementById('app');
root.textContent = ''; // the "Loading" line the page carries until the modules run
render(html`<${App} />`, root);

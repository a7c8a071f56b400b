// The inspector: sessions, the live statechart, the timeline, the approvals inbox.
import { api, authMode, token } from './api.js';
import { html, render, useEffect, useState } from './htm-preact.js';
import { Inbox } from './inbox.js';
import { SessionView } from './session-view.js';
import { SessionsList } from './sessions.js';

const selectedFromHash = () => new URLSearchParams(location.hash.slice(1)).get('session');

function Login({ problem, onToken }) {
  const [value, setValue] = useState('');
  return html`
    <form
      class="login panel"
      data-testid="login"
      onSubmit=${(e) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <h1>HITL inspector</h1>
      <p>
        This server checks a JWT on every request. Paste yours; it is kept in this tab only
        (sessionStorage).
      </p>
      ${problem && html`<p class="error" role="alert">${problem}</p>`}
      <textarea
        aria-label="token"
        data-testid="token"
        rows="4"
        value=${value}
        onInput=${(e) => setValue(e.currentTarget.value)}
      ></textarea>
      <button class="primary" type="submit">Sign in</button>
    </form>
  `;
}

function App() {
  const [me, setMe] = useState(null);
  const [problem, setProblem] = useState(null);
  const [needToken, setNeedToken] = useState(authMode() === 'jwt' && !token.get());
  const [meta, setMeta] = useState(null);
  const [selected, setSelected] = useState(selectedFromHash());
  const [owners] = useState(() => new Map());

  const signIn = async () => {
    try {
      const [who, chart, tools] = await Promise.all([
        api('GET', '/api/v1/me'),
        api('GET', '/api/v1/statechart'),
        api('GET', '/api/v1/tools'),
      ]);
      setMeta({ chart, tools: tools.tools });
      setMe(who);
      setNeedToken(false);
    } catch (e) {
      if (e.status === 401) {
        token.clear();
        setNeedToken(true);
      }
      setProblem(`${e.code}: ${e.message}`);
    }
  };
  useEffect(() => {
    if (!needToken) void signIn();
  }, [needToken]);
  useEffect(() => {
    const onHash = () => setSelected(selectedFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const select = (id) => {
    location.hash = `session=${encodeURIComponent(id)}`;
    setSelected(id);
  };

  if (needToken) {
    return html`<${Login}
      problem=${problem}
      onToken=${(t) => {
        token.set(t);
        setProblem(null);
        setNeedToken(false);
      }}
    />`;
  }
  if (!me || !meta) {
    return html`<p class="loading">${problem ?? 'Connecting…'}</p>`;
  }
  return html`
    <header class="top">
      <h1>HITL inspector</h1>
      <span class="who" data-testid="who"
        >${me.user_id}${me.roles.length > 0 ? ` (${me.roles.join(', ')})` : ''}</span
      >
      ${
        me.auth_mode === 'jwt' &&
        html`<button
          onClick=${() => {
            token.clear();
            setMe(null);
            setNeedToken(true);
          }}
        >
          Sign out
        </button>`
      }
    </header>
    <main class="layout">
      <${SessionsList}
        chart=${meta.chart}
        selected=${selected}
        onSelect=${select}
        onRows=${(rows) => rows.forEach((r) => owners.set(r.id, r.owner))}
      />
      ${
        selected
          ? html`<${SessionView} key=${selected} sessionId=${selected} chart=${meta.chart} />`
          : html`<section class="session empty">
              <p class="muted">Pick a session on the left.</p>
            </section>`
      }
      <${Inbox}
        me=${me}
        owners=${owners}
        tools=${meta.tools}
        refresh=${selected}
        onOpen=${select}
      />
    </main>
  `;
}

const root = document.getElementById('app');
root.replaceChildren();
render(html`<${App} />`, root);

// The sessions list: paged on the server, filtered there, refreshed every two seconds.
import { api } from './api.js';
import { usePoll, clock, shortId } from './hooks.js';
import { html, useState } from './htm-preact.js';

const PAGE = 50;

function query(filters, cursor) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (filters.state) q.set('state', filters.state);
  if (filters.pending) q.set('pending', 'true');
  if (cursor) q.set('cursor', cursor);
  return `/api/v1/sessions?${q}`;
}

export function SessionsList({ selected, onSelect, onRows, chart }) {
  // The top-level states, from the machine's own definition (GET /api/v1/statechart).
  const states = chart.states.filter((s) => s.parent === null).map((s) => s.path);
  const [filters, setFilters] = useState({ state: '', pending: false });
  const [first, setFirst] = useState(null);
  const [more, setMore] = useState([]);
  const [next, setNext] = useState(null);
  const [error, setError] = useState(null);

  // The first page is reloaded (new sessions, state changes); pages loaded with "More" stay.
  usePoll(
    async () => {
      try {
        const page = await api('GET', query(filters));
        setFirst(page.sessions);
        setNext((current) => (more.length === 0 ? page.next_cursor : current));
        onRows(page.sessions);
        setError(null);
      } catch (e) {
        setError(`${e.code}: ${e.message}`);
      }
    },
    2000,
    [filters.state, filters.pending],
  );

  const loadMore = async () => {
    const page = await api('GET', query(filters, next));
    setMore([...more, ...page.sessions]);
    setNext(page.next_cursor);
    onRows(page.sessions);
  };
  const change = (patch) => {
    setFilters({ ...filters, ...patch });
    setFirst(null);
    setMore([]);
    setNext(null);
  };
  const seen = new Set();
  const rows = [...(first ?? []), ...more].filter((r) => !seen.has(r.id) && seen.add(r.id));

  return html`
    <section class="panel sessions" data-testid="sessions">
      <h2>Sessions</h2>
      <div class="filters">
        <select
          aria-label="state"
          data-testid="state-filter"
          onChange=${(e) => change({ state: e.currentTarget.value })}
        >
          <option value="">every state</option>
          ${states.map((s) => html`<option value=${s} selected=${filters.state === s}>${s}</option>`)}
        </select>
        <label
          ><input
            type="checkbox"
            checked=${filters.pending}
            data-testid="pending-filter"
            onChange=${(e) => change({ pending: e.currentTarget.checked })}
          />
          pending approval</label
        >
      </div>
      ${error && html`<p class="error">${error}</p>`}
      ${first === null && !error && html`<p class="muted">Loading…</p>`}
      ${first !== null && rows.length === 0 && html`<p class="muted">No sessions you may see.</p>`}
      <ol class="session-rows">
        ${rows.map(
          (r) =>
            html`<li key=${r.id}>
              <button
                class=${r.id === selected ? 'session-row selected' : 'session-row'}
                data-testid="session-row"
                data-session-id=${r.id}
                data-state=${r.state}
                onClick=${() => onSelect(r.id)}
              >
                <span class="id" title=${r.id}>${shortId(r.id)}</span>
                <span class=${`badge state-${r.state}`}>${r.state}</span>
                <span class="owner">${r.owner}</span>
                ${
                  r.pending_approvals > 0 &&
                  html`<span class="badge pending" title="pending approvals"
                    >${r.pending_approvals} pending</span
                  >`
                }
                <time datetime=${r.updated_at}>${clock(r.updated_at)}</time>
              </button>
            </li>`,
        )}
      </ol>
      ${next && html`<button class="more" onClick=${loadMore}>More</button>`}
    </section>
  `;
}

// One session: its live chart (or the chart as of a past seq), time travel, audit, timeline.
import { api, watchSession } from './api.js';
import { acceptedEvents, Chart, layoutChart } from './chart.js';
import { replay } from './history.js';
import { html, useEffect, useMemo, useState } from './htm-preact.js';
import { Timeline } from './timeline.js';

function useSessionLog(sessionId) {
  const [log, setLog] = useState({ events: [], initial: 'idle', status: 'connecting' });
  const [streaming, setStreaming] = useState(new Map());
  useEffect(() => {
    setLog({ events: [], initial: 'idle', status: 'connecting' });
    setStreaming(new Map());
    return watchSession(sessionId, {
      onStatus: (status) => setLog((l) => ({ ...l, status })),
      onEvent: (event, stored) => {
        if (event.type === 'connected' && event.data.last_seq === 0) {
          setLog((l) => ({ ...l, initial: event.data.state }));
        }
        if (event.type === 'message_delta') {
          setStreaming((m) =>
            new Map(m).set(
              event.data.message_id,
              (m.get(event.data.message_id) ?? '') + event.data.delta,
            ),
          );
        }
        if (!stored) return;
        if (event.type === 'message') {
          setStreaming((m) => {
            const copy = new Map(m);
            copy.delete(event.data.message_id);
            return copy;
          });
        }
        setLog((l) => ({ ...l, events: [...l.events, event] }));
      },
    });
  }, [sessionId]);
  return { ...log, streaming };
}

function AuditBadge({ sessionId, lastSeq }) {
  const [audit, setAudit] = useState(null);
  useEffect(() => {
    let gone = false;
    const timer = setTimeout(async () => {
      try {
        const result = await api('GET', `/api/v1/sessions/${encodeURIComponent(sessionId)}/verify`);
        if (!gone) setAudit(result);
      } catch (e) {
        if (!gone) setAudit({ ok: null, problem: `${e.code}: ${e.message}` });
      }
    }, 250);
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, [sessionId, lastSeq]);
  if (!audit) return html`<span class="badge" data-testid="audit">verifying…</span>`;
  if (audit.ok === true) {
    return html`<span
      class="badge ok"
      data-testid="audit"
      data-ok="true"
      title="every stored event's hash chains to the one before it"
    >
      ✓ chain verified through seq ${audit.verified_through_seq}</span
    >`;
  }
  if (audit.ok === false) {
    return html`<span class="badge bad" data-testid="audit" data-ok="false" title=${audit.problem}>
      ✗ chain broken at seq ${audit.broken_seq}</span
    >`;
  }
  return html`<span class="badge bad" data-testid="audit">${audit.problem}</span>`;
}

export function SessionView({ sessionId, chart }) {
  const log = useSessionLog(sessionId);
  const layout = useMemo(() => layoutChart(chart), [chart]);
  const [travel, setTravel] = useState(null);
  useEffect(() => setTravel(null), [sessionId]);
  const { events } = log;
  const last = events.at(-1)?.seq ?? 0;
  const live = replay(events, undefined, log.initial);
  const shown = travel === null ? live : replay(events, travel, log.initial);
  const subagents = [...shown.subagents.entries()];

  return html`
    <section class="session" data-testid="session-view" data-session-id=${sessionId}>
      <header class="session-head">
        <h2 title=${sessionId}>${sessionId}</h2>
        <span class=${`badge state-${live.path.split('.')[0]}`} data-testid="live-state"
          >${live.path}</span
        >
        <span class="badge" data-testid="socket-status">${log.status}</span>
        <${AuditBadge} sessionId=${sessionId} lastSeq=${last} />
      </header>
      <div class="travel" data-testid="time-travel">
        <label for="travel">Time travel</label>
        <input
          id="travel"
          type="range"
          min=${events.length > 0 ? 1 : 0}
          max=${last}
          step="1"
          value=${travel ?? last}
          disabled=${events.length === 0}
          onInput=${(e) => {
            const n = Number(e.currentTarget.value);
            setTravel(n >= last ? null : n);
          }}
        />
        <span data-testid="travel-label"
          >${travel === null ? `live (seq ${last})` : `after seq ${travel} of ${last}`}</span
        >
        ${travel !== null && html`<button data-testid="travel-live" onClick=${() => setTravel(null)}>Back to live</button>`}
      </div>
      ${
        travel !== null &&
        html`<p class="travel-note" data-testid="travel-note">
          Shown as after event ${travel}, from the stored log; the session is now ${live.path}.
        </p>`
      }
      <${Chart} chart=${chart} layout=${layout} path=${shown.path} taken=${shown.taken} />
      <p class="accepts" data-testid="accepts">
        ${shown.path} accepts:
        ${acceptedEvents(chart, shown.path).map((e) => html` <code>${e}</code>`)}
      </p>
      ${subagents.map(
        ([id, sub]) =>
          html`<${Chart}
            key=${id}
            small
            chart=${chart}
            layout=${layout}
            path=${sub.path}
            taken=${sub.taken}
            title=${`subagent ${id}: ${sub.path}`}
          />`,
      )}
      <div class="state-detail">
        <div>
          <h3>Pending approvals ${travel !== null ? `(after seq ${travel})` : ''}</h3>
          ${shown.pending.length === 0 && html`<p class="muted">none</p>`}
          <ul data-testid="pending">
            ${shown.pending.map((p) => html`<li key=${p.request_id}>${p.tool} ${JSON.stringify(p.args)} — ${p.reason}</li>`)}
          </ul>
        </div>
        <div>
          <h3>Context (from the log)</h3>
          <pre data-testid="context">${JSON.stringify(shown.context, null, 2)}</pre>
        </div>
      </div>
      <${Timeline} events=${events} streaming=${log.streaming} travelSeq=${travel} />
    </section>
  `;
}

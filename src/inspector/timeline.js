// Every stored event of the session, appended live; streamed model text shown as it comes.
import { clock } from './hooks.js';
import { html } from './htm-preact.js';

/** One line that says what the event was about, before its data is expanded. */
function gist(event) {
  const d = event.data ?? {};
  const deciders = Array.isArray(d.decided_by) ? d.decided_by.join(', ') : d.decided_by;
  const by = deciders ? ` by ${deciders}` : '';
  switch (event.type) {
    case 'thinking':
      return d.command;
    case 'tool_call':
    case 'approval_required':
      return `${d.tool} ${JSON.stringify(d.args)}`;
    case 'tool_result':
      return `${d.tool} → ${JSON.stringify(d.result)}`;
    case 'approved':
      return `decided_by ${deciders}`;
    case 'rejected':
      return `decided_by ${deciders}: ${d.reason}`;
    case 'edit_approved':
      return `decided_by ${deciders}: ${JSON.stringify(d.edited_args)}`;
    case 'approval_vote':
      return `${d.vote} by ${d.decided_by}: ${d.votes_so_far} of ${d.needed}${d.reset_votes ? ` (votes reset: ${JSON.stringify(d.edited_args)})` : ''}`;
    case 'approval_escalated':
      return `to ${d.to}, until ${d.expires_at}`;
    case 'cancelled':
      return `by ${d.cancelled_by}`;
    case 'complete':
      return d.summary;
    case 'error':
      return `${d.code}: ${d.message}`;
    case 'message':
      return d.text;
    case 'subagent_start':
      return `${d.subagent_id}: ${d.task}`;
    case 'subagent_end':
      return `${d.subagent_id}: ${d.status}${by}`;
    default:
      return '';
  }
}

export function Timeline({ events, streaming, travelSeq }) {
  return html`
    <section class="panel timeline" data-testid="timeline">
      <h2>Timeline <small class="muted">${events.length} stored events</small></h2>
      <ol>
        ${events.map(
          (e) =>
            html`<li
              key=${e.seq}
              data-testid="timeline-row"
              data-type=${e.type}
              data-seq=${e.seq}
              class=${travelSeq !== null && e.seq > travelSeq ? 'future' : ''}
            >
              <details>
                <summary>
                  <span class="seq">#${e.seq}</span>
                  <span class="type">${e.type}</span>
                  <span class=${`badge state-${e.state}`}>${e.state}</span>
                  ${e.data?.subagent_id && html`<span class="badge">${e.data.subagent_id}</span>`}
                  <span class="gist">${gist(e)}</span>
                  <time datetime=${e.timestamp}>${clock(e.timestamp)}</time>
                </summary>
                <pre>${JSON.stringify(e.data, null, 2)}</pre>
              </details>
            </li>`,
        )}
        ${[...streaming.entries()].map(
          ([id, text]) =>
            html`<li key=${id} class="streaming" data-testid="streaming">
              <span class="type">message_delta</span> <span class="gist">${text}</span>
            </li>`,
        )}
      </ol>
    </section>
  `;
}

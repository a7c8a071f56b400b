// Every pending approval the caller may decide, across sessions: approve, reject, edit.
import { api } from './api.js';
import { EditForm } from './edit-form.js';
import { shortId, useNow, usePoll } from './hooks.js';
import { html, useState } from './htm-preact.js';

function countdown(expiresAt, now) {
  const left = Math.max(0, Math.round((Date.parse(expiresAt) - now) / 1000));
  const m = Math.floor(left / 60);
  const s = String(left % 60).padStart(2, '0');
  return left === 0 ? 'expired' : `expires in ${m}:${s}`;
}

const REFUSALS = {
  already_voted: 'You have voted on this request; another approver must vote now.',
  approver_not_allowed: 'Its approval policy does not let you decide it.',
};

/** The policy in force and the votes so far, as the server reports them for the caller. */
function Ballot({ approval }) {
  const policy = approval.policy;
  if (
    !policy ||
    (policy.quorum === 1 &&
      policy.rejections_needed === 1 &&
      !policy.roles &&
      !policy.users &&
      !policy.exclude_requester &&
      !policy.escalate)
  ) {
    return null;
  }
  const who = [...(policy.roles ?? []).map((r) => `role ${r}`), ...(policy.users ?? [])];
  const votes = approval.votes ?? [];
  return html`<div class="ballot" data-testid="ballot">
    <p>
      <strong data-testid="votes"
        >${approval.votes_so_far ?? 0} of ${approval.needed ?? policy.quorum} approvals</strong
      >
      ${who.length > 0 && html` · ${who.join(' or ')}`}
      ${policy.exclude_requester && html` · not the requester`}
      ${policy.escalate && html` · escalates to ${policy.escalate.to} (${approval.escalations ?? 0} of ${policy.escalate.times})`}
    </p>
    ${
      votes.length > 0 &&
      html`<ul class="votes">
        ${votes.map((v) => html`<li>${v.by}: ${v.vote}</li>`)}
      </ul>`
    }
  </div>`;
}

function Approval({ approval, canDecide, tool, now, onDecided, onOpen }) {
  const [mode, setMode] = useState('view');
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const decide = async (decision, body) => {
    setBusy(true);
    setError(null);
    try {
      await api(
        'POST',
        `/api/v1/approvals/${encodeURIComponent(approval.request_id)}/${decision}`,
        body,
      );
      setMode('view');
      onDecided();
    } catch (e) {
      setError(`${e.code}: ${e.message}`);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <li
      class="approval"
      data-testid="approval"
      data-request-id=${approval.request_id}
      data-session-id=${approval.session_id}
    >
      <div class="approval-head">
        <strong>${approval.tool}</strong>
        <button
          class="link"
          onClick=${() => onOpen(approval.session_id)}
          title=${approval.session_id}
        >
          ${shortId(approval.session_id)}
        </button>
        <span class="countdown" data-testid="countdown"
          >${countdown(approval.expires_at, now)}</span
        >
      </div>
      <pre class="args">${JSON.stringify(approval.args, null, 2)}</pre>
      <p class="reason">${approval.reason}</p>
      <${Ballot} approval=${approval} />
      ${
        !canDecide &&
        html`<p class="muted" data-testid="may-not-vote">
          ${REFUSALS[approval.refusal] ?? "Only the session's owner or an approver may decide."}
        </p>`
      }
      ${
        canDecide &&
        mode === 'view' &&
        html`<div class="actions">
          <button class="primary" disabled=${busy} onClick=${() => decide('approve', {})}>
            Approve
          </button>
          <button disabled=${busy} onClick=${() => setMode('reject')}>Reject</button>
          <button disabled=${busy} onClick=${() => setMode('edit')}>Edit</button>
        </div>`
      }
      ${
        canDecide &&
        mode === 'reject' &&
        html`<form
          class="reject-form"
          onSubmit=${(e) => {
            e.preventDefault();
            void decide('reject', reason ? { reason } : {});
          }}
        >
          <input
            aria-label="reason"
            placeholder="reason (shown to the planner)"
            value=${reason}
            data-testid="reject-reason"
            onInput=${(e) => setReason(e.currentTarget.value)}
          />
          <button type="submit" class="danger" disabled=${busy}>Reject</button>
          <button type="button" onClick=${() => setMode('view')}>Cancel</button>
        </form>`
      }
      ${
        canDecide &&
        mode === 'edit' &&
        html`<${EditForm}
          tool=${tool}
          args=${approval.args}
          serverError=${error}
          onSubmit=${(edited) => decide('edit', { edited_args: edited })}
          onCancel=${() => {
            setError(null);
            setMode('view');
          }}
        />`
      }
      ${error && mode !== 'edit' && html`<p class="error" role="alert" data-testid="decision-error">${error}</p>`}
    </li>
  `;
}

export function Inbox({ me, owners, tools, refresh, onOpen }) {
  const [approvals, setApprovals] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  const now = useNow();
  usePoll(
    async () => {
      try {
        const answer = await api('GET', '/api/v1/approvals?status=pending');
        setApprovals(answer.approvals);
        setError(null);
      } catch (e) {
        setError(`${e.code}: ${e.message}`);
      }
    },
    2000,
    [tick, refresh],
  );
  const approver = me.roles.includes('approver');
  // The server says whether the caller may vote (the policy's rules); it refuses a vote anyway.
  const canDecide = (a) =>
    a.may_vote ?? (approver || (owners.get(a.session_id) ?? me.user_id) === me.user_id);
  return html`
    <section class="panel inbox" data-testid="inbox">
      <h2>
        Approvals inbox
        ${approvals && html`<small class="muted">${approvals.length} pending</small>`}
      </h2>
      ${error && html`<p class="error">${error}</p>`}
      ${approvals?.length === 0 && html`<p class="muted">Nothing waits for a decision.</p>`}
      <ol>
        ${(approvals ?? []).map(
          (a) =>
            html`<${Approval}
              key=${a.request_id}
              approval=${a}
              now=${now}
              onOpen=${onOpen}
              tool=${tools.find((t) => t.name === a.tool)}
              canDecide=${canDecide(a)}
              onDecided=${() => setTick((n) => n + 1)}
            />`,
        )}
      </ol>
    </section>
  `;
}

import type { TestSocket, WireEvent } from '../support/ws-client.ts';
import { connect } from '../support/ws-client.ts';
import { isReply, type Target } from './wire.ts';

export type PlanStep = { tool: string; args: Record<string, unknown> };

const TERMINAL = new Set(['idle', 'complete', 'cancelled', 'failed']);

/**
 * A client that plays the human: it approves every request it is asked, starts a new execution
 * whenever the session rests (while `keepExecuting`), and checks the seqs it receives.
 */
export class SessionDriver {
  /** Highest stored seq received over any socket. */
  lastSeq = 0;
  state = 'idle';
  executions = 0;
  /** Request ids whose `approved` event this client received: acknowledged decisions. */
  readonly acked = new Set<string>();
  /** Anything the client saw that it should not have (a gap, a duplicate, a failure). */
  readonly problems: string[] = [];
  private socket: TestSocket | undefined;
  private asked = new Set<string>();
  private cursor = 0;
  private keepExecuting = false;
  /** The session's last seq when this socket connected: later events are live, not replayed. */
  private liveFrom = 0;
  private settled: (() => void) | undefined;

  constructor(
    readonly id: string,
    private readonly plan: (execution: number) => PlanStep[],
    private readonly maxExecutions: number,
  ) {}

  /** Opens a socket that resumes after the last seq this client saw. */
  async attach(target: Target, options: { keepExecuting: boolean }): Promise<void> {
    this.keepExecuting = options.keepExecuting;
    this.asked = new Set();
    this.cursor = 0;
    const socket = await connect(target, { session_id: this.id, last_seq: this.lastSeq });
    this.socket = socket;
    socket.ws.on('message', () => this.drain(socket));
    // The session's state is known from `connected` on, which follows the socket's open; until
    // then this client's view is the one from before the reconnect and may be stale.
    await socket.waitFor('connected');
    this.drain(socket);
  }

  stopExecuting(): void {
    this.keepExecuting = false;
  }

  /** Resolves once the session rests: complete (or idle, failed, cancelled) with nothing asked. */
  settle(timeoutMs: number): Promise<void> {
    if (this.resting()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settled = undefined;
        reject(
          new Error(`session ${this.id} did not settle: state ${this.state}, seq ${this.lastSeq}`),
        );
      }, timeoutMs);
      this.settled = () => {
        clearTimeout(timer);
        this.settled = undefined;
        resolve();
      };
    });
  }

  closed(): Promise<unknown> {
    return this.socket?.closed ?? Promise.resolve();
  }

  terminate(): void {
    this.socket?.ws.terminate();
  }

  private resting(): boolean {
    return !this.keepExecuting && TERMINAL.has(this.state);
  }

  private execute(): void {
    this.executions += 1;
    this.socket?.send({
      type: 'execute',
      command: `plan ${this.executions}`,
      plan: this.plan(this.executions),
    });
  }

  private approve(requestId: string): void {
    if (this.asked.has(requestId)) return;
    this.asked.add(requestId);
    this.socket?.send({ type: 'approve', request_id: requestId });
  }

  private drain(socket: TestSocket): void {
    if (socket !== this.socket) return;
    while (this.cursor < socket.events.length) this.handle(socket.events[this.cursor++]!);
    if (this.settled && this.resting()) this.settled();
  }

  private handle(event: WireEvent): void {
    if (isReply(event)) {
      if (event.type === 'connected') {
        this.state = event.data.state;
        this.liveFrom = event.data.last_seq;
        if (TERMINAL.has(this.state) && this.lastSeq >= this.liveFrom) this.executeMore();
        for (const pending of event.data.pending_approvals as { request_id: string }[]) {
          this.approve(pending.request_id);
        }
      } else if (event.type === 'error' && event.data.code !== 'approval_already_decided') {
        this.problems.push(`error reply ${event.data.code}: ${event.data.message}`);
      }
      return;
    }
    if (event.seq !== this.lastSeq + 1) {
      this.problems.push(`seq ${event.seq} (${event.type}) after ${this.lastSeq}`);
    }
    this.lastSeq = Math.max(this.lastSeq, event.seq);
    // A replayed event tells the state back then; `connected` told the state now.
    if (event.seq > this.liveFrom) this.state = event.state;
    if (event.state === 'failed') this.problems.push(`failed: ${JSON.stringify(event.data)}`);
    if (event.type === 'approval_required') this.approve(String(event.data.request_id));
    if (event.type === 'approved') this.acked.add(String(event.data.request_id));
    if (event.type === 'complete' && event.seq >= this.liveFrom) this.executeMore();
  }

  private executeMore(): void {
    if (this.keepExecuting && this.executions < this.maxExecutions) this.execute();
  }
}

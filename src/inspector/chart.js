// The statechart as SVG, laid out from the machine's own definition (GET /api/v1/statechart).
import { html } from './htm-preact.js';

const W = 176;
const H = 44;
const CHILD_W = 148;
const CHILD_H = 30;
const HEAD = 30;
const ROW_GAP = 56;
const COL_GAP = 150;
const MARGIN = 24;

const topOf = (path) => path.split('.')[0];
const isInternal = (t) => t.event === '' || t.event.startsWith('xstate.');

/**
 * Columns by distance from the initial state; states left only by the initial state's own
 * events (the ends, which accept a new `execute`) go in a last column of their own.
 */
function ranks(chart, tops) {
  const initial = chart.initial ?? tops[0].path;
  const eventsOf = (path) =>
    new Set(chart.transitions.filter((t) => topOf(t.source) === path).map((t) => t.event));
  const rank = new Map([[initial, 0]]);
  const queue = [initial];
  while (queue.length > 0) {
    const at = queue.shift();
    for (const t of chart.transitions) {
      const [from, to] = [topOf(t.source), topOf(t.target)];
      if (from === at && !rank.has(to)) {
        rank.set(to, rank.get(at) + 1);
        queue.push(to);
      }
    }
  }
  const start = eventsOf(initial);
  const isEnd = (path) => {
    const own = eventsOf(path);
    return path !== initial && own.size > 0 && [...own].every((e) => start.has(e));
  };
  const last = Math.max(0, ...[...rank].filter(([p]) => !isEnd(p)).map(([, r]) => r)) + 1;
  for (const s of tops) if (!rank.has(s.path) || isEnd(s.path)) rank.set(s.path, last);
  return rank;
}

export function layoutChart(chart) {
  const tops = chart.states.filter((s) => s.parent === null);
  const kids = (path) => chart.states.filter((s) => s.parent === path);
  const rank = ranks(chart, tops);
  const columns = [];
  for (const s of tops) (columns[rank.get(s.path)] ??= []).push(s);
  const heightOf = (s) => {
    const n = kids(s.path).length;
    return n === 0 ? H : HEAD + n * (CHILD_H + 10) + 4;
  };
  const colHeight = (col) =>
    col.reduce((sum, s) => sum + heightOf(s), 0) + (col.length - 1) * ROW_GAP;
  const tallest = Math.max(...columns.filter(Boolean).map(colHeight));
  const boxes = new Map();
  columns.forEach((col = [], i) => {
    let y = MARGIN + (tallest - colHeight(col)) / 2;
    const x = MARGIN + i * (W + COL_GAP);
    for (const s of col) {
      const h = heightOf(s);
      const children = kids(s.path);
      boxes.set(s.path, {
        path: s.path,
        label: s.path,
        x,
        y,
        w: W,
        h,
        compound: children.length > 0,
      });
      children.forEach((c, k) => {
        const label = c.path.slice(s.path.length + 1);
        boxes.set(c.path, {
          path: c.path,
          label,
          x: x + (W - CHILD_W) / 2,
          y: y + HEAD + k * (CHILD_H + 10),
          w: CHILD_W,
          h: CHILD_H,
          compound: false,
          initial: s.initial === c.path,
        });
      });
      y += h + ROW_GAP;
    }
  });
  // One edge per source -> target, labelled with every event that takes it.
  const merged = new Map();
  for (const t of chart.transitions) {
    if (t.source === t.target || !boxes.has(t.source) || !boxes.has(t.target)) continue;
    const key = `${t.source}>${t.target}`;
    const edge = merged.get(key) ?? { source: t.source, target: t.target, labels: [], keys: [] };
    if (!edge.labels.includes(t.label)) edge.labels.push(t.label);
    edge.keys.push(t.key);
    merged.set(key, edge);
  }
  const edges = [...merged.values()].map((e) => ({
    ...e,
    ...geometry(boxes, e, merged.has(`${e.target}>${e.source}`)),
  }));
  const width = MARGIN * 2 + columns.length * W + (columns.length - 1) * COL_GAP;
  return { width, height: tallest + MARGIN * 2, boxes, edges };
}

const center = (b) => ({ x: b.x + b.w / 2, y: b.y + b.h / 2 });

/** Where the ray from the box's centre towards `to` leaves the box. */
function clip(box, to) {
  const c = center(box);
  const dx = to.x - c.x;
  const dy = to.y - c.y;
  const t = Math.min(Math.abs(box.w / 2 / (dx || 1e-9)), Math.abs(box.h / 2 / (dy || 1e-9)));
  return { x: c.x + dx * Math.min(t, 1), y: c.y + dy * Math.min(t, 1) };
}

function geometry(boxes, edge, hasReverse) {
  const a = boxes.get(edge.source);
  const b = boxes.get(edge.target);
  const ca = center(a);
  const cb = center(b);
  const span = Math.abs(Math.round((cb.x - ca.x) / (W + COL_GAP)));
  const bend = (hasReverse ? 26 : 0) + Math.max(0, span - 1) * 46;
  const len = Math.hypot(cb.x - ca.x, cb.y - ca.y) || 1;
  const nx = -(cb.y - ca.y) / len;
  const ny = (cb.x - ca.x) / len;
  const control = { x: (ca.x + cb.x) / 2 + nx * bend, y: (ca.y + cb.y) / 2 + ny * bend };
  const p0 = clip(a, control);
  const p2 = clip(b, control);
  const mid = {
    x: 0.25 * p0.x + 0.5 * control.x + 0.25 * p2.x,
    y: 0.25 * p0.y + 0.5 * control.y + 0.25 * p2.y,
  };
  return { d: `M${p0.x},${p0.y} Q${control.x},${control.y} ${p2.x},${p2.y}`, mid };
}

/** `executing.tool` -> the set {executing, executing.tool}. */
function activeSet(path) {
  const parts = path ? path.split('.') : [];
  return new Set(parts.map((_, i) => parts.slice(0, i + 1).join('.')));
}

/** The events the state at `path` accepts, from its own transitions and its ancestors'. */
export function acceptedEvents(chart, path) {
  const active = activeSet(path);
  const names = [];
  for (const t of chart.transitions) {
    if (!active.has(t.source) || isInternal(t) || names.includes(t.event)) continue;
    names.push(t.event);
  }
  return names;
}

/** The edge of the transition just taken: the most specific one from `from` to `to`. */
function litEdges(layout, taken) {
  if (!taken) return new Set();
  const from = activeSet(taken.from);
  const to = activeSet(taken.to);
  const candidates = layout.edges.filter((e) => from.has(e.source) && to.has(e.target));
  const depth = (e) => e.source.split('.').length * 10 + e.target.split('.').length;
  const best = Math.max(0, ...candidates.map(depth));
  return new Set(candidates.filter((e) => depth(e) === best).map((e) => `${e.source}>${e.target}`));
}

export function Chart({ chart, layout, path, taken, title, small }) {
  const active = activeSet(path);
  /** One state's box; compound ones are drawn under the edges, simple ones over them. */
  const stateBox = (b) =>
    html`<g
      class=${`state${b.compound ? ' compound' : ''}${active.has(b.path) ? ' active' : ''}${b.path === path ? ' current' : ''}`}
      data-state=${b.path}
    >
      <rect x=${b.x} y=${b.y} width=${b.w} height=${b.h} rx="9" />
      <text x=${b.x + b.w / 2} y=${b.compound ? b.y + 19 : b.y + b.h / 2 + 4.5}>${b.label}</text>
    </g>`;
  const lit = litEdges(layout, taken);
  const boxes = [...layout.boxes.values()];
  return html`
    <figure
      class=${small ? 'chart small' : 'chart'}
      data-testid=${small ? 'subchart' : 'chart'}
      data-current=${path}
    >
      ${title && html`<figcaption>${title}</figcaption>`}
      <svg
        viewBox="0 0 ${layout.width} ${layout.height}"
        role="img"
        aria-label=${`statechart ${chart.id}, current state ${path}`}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M0,0 L10,5 L0,10 z" class="arrow" />
          </marker>
          <marker
            id="arrow-lit"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M0,0 L10,5 L0,10 z" class="arrow lit" />
          </marker>
        </defs>
        ${boxes.filter((b) => b.compound).map(stateBox)}
        ${layout.edges.map((e) => {
          const on = lit.has(`${e.source}>${e.target}`);
          return html`<g class=${on ? 'edge lit' : 'edge'} data-edge=${`${e.source}>${e.target}`}>
            <title>${e.keys.join('\n')}</title>
            <path d=${e.d} marker-end=${on ? 'url(#arrow-lit)' : 'url(#arrow)'} />
            <text x=${e.mid.x} y=${e.mid.y - 3}>${e.labels.join(', ')}</text>
          </g>`;
        })}
        ${boxes.filter((b) => !b.compound).map(stateBox)}
      </svg>
    </figure>
  `;
}

// An edit form generated from a tool's args JSON Schema, checked before it is sent.
import { html, useState } from './htm-preact.js';

const kindOf = (schema) => {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'string' || type === 'number' || type === 'integer' || type === 'boolean')
    return type;
  return 'json';
};

/** The problems of `value` against the schema's keywords that a form can break. */
export function validate(schema, value) {
  const problems = [];
  const props = schema.properties ?? {};
  for (const name of schema.required ?? []) {
    if (value[name] === undefined) problems.push(`${name}: required`);
  }
  if (schema.additionalProperties === false) {
    for (const name of Object.keys(value)) {
      if (!(name in props)) problems.push(`${name}: not a field of this tool`);
    }
  }
  for (const [name, rule] of Object.entries(props)) {
    const v = value[name];
    if (v === undefined) continue;
    const say = (text) => problems.push(`${name}: ${text}`);
    const kind = kindOf(rule);
    if (rule.enum && !rule.enum.includes(v)) say(`one of ${rule.enum.join(', ')}`);
    if (kind === 'string') {
      if (typeof v !== 'string') say('must be text');
      else {
        if (rule.minLength !== undefined && v.length < rule.minLength)
          say(`at least ${rule.minLength} characters`);
        if (rule.maxLength !== undefined && v.length > rule.maxLength)
          say(`at most ${rule.maxLength} characters`);
        if (rule.pattern !== undefined && !new RegExp(rule.pattern, 'u').test(v))
          say(`must match ${rule.pattern}`);
      }
    }
    if (kind === 'number' || kind === 'integer') {
      if (typeof v !== 'number' || Number.isNaN(v)) say('must be a number');
      else {
        if (kind === 'integer' && !Number.isInteger(v)) say('must be a whole number');
        if (rule.minimum !== undefined && v < rule.minimum) say(`must be ≥ ${rule.minimum}`);
        if (rule.maximum !== undefined && v > rule.maximum) say(`must be ≤ ${rule.maximum}`);
        if (rule.exclusiveMinimum !== undefined && v <= rule.exclusiveMinimum)
          say(`must be > ${rule.exclusiveMinimum}`);
        if (rule.exclusiveMaximum !== undefined && v >= rule.exclusiveMaximum)
          say(`must be < ${rule.exclusiveMaximum}`);
      }
    }
    if (kind === 'boolean' && typeof v !== 'boolean') say('must be true or false');
  }
  return problems;
}

/** Form text -> the value of one field; undefined when left empty. */
function readField(kind, text, checked) {
  if (kind === 'boolean') return checked;
  if (text === '') return undefined;
  if (kind === 'number' || kind === 'integer') return Number(text);
  if (kind === 'json') {
    try {
      return JSON.parse(text);
    } catch {
      return { invalid_json: text };
    }
  }
  return text;
}

const showField = (kind, value) =>
  value === undefined ? '' : kind === 'json' ? JSON.stringify(value) : String(value);

export function EditForm({ tool, args, onSubmit, onCancel, serverError }) {
  const schema = tool?.args_schema ?? { type: 'object', properties: {} };
  const fields = Object.entries(schema.properties ?? {});
  const [texts, setTexts] = useState(() =>
    Object.fromEntries(fields.map(([name, rule]) => [name, showField(kindOf(rule), args[name])])),
  );
  const [checks, setChecks] = useState(() =>
    Object.fromEntries(fields.map(([name]) => [name, args[name] === true])),
  );
  const [problems, setProblems] = useState([]);
  const value = () =>
    Object.fromEntries(
      fields
        .map(([name, rule]) => [name, readField(kindOf(rule), texts[name], checks[name])])
        .filter(([, v]) => v !== undefined),
    );
  const submit = (event) => {
    event.preventDefault();
    const edited = value();
    const found = validate(schema, edited);
    setProblems(found);
    if (found.length === 0) onSubmit(edited);
  };
  const shown = problems.length > 0 ? problems : serverError ? [serverError] : [];
  return html`
    <form class="edit-form" data-testid="edit-form" onSubmit=${submit} novalidate>
      ${fields.map(([name, rule]) => {
        const kind = kindOf(rule);
        const required = (schema.required ?? []).includes(name);
        const id = `edit-${name}`;
        return html`<label for=${id}>
          <span>${name}${required ? ' *' : ''}</span>
          ${
            kind === 'boolean'
              ? html`<input
                  id=${id}
                  name=${name}
                  type="checkbox"
                  checked=${checks[name]}
                  onChange=${(e) => setChecks({ ...checks, [name]: e.currentTarget.checked })}
                />`
              : html`<input
                  id=${id}
                  name=${name}
                  type="text"
                  inputmode=${kind === 'number' || kind === 'integer' ? 'decimal' : 'text'}
                  value=${texts[name]}
                  placeholder=${rule.default === undefined ? '' : String(rule.default)}
                  onInput=${(e) => setTexts({ ...texts, [name]: e.currentTarget.value })}
                />`
          }
          ${rule.description && html`<small>${rule.description}</small>`}
        </label>`;
      })}
      ${
        shown.length > 0 &&
        html`<ul class="problems" data-testid="edit-error" role="alert">
          ${shown.map((p) => html`<li>${p}</li>`)}
        </ul>`
      }
      <div class="actions">
        <button type="submit" class="primary">Approve with these args</button>
        <button type="button" onClick=${onCancel}>Cancel</button>
      </div>
    </form>
  `;
}

// Building the page from data without ever parsing data as HTML: every value goes in as text.

// h('p', {class: 'govuk-body', onclick: fn, 'aria-describedby': 'x'}, 'text', node, [more], null)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (k === 'selected') el.selected = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Ids for form controls from the API's error keys: "subjects[0].date_of_birth" -> "f-subjects-0-date_of_birth".
export function fieldId(key) {
  return 'f-' + String(key).replace(/[\[\].]+/g, '-').replace(/-+$/, '');
}

// ---- GOV.UK Frontend components ----

export function heading(text, caption) {
  return [caption ? h('span', {class: 'govuk-caption-l'}, caption) : null, h('h1', {class: 'govuk-heading-l'}, text)];
}

export function para(...children) {
  return h('p', {class: 'govuk-body'}, ...children);
}

export function link(href, text, attrs = {}) {
  return h('a', {class: 'govuk-link', href, ...attrs}, text);
}

export function button(text, attrs = {}) {
  const cls = 'govuk-button' + (attrs.secondary ? ' govuk-button--secondary' : '') + (attrs.warning ? ' govuk-button--warning' : '');
  const a = {...attrs, class: cls, 'data-module': 'govuk-button'};
  delete a.secondary;
  delete a.warning;
  if (!a.type) a.type = 'submit';
  return h('button', a, text);
}

export function tag(text, colour) {
  return h('strong', {class: 'govuk-tag' + (colour ? ' govuk-tag--' + colour : '')}, text);
}

// An error summary: errors is [{key, message}]; each links to its field when the field exists.
export function errorSummary(title, errors) {
  const items = errors.map(e => {
    const id = e.id || (e.key ? fieldId(e.key) : null);
    return h('li', {}, id ? h('a', {href: '#' + id, 'data-field': id}, e.message) : e.message);
  });
  const box = h('div', {class: 'govuk-error-summary', 'data-module': 'govuk-error-summary', tabindex: '-1'},
    h('div', {role: 'alert'},
      h('h2', {class: 'govuk-error-summary__title'}, title),
      h('div', {class: 'govuk-error-summary__body'}, h('ul', {class: 'govuk-list govuk-error-summary__list'}, items))));
  box.addEventListener('click', ev => {
    const a = ev.target.closest('a[data-field]');
    if (!a) return;
    const target = document.getElementById(a.dataset.field);
    if (target) {
      ev.preventDefault();
      target.focus();
      target.scrollIntoView({block: 'center'});
    }
  });
  return box;
}

export function showErrorSummary(container, title, errors) {
  clear(container);
  document.title = document.title.replace(/^Error: /, '');
  if (!errors.length) return;
  document.title = 'Error: ' + document.title;
  const box = errorSummary(title, errors);
  container.append(box);
  box.focus();
}

export function notification(title, body, success = false) {
  return h('div', {class: 'govuk-notification-banner' + (success ? ' govuk-notification-banner--success' : ''),
                   role: success ? 'alert' : 'region', 'aria-labelledby': 'nb-title', 'data-module': 'govuk-notification-banner'},
    h('div', {class: 'govuk-notification-banner__header'},
      h('h2', {class: 'govuk-notification-banner__title', id: 'nb-title'}, success ? 'Success' : 'Important')),
    h('div', {class: 'govuk-notification-banner__content'}, h('p', {class: 'govuk-notification-banner__heading'}, title),
      body ? para(body) : null));
}

export function warning(...children) {
  return h('div', {class: 'govuk-warning-text'},
    h('span', {class: 'govuk-warning-text__icon', 'aria-hidden': 'true'}, '!'),
    h('strong', {class: 'govuk-warning-text__text'}, h('span', {class: 'govuk-visually-hidden'}, 'Warning'), ...children));
}

export function inset(...children) {
  return h('div', {class: 'govuk-inset-text'}, ...children);
}

// rows: [[key, value], ...]; value may be a node.
export function summaryList(rows) {
  return h('dl', {class: 'govuk-summary-list'}, rows.filter(Boolean).map(([k, v]) =>
    h('div', {class: 'govuk-summary-list__row'}, h('dt', {class: 'govuk-summary-list__key'}, k),
      h('dd', {class: 'govuk-summary-list__value'}, v === undefined || v === null || v === '' ? '—' : v))));
}

// head: [text]; rows: [[cell, ...]]; a row may be {cells, attrs}.
export function table(caption, head, rows, attrs = {}) {
  return h('table', {class: 'govuk-table ' + (attrs.class || ''), id: attrs.id},
    caption ? h('caption', {class: 'govuk-table__caption govuk-table__caption--m'}, caption) : null,
    h('thead', {class: 'govuk-table__head'}, h('tr', {class: 'govuk-table__row'},
      head.map(t => h('th', {scope: 'col', class: 'govuk-table__header'}, t)))),
    h('tbody', {class: 'govuk-table__body'}, rows.map(r => {
      const cells = Array.isArray(r) ? r : r.cells;
      return h('tr', {class: 'govuk-table__row', ...(Array.isArray(r) ? {} : r.attrs)},
        cells.map(c => h('td', {class: 'govuk-table__cell'}, c)));
    })));
}

// ---- form fields: each has an id from its API key and shows its own error ----

function group(key, label, hint, control, opts = {}) {
  const id = fieldId(key);
  const err = opts.error;
  return h('div', {class: 'govuk-form-group' + (err ? ' govuk-form-group--error' : ''), 'data-key': key},
    h('label', {class: 'govuk-label' + (opts.bold ? ' govuk-label--s' : ''), for: id}, label),
    hint ? h('div', {class: 'govuk-hint', id: id + '-hint'}, hint) : null,
    err ? h('p', {class: 'govuk-error-message', id: id + '-error'},
      h('span', {class: 'govuk-visually-hidden'}, 'Error: '), err) : null,
    control);
}

function describedBy(key, hint, err) {
  const id = fieldId(key);
  return [hint ? id + '-hint' : null, err ? id + '-error' : null].filter(Boolean).join(' ') || null;
}

export function textInput(key, label, opts = {}) {
  const id = fieldId(key);
  const input = h('input', {class: 'govuk-input' + (opts.width ? ' govuk-input--width-' + opts.width : '') + (opts.error ? ' govuk-input--error' : ''),
    id, name: opts.name || key, type: opts.type || 'text', value: opts.value ?? '', autocomplete: opts.autocomplete || 'off',
    spellcheck: 'false', 'aria-describedby': describedBy(key, opts.hint, opts.error), inputmode: opts.inputmode, maxlength: opts.maxlength});
  return group(key, label, opts.hint, input, opts);
}

export function textarea(key, label, opts = {}) {
  const id = fieldId(key);
  const ta = h('textarea', {class: 'govuk-textarea' + (opts.error ? ' govuk-textarea--error' : ''), id, name: key,
    rows: opts.rows || 3, 'aria-describedby': describedBy(key, opts.hint, opts.error), maxlength: opts.maxlength});
  ta.value = opts.value ?? '';
  return group(key, label, opts.hint, ta, opts);
}

// options: [{value, text}]
export function select(key, label, options, opts = {}) {
  const id = fieldId(key);
  const sel = h('select', {class: 'govuk-select' + (opts.error ? ' govuk-select--error' : ''), id, name: key,
    'aria-describedby': describedBy(key, opts.hint, opts.error)},
    opts.placeholder ? h('option', {value: ''}, opts.placeholder) : null,
    options.map(o => h('option', {value: o.value, selected: o.value === opts.value}, o.text)));
  return group(key, label, opts.hint, sel, opts);
}

// GOV.UK date input (day, month, year); the value is read back as YYYY-MM-DD.
export function dateInput(key, legend, opts = {}) {
  const id = fieldId(key);
  const [y, m, d] = (opts.value || '').split('-');
  const part = (suffix, lbl, width, value) => h('div', {class: 'govuk-date-input__item'},
    h('div', {class: 'govuk-form-group'},
      h('label', {class: 'govuk-label govuk-date-input__label', for: suffix === 'day' ? id : id + '-' + suffix}, lbl),
      h('input', {class: 'govuk-input govuk-date-input__input govuk-input--width-' + width + (opts.error ? ' govuk-input--error' : ''),
        id: suffix === 'day' ? id : id + '-' + suffix, name: key + '.' + suffix, type: 'text', inputmode: 'numeric', value: value || '',
        autocomplete: 'off'})));
  return h('div', {class: 'govuk-form-group' + (opts.error ? ' govuk-form-group--error' : ''), 'data-key': key},
    h('fieldset', {class: 'govuk-fieldset', role: 'group', 'aria-describedby': describedBy(key, opts.hint, opts.error)},
      h('legend', {class: 'govuk-fieldset__legend govuk-fieldset__legend--s'}, legend),
      opts.hint ? h('div', {class: 'govuk-hint', id: id + '-hint'}, opts.hint) : null,
      opts.error ? h('p', {class: 'govuk-error-message', id: id + '-error'}, h('span', {class: 'govuk-visually-hidden'}, 'Error: '), opts.error) : null,
      h('div', {class: 'govuk-date-input', id: id + '-group'}, part('day', 'Day', 2, d), part('month', 'Month', 2, m), part('year', 'Year', 4, y))));
}

export function readDate(key) {
  const id = fieldId(key);
  const d = document.getElementById(id)?.value.trim() || '';
  const m = document.getElementById(id + '-month')?.value.trim() || '';
  const y = document.getElementById(id + '-year')?.value.trim() || '';
  if (!d && !m && !y) return '';
  const pad = s => (/^\d$/.test(s) ? '0' + s : s);
  return `${y}-${pad(m)}-${pad(d)}`;
}

// items: [{value, text, hint}]
export function radios(key, legend, items, opts = {}) {
  const id = fieldId(key);
  return h('div', {class: 'govuk-form-group' + (opts.error ? ' govuk-form-group--error' : ''), 'data-key': key},
    h('fieldset', {class: 'govuk-fieldset', 'aria-describedby': describedBy(key, opts.hint, opts.error)},
      h('legend', {class: 'govuk-fieldset__legend govuk-fieldset__legend--s'}, legend),
      opts.hint ? h('div', {class: 'govuk-hint', id: id + '-hint'}, opts.hint) : null,
      opts.error ? h('p', {class: 'govuk-error-message', id: id + '-error'}, h('span', {class: 'govuk-visually-hidden'}, 'Error: '), opts.error) : null,
      h('div', {class: 'govuk-radios' + (opts.inline ? ' govuk-radios--inline' : ''), 'data-module': 'govuk-radios'},
        items.map((it, i) => {
          const rid = i === 0 ? id : id + '-' + i;
          return h('div', {class: 'govuk-radios__item'},
            h('input', {class: 'govuk-radios__input', id: rid, name: key, type: 'radio', value: it.value, checked: it.value === opts.value}),
            h('label', {class: 'govuk-label govuk-radios__label', for: rid}, it.text),
            it.hint ? h('div', {class: 'govuk-hint govuk-radios__hint'}, it.hint) : null);
        }))));
}

export function readRadio(key) {
  const el = document.querySelector(`input[type=radio][name="${CSS.escape(key)}"]:checked`);
  return el ? el.value : '';
}

export function checkbox(id, name, value, text, checked, attrs = {}) {
  return h('div', {class: 'govuk-checkboxes__item'},
    h('input', {class: 'govuk-checkboxes__input', id, name, type: 'checkbox', value, checked, ...attrs}),
    h('label', {class: 'govuk-label govuk-checkboxes__label', for: id}, text));
}

// Clears the error marks a previous submission left on the form.
export function clearFieldErrors(form) {
  form.querySelectorAll('.govuk-error-message.app-live').forEach(e => e.remove());
  form.querySelectorAll('.govuk-form-group--error').forEach(g => g.classList.remove('govuk-form-group--error'));
  form.querySelectorAll('.app-error-control').forEach(c => {
    c.classList.remove('app-error-control', 'govuk-input--error', 'govuk-select--error', 'govuk-textarea--error');
    const ids = (c.getAttribute('aria-describedby') || '').split(' ').filter(x => x && !x.endsWith('-error'));
    if (ids.length) c.setAttribute('aria-describedby', ids.join(' ')); else c.removeAttribute('aria-describedby');
  });
  if (document.title.startsWith('Error: ')) document.title = document.title.slice(7);
}

// Marks each field the API named (error.fields) and returns [{key, message}] for the summary.
export function markFieldErrors(form, fields, describe = k => k) {
  clearFieldErrors(form);
  const out = [];
  for (const [key, message] of Object.entries(fields || {})) {
    const text = describe(key) + ' ' + message;
    const group = form.querySelector(`[data-key="${CSS.escape(key)}"]`);
    // The summary links to the field, or to the first control of its group (a set of checkboxes).
    const target = document.getElementById(fieldId(key)) || group?.querySelector('input, select, textarea');
    out.push({id: target ? target.id : null, message: text});
    if (group) {
      group.classList.add('govuk-form-group--error');
      const msg = h('p', {class: 'govuk-error-message app-live', id: fieldId(key) + '-error'},
        h('span', {class: 'govuk-visually-hidden'}, 'Error: '), text);
      const host = group.querySelector(':scope > fieldset') || group;
      const control = host.querySelector(':scope > input, :scope > textarea, :scope > select, :scope > div:not(.govuk-hint)');
      host.insertBefore(msg, control || null);
      // The control says it is in error, and screen readers read the message with it.
      const el = document.getElementById(fieldId(key));
      if (el && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName) && el.type !== 'checkbox' && el.type !== 'radio') {
        el.classList.add('app-error-control', {INPUT: 'govuk-input--error', SELECT: 'govuk-select--error', TEXTAREA: 'govuk-textarea--error'}[el.tagName]);
        el.setAttribute('aria-describedby', [el.getAttribute('aria-describedby'), fieldId(key) + '-error'].filter(Boolean).join(' '));
      }
      // An error inside a closed <details> (the identifiers) opens it, so the field can be reached.
      const details = group.closest('details');
      if (details) details.open = true;
    }
  }
  return out;
}

// ---- dates and times (the hub keeps UTC milliseconds; people read local time) ----

export function when(ms) {
  if (!ms) return '—';
  return new Date(ms).toLocaleString('en-GB', {day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit'});
}

export function timeLeft(deadlineMs, now = Date.now()) {
  const d = deadlineMs - now;
  const abs = Math.abs(d);
  const mins = Math.round(abs / 60000);
  const text = mins < 60 ? `${mins} min` : mins < 2880 ? `${Math.floor(mins / 60)} h ${mins % 60} min` : `${Math.round(mins / 1440)} days`;
  return d >= 0 ? `${text} left` : `${text} past the deadline`;
}

// The admin's pages: users and roles, agencies with their connection and certificate, the
// agreement in force. No case content.
import {api, ApiError} from './api.js';
import {page, state, navigate} from './app.js';
import {h, clear, append, heading, para, button, tag, table, summaryList, notification, textInput, select,
        fieldId, markFieldErrors, clearFieldErrors, showErrorSummary, when} from './dom.js';

const roles = ['researcher', 'manager', 'dpo', 'admin'];

export async function users() {
  const el = page('Users');
  const summary = h('div');
  const list = h('div', {id: 'users'});
  const drawList = async () => {
    const data = await api('GET', '/api/v1/users');
    clear(list).append(table('Users', ['User', 'Name', 'Role', 'Team', 'State', ''], data.users.map(u => ({
      attrs: {'data-user': u.id},
      cells: [u.id, u.name,
        u.id === state.user.id ? u.role : h('div', {class: 'app-nowrap'},
          h('label', {class: 'govuk-visually-hidden', for: `role-${u.id}`}, `Role of ${u.id}`),
          h('select', {class: 'govuk-select', id: `role-${u.id}`, 'data-role-of': u.id},
            roles.map(r => h('option', {value: r, selected: r === u.role}, r))), ' ',
          button('Change role', {type: 'button', secondary: true, class: 'govuk-!-margin-bottom-0', 'data-role-change': u.id})),
        u.team, u.disabled ? tag('Disabled', 'grey') : tag('Active', 'green'),
        u.id === state.user.id ? '(you)' : button(u.disabled ? 'Enable' : 'Disable', {type: 'button', secondary: !u.disabled,
          class: 'govuk-!-margin-bottom-0', 'data-change': u.disabled ? 'enable' : 'disable', 'data-id': u.id})]}))));
  };
  const form = h('form', {novalidate: true, id: 'add-user'},
    h('h2', {class: 'govuk-heading-m'}, 'Add a user'),
    textInput('id', 'User name', {width: 20, hint: '3 to 64 lower-case letters, digits, dots, dashes or underscores'}),
    textInput('name', 'Full name', {width: 20}),
    select('role', 'Role', roles.map(r => ({value: r, text: r})), {value: 'researcher'}),
    textInput('team', 'Team', {width: 20}),
    textInput('password', 'First password', {type: 'password', width: 20, autocomplete: 'new-password', hint: 'At least 12 characters; give it to the person securely'}),
    button('Add user', {id: 'add-user-button'}));
  append(el, [summary, heading('Users'), list, form]);
  await drawList();
  list.addEventListener('click', async ev => {
    const rc = ev.target.closest('[data-role-change]');
    if (rc) {
      const id = rc.dataset.roleChange;
      const role = list.querySelector(`[data-role-of="${CSS.escape(id)}"]`).value;
      try {
        await api('POST', `/api/v1/users/${encodeURIComponent(id)}/role`, {role});
        clear(summary).append(notification(`${id} is now ${role === 'admin' ? 'an' : 'a'} ${role}`, null, true));
        await drawList();
      } catch (e) { showErrorSummary(summary, 'There is a problem', [{message: e.message}]); }
      return;
    }
    const b = ev.target.closest('[data-change]');
    if (!b) return;
    try {
      await api('POST', `/api/v1/users/${encodeURIComponent(b.dataset.id)}/${b.dataset.change}`, {});
      await drawList();
    } catch (e) { showErrorSummary(summary, 'There is a problem', [{message: e.message}]); }
  });
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const body = {};
    for (const k of ['id', 'name', 'role', 'team']) body[k] = document.getElementById(fieldId(k)).value.trim();
    body.password = document.getElementById(fieldId('password')).value;  // as typed: sign-in does not trim
    try {
      await api('POST', '/api/v1/users', body);
      clearFieldErrors(form); form.reset();
      clear(summary).append(notification(`User ${body.id} added`, null, true));
      await drawList();
    } catch (e) {
      if (e instanceof ApiError && Object.keys(e.fields).length) showErrorSummary(summary, 'There is a problem', markFieldErrors(form, e.fields));
      else { clearFieldErrors(form); showErrorSummary(summary, 'There is a problem', [{message: e.message}]); }
    }
  });
}

// The hub's witness of the agency's disclosure log.
function witnessCell(w) {
  if (!w || w.state === 'not-witnessed') return 'Not witnessed (no key configured)';
  if (w.state === 'alarm') {
    return h('span', {'data-witness-alarm': 'true'}, tag('Alarm', 'red'), ' ', w.reason || '',
      ' Ask the agency to check its disclosure log; then run mash-broker witness-reset.');
  }
  return w.witnessed_size ? `Witnessed (${w.witnessed_size} records)` : 'Witnessed (no checkpoint yet)';
}

export async function agencies() {
  const el = page('Agencies');
  const data = await api('GET', '/api/v1/agencies');
  const now = data.now_ms;
  const expiry = ms => {
    if (!ms) return '—';
    const days = Math.floor((ms - now) / 86400000);
    return [when(ms), ' ', days < 0 ? tag('Expired', 'red') : days < 30 ? tag(`${days} days left`, 'orange') : tag(`${days} days left`, 'green')];
  };
  append(el, [heading('Agencies'), para('Each agency runs its own agent, which dials out to this hub. The certificate is the one the agent connected with.'),
    table('', ['Agency', 'Connection', 'Since', 'Address', 'Software', 'Certificate expires', 'Disclosure log'], data.agencies.map(a => ({
      attrs: {'data-agency': a.id},
      cells: [`${a.name || a.id}${a.in_agreement ? '' : ' (not in the agreement)'}`, a.connected ? tag('Connected', 'green') : tag('Not connected', 'red'),
        when(a.since_ms), a.peer || '—', a.software || '—', expiry(a.certificate_expires_ms), witnessCell(a.witness)]})), {id: 'agencies'})]);
}

export async function agreement() {
  const el = page('Agreement');
  const a = await api('GET', '/api/v1/agreement');
  append(el, [heading(a.title || a.id, 'The Information Sharing Agreement in force'),
    summaryList([['Agreement', a.id], ['Version', String(a.version)], ['Effective from', a.effective], ['Review by', a.review],
      ['Case content kept for', `${a.case_content_days} days after the decision`],
      ['Enquiries per user', `${a.enquiries_per_user_per_hour} an hour, ${a.enquiries_per_user_per_day} a day`]]),
    table('Signed by', ['Organisation', 'Name', 'Role', 'Signed on'], a.signatories.map(s => [s.organisation, s.name, s.role, s.signed_on])),
    table('Deadlines by BRAG rating', ['Rating', 'Agencies must answer within'], a.brag.map(b => [b.name || b.id,
      b.deadline_minutes % 60 ? `${b.deadline_minutes} minutes` : `${b.deadline_minutes / 60} hours`])),
    table('Agencies', ['Agency', 'Information it may be asked for'], a.agencies.map(x => [x.name || x.id, x.fields.map(f => f.id).join(', ')])),
    table('Purposes', ['Purpose', 'Description'], a.purposes.map(p => [p.name || p.id, p.description || '—']))]);
}

// Researchers' and managers' pages: the case list, the enquiry form with its preview, the live
// status board and consolidated picture, the decision and the front-door export.
import {api, ApiError} from './api.js';
import {state, page, onLeave, navigate, showError} from './app.js';
import {h, clear, append, heading, para, link, button, tag, table, summaryList, warning, inset, notification,
        textInput, textarea, select, dateInput, readDate, radios, readRadio, checkbox, fieldId,
        markFieldErrors, clearFieldErrors, showErrorSummary, when, timeLeft} from './dom.js';

const bragColour = {red: 'red', amber: 'orange', green: 'green', blue: 'blue'};
const statusText = {
  'queued': ['Queued', 'grey'], 'delivered': ['Delivered', 'light-blue'], 'awaiting-review': ['Awaiting agency review', 'yellow'],
  'answered': ['Answered', 'green'], 'declined': ['Declined', 'pink'], 'overdue': ['Overdue', 'red'], 'failed': ['Failed', 'red'],
};
const outcomeText = {'matched': 'Known to this agency', 'possible': 'Possible match: the agency is checking',
                     'no-record': 'Not known to this agency'};
const decisionText = {'no-further-action': 'No further action', 'signpost': 'Signpost to other services',
                      'early-help': 'Early help', 's17-assessment': 'Section 17 assessment (child in need)',
                      's47-strategy-discussion': 'Section 47 strategy discussion'};

export function bragTag(brag) { return tag((brag || '').toUpperCase(), bragColour[brag]); }
export function statusTag(status, late) {
  const [text, colour] = statusText[status] || [status, 'grey'];
  return h('span', {class: 'app-nowrap', 'data-status': status}, tag(text, colour), late ? [' ', tag('Late', 'purple')] : null);
}
// The agreement's names are long ("Metropolitan Police Service: MASH police desk (...)"): the
// part before a colon or bracket names the agency well enough on a busy page.
const agencyName = id => {
  const full = state.agreement?.agencies.find(a => a.id === id)?.name;
  return full ? full.split(/[:(]/)[0].trim() || full : id;
};
const fieldName = id => {
  for (const a of state.agreement?.agencies || []) {
    const f = a.fields.find(f => f.id === id);
    if (f) return f.description || id;
  }
  return id;
};

async function loadAgreement() {
  if (!state.agreement) state.agreement = await api('GET', '/api/v1/agreement');
  return state.agreement;
}

// Status changes pushed by the hub (server-sent events); the browser reconnects by itself.
// If the hub refuses the stream for good (signed out, too many streams), the page says so: a
// board that silently stops is worse than none.
function watch(path, onStatus, banner) {
  const es = new EventSource(path);
  es.addEventListener('status', ev => {
    try { onStatus(JSON.parse(ev.data)); } catch (e) { /* ignore a malformed event */ }
  });
  es.addEventListener('error', () => {
    if (es.readyState !== EventSource.CLOSED) return;  // the browser is reconnecting
    api('GET', '/api/v1/me').then(() => {
      if (banner && !banner.firstChild) banner.append(warning('Live updates have stopped. Reload the page to see the latest status.'));
    }).catch(() => { /* a 401 signs out by itself */ });
  });
  onLeave(() => es.close());
  return es;
}

const finished = r => !!r.decision || Object.values(r.agencies).every(s => (s.status || s) === 'answered' || (s.status || s) === 'declined');

// ---- the case list ----

export async function list() {
  const el = page(state.user.role === 'manager' ? 'Team cases' : 'My cases');
  await loadAgreement().catch(() => null);
  const data = await api('GET', '/api/v1/enquiries');
  const rows = data.enquiries.sort((a, b) => b.created_ms - a.created_ms);
  append(el, [heading(state.user.role === 'manager' ? `Cases of team ${state.user.team}` : 'My cases'),
    para(link('/enquiries/new', 'Make a new enquiry'))]);
  if (!rows.length) { append(el, [para('There are no cases yet.')]); return; }
  const body = h('div');
  const banner = h('div');
  el.append(banner, body);
  const draw = () => {
    clear(body).append(table('', ['Case', 'BRAG', 'Sent', 'Deadline', 'Agencies', 'Decision'], rows.map(r => ({
      attrs: {'data-enquiry': r.id},
      cells: [
        r.purged ? r.case_ref + ' (content destroyed)' : link('/enquiries/' + r.id, r.case_ref),
        bragTag(r.brag), when(r.created_ms),
        [when(r.deadline_ms), finished(r) ? null : [h('br'), h('span', {class: 'govuk-body-s app-muted'}, timeLeft(r.deadline_ms))]],
        h('ul', {class: 'govuk-list'}, Object.entries(r.agencies).map(([a, s]) => h('li', {}, agencyName(a), ' ', statusTag(s)))),
        r.decision ? decisionText[r.decision] || r.decision : 'None yet']})), {id: 'case-list'}));
  };
  draw();
  watch('/api/v1/events', ev => {
    const r = rows.find(x => x.id === ev.enquiry);
    if (!r) return;  // a new case of the team: shown on the next visit
    r.agencies[ev.agency] = ev.status;
    draw();
  }, banner);
  const tick = setInterval(draw, 30000);
  onLeave(() => clearInterval(tick));
}

// ---- the enquiry form ----

const schemes = [['nhs', 'NHS number'], ['upn', 'Unique pupil number (UPN)'], ['pnc', 'Police National Computer (PNC) ID'],
                 ['probation', 'Probation case reference'], ['housing', 'Housing reference']];

function subjectFieldset(i, role) {
  const p = `subjects[${i}]`;
  const roles = state.agreement.subject_roles.map(r => ({value: r, text: r.replace('-', ' ')}));
  return h('fieldset', {class: 'govuk-fieldset app-subject', 'data-subject': i},
    h('legend', {class: 'govuk-fieldset__legend govuk-fieldset__legend--m'}, `Person ${i + 1}`),
    select(p + '.role', 'Role in the case', roles, {value: role}),
    textInput(p + '.forenames', 'First names', {width: 20}),
    textInput(p + '.surname', 'Last name', {width: 20}),
    dateInput(p + '.date_of_birth', 'Date of birth', {hint: 'For example, 27 3 2015. Leave empty if not known.'}),
    select(p + '.gender', 'Gender', [['female', 'Female'], ['male', 'Male'], ['other', 'Other'], ['unknown', 'Not known']]
      .map(([value, text]) => ({value, text})), {placeholder: 'Not given'}),
    textInput(p + '.postcode', 'Postcode', {width: 10}),
    h('details', {class: 'govuk-details'},
      h('summary', {class: 'govuk-details__summary'}, h('span', {class: 'govuk-details__summary-text'}, 'Identifiers (NHS number, UPN, ...)')),
      h('div', {class: 'govuk-details__text'}, schemes.map(([k, label]) => textInput(`${p}.identifiers.${k}`, label, {width: 20})))),
    i > 0 ? button('Remove this person', {type: 'button', secondary: true, class: 'app-remove-subject', 'data-remove': i}) : null);
}

function readSubjects(form) {
  return [...form.querySelectorAll('[data-subject]')].map((fs, i) => {
    const p = `subjects[${i}]`;
    const v = k => (document.getElementById(fieldId(p + '.' + k))?.value || '').trim();
    const s = {ref: 's' + (i + 1), role: v('role')};
    for (const k of ['forenames', 'surname', 'postcode', 'gender']) if (v(k)) s[k] = v(k);
    const dob = readDate(p + '.date_of_birth');
    if (dob) s.date_of_birth = dob;
    const ids = {};
    for (const [k] of schemes) { const x = v('identifiers.' + k); if (x) ids[k] = x; }
    if (Object.keys(ids).length) s.identifiers = ids;
    return s;
  });
}

function agencyBlock(a) {
  const id = `agency-${a.id}`;
  const details = h('div', {class: 'govuk-checkboxes__conditional', id: id + '-more', hidden: true},
    textarea(`agency.${a.id}.justification`, `Why you need to ask ${a.name}`, {rows: 2,
      hint: 'Say why this agency may hold information relevant to the concern. At least 10 characters.'}),
    h('div', {class: 'govuk-form-group'},
      h('fieldset', {class: 'govuk-fieldset'},
        h('legend', {class: 'govuk-fieldset__legend govuk-fieldset__legend--s'}, 'Information to ask for'),
        h('div', {class: 'govuk-checkboxes govuk-checkboxes--small'},
          a.fields.map(f => checkbox(`${id}-field-${f.id}`, `${id}-fields`, f.id,
            f.description + (f.special_category ? ' (special category)' : ''), true))))));
  const box = checkbox(fieldId(`agency.${a.id}`), 'agencies', a.id, a.name, false, {'aria-controls': id + '-more'});
  box.querySelector('input').addEventListener('change', ev => { details.hidden = !ev.target.checked; });
  return [box, details];
}

function readAgencies(form) {
  return [...form.querySelectorAll('input[name=agencies]:checked')].map(cb => ({
    agency: cb.value,
    justification: document.getElementById(fieldId(`agency.${cb.value}.justification`)).value.trim(),
    fields: [...form.querySelectorAll(`input[name="agency-${CSS.escape(cb.value)}-fields"]:checked`)].map(x => x.value),
  }));
}

function readEnquiry(form) {
  const v = k => (document.getElementById(fieldId(k))?.value || '').trim();
  const e = {case_ref: v('case_ref'), local_authority: v('local_authority'), brag: readRadio('brag'), concerns: v('concerns'),
             purpose: v('purpose'), legal_basis: v('legal_basis'), consent: v('consent'),
             subjects: readSubjects(form), agencies: readAgencies(form)};
  if (v('consent_reason')) e.consent_reason = v('consent_reason');
  return e;
}

// The API names agency errors by their place in the list sent ("agencies[1].justification");
// the form names them by agency.
function formKey(key, sent) {
  const m = key.match(/^agencies\[(\d+)\](?:\.(\w+))?/);
  if (!m) return key;
  const a = sent.agencies[Number(m[1])];
  if (!a) return 'agencies';
  return m[2] === 'justification' ? `agency.${a.agency}.justification` : `agency.${a.agency}`;
}

function describeKey(key) {
  const names = {case_ref: 'Case reference', local_authority: 'Local authority', brag: 'BRAG rating', concerns: 'Concerns',
                 purpose: 'Purpose', legal_basis: 'Legal basis', consent: 'Consent', consent_reason: 'Reason consent was not sought',
                 subjects: 'People', agencies: 'Agencies'};
  if (names[key]) return names[key];
  let m = key.match(/^subjects\[(\d+)\]\.?(.*)$/);
  if (m) return `Person ${Number(m[1]) + 1}${m[2] ? ': ' + m[2].replace(/_/g, ' ').replace('identifiers.', '') : ''}`;
  m = key.match(/^agency\.([a-z0-9-]+)\.?(.*)$/);
  if (m) return `${agencyName(m[1])}${m[2] ? ': ' + m[2] : ''}`;
  return key;
}

export async function create() {
  const el = page('New enquiry');
  const ag = await loadAgreement();
  const summary = h('div');
  const subjects = h('div', {id: 'subjects'});
  const previewBox = h('div', {id: 'preview', 'aria-live': 'polite'});
  const form = h('form', {novalidate: true, id: 'enquiry-form'},
    h('h2', {class: 'govuk-heading-m'}, 'The case'),
    textInput('case_ref', 'Case reference', {width: 20, hint: 'As in your case management system, for example MASH-2026-0042.'}),
    textInput('local_authority', 'Local authority', {width: 20, hint: 'Its code, for example hammersmith-fulham.'}),
    radios('brag', 'BRAG rating', ag.brag.slice().sort((a, b) => b.rank - a.rank).map(b => ({value: b.id,
      text: b.name || b.id, hint: `Agencies have ${timeLeft(Date.now() + b.deadline_minutes * 60000).replace(' left', '')} to answer.`}))),
    textarea('concerns', 'Concerns', {rows: 4, hint: 'What has been reported. Agencies do not see this.'}),
    h('h2', {class: 'govuk-heading-m'}, 'Why you are asking'),
    select('purpose', 'Purpose', ag.purposes.map(p => ({value: p.id, text: p.name || p.id})), {placeholder: 'Choose the purpose'}),
    select('legal_basis', 'Legal basis', ag.legal_bases.map(b => ({value: b.id, text: b.name || b.id})), {placeholder: 'Choose the legal basis'}),
    select('consent', 'Consent', ag.consent_states.map(c => ({value: c.id, text: c.name || c.id})), {placeholder: 'Choose the consent state'}),
    textarea('consent_reason', 'Reason consent was not sought', {rows: 2, hint: 'Needed when consent was not sought.'}),
    h('h2', {class: 'govuk-heading-m'}, 'The people'),
    subjects,
    button('Add another person', {type: 'button', secondary: true, id: 'add-subject'}),
    h('h2', {class: 'govuk-heading-m'}, 'The agencies'),
    h('div', {class: 'govuk-form-group', 'data-key': 'agencies'},
      h('fieldset', {class: 'govuk-fieldset'},
        h('legend', {class: 'govuk-fieldset__legend govuk-fieldset__legend--s'}, 'Which agencies to ask'),
        h('div', {class: 'govuk-hint'}, 'Ask only the agencies that may hold information relevant to this concern.'),
        h('div', {class: 'govuk-checkboxes', 'data-module': 'govuk-checkboxes'}, ag.agencies.map(agencyBlock)))),
    previewBox,
    h('div', {class: 'govuk-button-group'},
      button('Preview what each agency will be asked', {type: 'button', secondary: true, id: 'preview-button'}),
      button('Send enquiry', {id: 'send-button'})));
  append(el, [summary, heading('New enquiry'), para('Nothing is sent until you choose "Send enquiry". The preview sends nothing.'), form]);
  const addSubject = role => { subjects.append(subjectFieldset(subjects.children.length, role)); };
  addSubject('child');
  form.querySelector('#add-subject').addEventListener('click', () => addSubject('mother'));
  form.addEventListener('click', ev => {
    const b = ev.target.closest('[data-remove]');
    if (!b) return;
    const kept = readSubjects(form).filter((_, i) => i !== Number(b.dataset.remove));
    clear(subjects);
    kept.forEach((s, i) => {
      subjects.append(subjectFieldset(i, s.role));
      for (const k of ['forenames', 'surname', 'postcode', 'gender']) {
        const x = document.getElementById(fieldId(`subjects[${i}].${k}`));
        if (x && s[k]) x.value = s[k];
      }
      if (s.date_of_birth) {
        const [y, m, d] = s.date_of_birth.split('-');
        const id = fieldId(`subjects[${i}].date_of_birth`);
        document.getElementById(id).value = d; document.getElementById(id + '-month').value = m; document.getElementById(id + '-year').value = y;
      }
      for (const [k, v] of Object.entries(s.identifiers || {})) document.getElementById(fieldId(`subjects[${i}].identifiers.${k}`)).value = v;
    });
  });

  const refuse = (e, sent) => {
    if (e instanceof ApiError && e.status === 400 && Object.keys(e.fields).length) {
      const fields = {};
      for (const [k, v] of Object.entries(e.fields)) fields[formKey(k, sent)] = v;
      showErrorSummary(summary, 'There is a problem: nothing was sent', markFieldErrors(form, fields, describeKey));
    } else {
      clearFieldErrors(form);
      showErrorSummary(summary, 'There is a problem: nothing was sent', [{message: e.message}]);
    }
  };
  const local = sent => {  // what the browser can tell before asking the hub
    const fields = {};
    if (!sent.agencies.length) fields.agencies = 'choose at least one agency';
    return fields;
  };

  form.querySelector('#preview-button').addEventListener('click', async () => {
    const sent = readEnquiry(form);
    clear(previewBox);
    const f = local(sent);
    if (Object.keys(f).length) { showErrorSummary(summary, 'There is a problem', markFieldErrors(form, f, describeKey)); return; }
    try {
      const p = await api('POST', '/api/v1/enquiries/preview', sent);
      clearFieldErrors(form);
      clear(summary);
      previewBox.append(h('div', {class: 'govuk-inset-text', id: 'preview-result'},
        h('h2', {class: 'govuk-heading-m'}, 'What each agency will be asked'),
        p.agencies.map(a => h('div', {'data-preview-agency': a.agency},
          h('h3', {class: 'govuk-heading-s'}, agencyName(a.agency)),
          a.asked.length ? h('ul', {class: 'govuk-list govuk-list--bullet'}, a.asked.map(x => h('li', {}, fieldName(x))))
                         : para('Nothing: the agreement permits none of the information asked for.'),
          a.not_permitted.length ? [h('p', {class: 'govuk-body govuk-!-font-weight-bold'}, 'Not permitted:'),
            h('ul', {class: 'govuk-list govuk-list--bullet'}, a.not_permitted.map(n =>
              h('li', {'data-not-permitted': n.field}, `${fieldName(n.field)}: ${n.explanation || n.reason}`,
                n.clause ? h('span', {class: 'app-muted'}, ` (agreement clause ${n.clause})`) : null)))] : null)),
        para(`Agencies will have until about ${when(Date.now() + (p.deadline_minutes || p.deadline_hours * 60) * 60000)} to answer.`)));
      previewBox.scrollIntoView({block: 'start'});
    } catch (e) { refuse(e, sent); }
  });

  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const sent = readEnquiry(form);
    const f = local(sent);
    if (Object.keys(f).length) { showErrorSummary(summary, 'There is a problem: nothing was sent', markFieldErrors(form, f, describeKey)); return; }
    const send = form.querySelector('#send-button');
    send.disabled = true;
    try {
      const r = await api('POST', '/api/v1/enquiries', sent);
      navigate('/enquiries/' + r.id + '?sent=1', true);
    } catch (e) {
      refuse(e, sent);
    } finally {
      send.disabled = false;
    }
  });
}

// ---- one enquiry: status board, consolidated picture, decision ----

function answerCard(agency, a) {
  if (!a) return null;
  const rows = [['Outcome', outcomeText[a.outcome] || a.outcome]];
  if (a.outcome === 'matched') rows.push(['Confidence', `match score ${Number(a.score).toFixed(1)}${a.match_basis ? ' (' + a.match_basis + ')' : ''}`]);
  if (a.outcome === 'possible') rows.push(['Candidates', String(a.candidates)]);
  return h('div', {class: 'app-agency-answer', 'data-agency': agency},
    h('h4', {class: 'govuk-heading-s'}, agencyName(agency)),
    summaryList(rows),
    a.restricted ? h('p', {class: 'app-restricted', 'data-restricted': 'true'},
      `This agency holds restricted information. Contact ${a.restricted_contact || 'the agency'}.`) : null,
    a.released?.length ? table('Released', ['Information', 'Value', 'Date', 'Source'],
      a.released.map(r => [fieldName(r.field), r.value, r.date || '—', r.source || '—'])) : null,
    a.withheld?.length ? [h('h5', {class: 'govuk-heading-s'}, 'Withheld'),
      h('ul', {class: 'govuk-list govuk-list--bullet'}, a.withheld.map(w =>
        h('li', {'data-withheld': w.field}, `${fieldName(w.field)}: ${w.reason}`, w.clause ? h('span', {class: 'app-muted'}, ` (clause ${w.clause})`) : null)))] : null);
}

function picture(v) {
  return Object.entries(v.subjects).map(([ref, s]) => h('section', {class: 'app-subject', 'data-subject-ref': ref},
    h('h3', {class: 'govuk-heading-m'}, `${[s.forenames, s.surname].filter(Boolean).join(' ') || ref}`,
      h('span', {class: 'govuk-caption-m'}, `${s.role}${s.date_of_birth ? ', born ' + s.date_of_birth : ''}`)),
    Object.keys(s.agencies).length ? Object.entries(s.agencies).map(([a, x]) => answerCard(a, x))
                                   : para('No answers about this person yet.')));
}

// Why an agency's agent refused the enquiry for good; the researcher should phone the agency.
function failureText(reason) {
  const why = {'bad-signature': 'the agency could not verify the hub\'s signature',
               'protocol': 'the agency could not read the enquiry',
               'policy-rejected': 'the agency does not hold this agreement',
               'witness-alarm': 'the agency has stopped taking enquiries until an audit alarm is looked at'}[reason]
    || 'the agency refused it';
  return `Not delivered: ${why}. Phone the agency.`;
}

function statusBoard(v) {
  return table('Agencies', ['Agency', 'Status', 'Last change', 'Time to the deadline'],
    Object.entries(v.agencies).map(([a, s]) => ({attrs: {'data-agency-row': a}, cells: [
      agencyName(a), statusTag(s.status, s.late),
      when(s.updated_ms),
      s.status === 'answered' || s.status === 'declined' ? (s.decline_reason ? 'Reason: ' + s.decline_reason : '—')
        : s.status === 'failed' ? failureText(s.failure) : timeLeft(v.deadline_ms)]})),
    {class: 'app-status-table', id: 'status-board'});
}

function decisionForm(v, onDone) {
  const summary = h('div');
  const form = h('form', {novalidate: true, id: 'decision-form', class: 'app-no-print'},
    h('h2', {class: 'govuk-heading-m'}, v.decision ? 'Change the decision' : 'Record the decision'),
    summary,
    radios('decision', 'Decision', Object.entries(decisionText).map(([value, text]) => ({value, text})), {value: v.decision}),
    textarea('rationale', 'Rationale', {rows: 4, hint: 'Why this decision (at least 10 characters). Kept with the case.'}),
    button('Record decision', {id: 'decide'}));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const body = {decision: readRadio('decision'), rationale: form.querySelector('#f-rationale').value.trim()};
    const fields = {};
    if (!body.decision) fields.decision = 'choose a decision';
    if (Object.keys(fields).length) { showErrorSummary(summary, 'There is a problem', markFieldErrors(form, fields, () => 'Decision:')); return; }
    try {
      await api('POST', `/api/v1/enquiries/${encodeURIComponent(v.id)}/decision`, body);
      onDone(body.decision);
    } catch (e) {
      if (e instanceof ApiError && Object.keys(e.fields).length) {
        showErrorSummary(summary, 'There is a problem', markFieldErrors(form, e.fields, k => k === 'rationale' ? 'Rationale' : 'Decision'));
      } else showErrorSummary(summary, 'There is a problem', [{message: e.message}]);
    }
  });
  return form;
}

export async function view(id) {
  const el = page('Enquiry');
  await loadAgreement().catch(() => null);
  let v;
  try {
    v = await api('GET', '/api/v1/enquiries/' + encodeURIComponent(id));
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 410)) {
      append(el, [heading(e.status === 404 ? 'Enquiry not found' : 'This enquiry\'s content was destroyed'),
        para(e.status === 404 ? 'There is no such enquiry, or it is not one of yours.' : e.message), para(link('/cases', 'Back to cases'))]);
      return;
    }
    throw e;
  }
  document.title = `${v.case_ref} – MASH Exchange`;
  const sent = new URLSearchParams(location.search).get('sent');
  const board = h('div', {id: 'board'});
  const banner = h('div');
  const pic = h('div', {id: 'picture'});
  const draw = () => {
    clear(board).append(statusBoard(v));
    clear(pic).append(h('h2', {class: 'govuk-heading-l'}, 'The consolidated picture'), ...picture(v));
  };
  append(el, [
    sent ? notification('Enquiry sent', 'Each agency\'s status below changes as it answers.', true) : null,
    heading(v.case_ref, `Enquiry ${v.id}`),
    summaryList([['BRAG rating', bragTag(v.brag)], ['Local authority', v.local_authority], ['Purpose', v.purpose],
      ['Legal basis', v.legal_basis], ['Consent', v.consent], ['Sent', when(v.created_ms)],
      ['Deadline', finished(v) ? when(v.deadline_ms) : `${when(v.deadline_ms)} (${timeLeft(v.deadline_ms)})`],
      ['Decision', v.decision ? decisionText[v.decision] || v.decision : 'None yet']]),
    banner, board, pic]);
  draw();
  if (state.user.role === 'manager') {
    append(el, [decisionForm(v, d => navigate(`/enquiries/${v.id}`, true)),
      v.decision ? para(link(`/enquiries/${v.id}/export`, 'Information for the front door (printable)')) : null]);
  }
  // Live: statuses as they change; the picture is fetched again (and that view recorded) when an
  // answer arrives, at most once a second.
  let refetch = null;
  watch('/api/v1/events?enquiry=' + encodeURIComponent(v.id), ev => {
    const a = v.agencies[ev.agency];
    if (!a) return;
    const changed = a.status !== ev.status;
    Object.assign(a, {status: ev.status, late: ev.late, updated_ms: ev.updated_ms});
    draw();
    if (changed && (ev.status === 'answered' || ev.status === 'declined') && !refetch) {
      refetch = setTimeout(async () => {
        refetch = null;
        try {
          const fresh = await api('GET', '/api/v1/enquiries/' + encodeURIComponent(v.id));
          Object.assign(v, fresh);
          draw();
        } catch (e) { /* keep what is shown */ }
      }, 1000);
    }
  }, banner);
  const tick = setInterval(draw, 30000);
  onLeave(() => { clearInterval(tick); clearTimeout(refetch); });
}

export async function exportPage(id) {
  const el = page('Information for the front door');
  await loadAgreement().catch(() => null);
  let x;
  try {
    x = await api('GET', `/api/v1/enquiries/${encodeURIComponent(id)}/export`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      append(el, [heading('Record the decision first'), para(e.message), para(link('/enquiries/' + id, 'Back to the enquiry'))]);
      return;
    }
    throw e;
  }
  append(el, [heading(`${x.case_ref}: information for the front door`),
    inset('Released information only. Restricted information and withheld items are never included.'),
    summaryList([['BRAG rating', bragTag(x.brag)], ['Local authority', x.local_authority],
      ['Decision', decisionText[x.decision.decision] || x.decision.decision], ['Rationale', x.decision.rationale],
      ['Decided', when(x.decision.at_ms)]]),
    Object.entries(x.subjects).map(([ref, s]) => h('section', {class: 'app-subject'},
      h('h2', {class: 'govuk-heading-m'}, [s.forenames, s.surname].filter(Boolean).join(' ') || ref,
        h('span', {class: 'govuk-caption-m'}, `${s.role}${s.date_of_birth ? ', born ' + s.date_of_birth : ''}`)),
      Object.entries(s.agencies).map(([a, ans]) => h('div', {},
        h('h3', {class: 'govuk-heading-s'}, `${agencyName(a)}: ${outcomeText[ans.outcome] || ans.outcome}`),
        ans.released.length ? table('', ['Information', 'Value', 'Date'], ans.released.map(r => [fieldName(r.field), r.value, r.date || '—'])) : null)))),
    h('div', {class: 'govuk-button-group app-no-print'},
      button('Print', {type: 'button', onclick: () => window.print()}), link('/enquiries/' + id, 'Back to the enquiry'))]);
}

// The researcher's enquiry form with its preview: a new enquiry, or a follow-up of an earlier one
// (/enquiries/new?follows=ID: the same case asked again of its agencies, the form filled in from
// the earlier enquiry so that the researcher adds what they now know).
import {api, ApiError} from './api.js';
import {state, page, navigate} from './app.js';
import {h, clear, append, heading, para, button, textInput, textarea, select, dateInput, readDate, radios, readRadio,
        checkbox, fieldId, markFieldErrors, clearFieldErrors, showErrorSummary, when, timeLeft} from './dom.js';
import {agencyName, fieldName, loadAgreement} from './cases.js';

// The national identifier schemes; agencies may declare their own in the agreement.
const nationalSchemes = [['nhs', 'NHS number'], ['upn', 'Unique pupil number (UPN)'], ['pnc', 'Police National Computer (PNC) ID'],
                         ['probation', 'Probation case reference'], ['housing', 'Housing reference']];
const textKeys = ['forenames', 'surname', 'address', 'postcode', 'uprn', 'gender'];

function agencySchemes() {
  return (state.agreement.agencies || []).flatMap(a => (a.identifier_schemes || []).map(s =>
    [s.id, `${s.name} (${agencyName(a.id)} only)`]));
}

function subjectFieldset(i, s = {}) {
  const p = `subjects[${i}]`;
  const roles = state.agreement.subject_roles.map(r => ({value: r, text: r.replace('-', ' ')}));
  const ids = s.identifiers || {};
  // Other names (aliases) have no field here; those of an earlier enquiry are kept as they were.
  return h('fieldset', {class: 'govuk-fieldset app-subject', 'data-subject': i,
                        'data-other-names': JSON.stringify(s.other_names || [])},
    h('legend', {class: 'govuk-fieldset__legend govuk-fieldset__legend--m'}, `Person ${i + 1}`),
    select(p + '.role', 'Role in the case', roles, {value: s.role}),
    textInput(p + '.forenames', 'First names', {width: 20, value: s.forenames}),
    textInput(p + '.surname', 'Last name', {width: 20, value: s.surname}),
    dateInput(p + '.date_of_birth', 'Date of birth', {hint: 'For example, 27 3 2015. Leave empty if not known.', value: s.date_of_birth}),
    select(p + '.gender', 'Gender', [['female', 'Female'], ['male', 'Male'], ['other', 'Other'], ['unknown', 'Not known']]
      .map(([value, text]) => ({value, text})), {placeholder: 'Not given', value: s.gender}),
    textInput(p + '.address', 'Address', {width: 30, value: s.address,
      hint: 'On one line, for example Flat 2, 14 Acacia Road, Hammersmith. Leave empty if not known.'}),
    textInput(p + '.postcode', 'Postcode', {width: 10, value: s.postcode}),
    textInput(p + '.uprn', 'Unique Property Reference Number (UPRN)', {width: 20, value: s.uprn, inputmode: 'numeric',
      hint: 'If your case system gives one for the address: up to 12 digits.'}),
    h('details', {class: 'govuk-details', open: Object.keys(ids).length > 0},
      h('summary', {class: 'govuk-details__summary'}, h('span', {class: 'govuk-details__summary-text'}, 'Identifiers (NHS number, UPN, ...)')),
      h('div', {class: 'govuk-details__text'}, [...nationalSchemes, ...agencySchemes()].map(([k, label]) =>
        textInput(`${p}.identifiers.${k}`, label, {width: 20, value: ids[k]})))),
    i > 0 ? button('Remove this person', {type: 'button', secondary: true, class: 'app-remove-subject', 'data-remove': i}) : null);
}

function readSubjects(form) {
  const national = new Set(nationalSchemes.map(([k]) => k));
  return [...form.querySelectorAll('[data-subject]')].map((fs, i) => {
    const p = `subjects[${i}]`;
    const v = k => (document.getElementById(fieldId(p + '.' + k))?.value || '').trim();
    const s = {ref: 's' + (i + 1), role: v('role')};
    for (const k of textKeys) if (v(k)) s[k] = v(k);
    const dob = readDate(p + '.date_of_birth');
    if (dob) s.date_of_birth = dob;
    const other = JSON.parse(fs.dataset.otherNames || '[]');
    if (other.length) s.other_names = other;
    const ids = [];
    for (const [k] of [...nationalSchemes, ...agencySchemes()]) { const x = v('identifiers.' + k); if (x) ids.push({scheme: k, value: x}); }
    // National identifiers as an object; with an agency's own scheme among them, as a list.
    if (ids.length) {
      s.identifiers = ids.every(x => national.has(x.scheme)) ? Object.fromEntries(ids.map(x => [x.scheme, x.value])) : ids;
    }
    return s;
  });
}

// Identifiers as the API gives them back (an object) or as sent (a list), as an object.
function identifierValues(ids) {
  if (Array.isArray(ids)) return Object.fromEntries(ids.map(x => [x.scheme, x.value]));
  return ids || {};
}

function agencyBlock(a, earlier) {
  const id = `agency-${a.id}`;
  const chosen = !!earlier;
  const details = h('div', {class: 'govuk-checkboxes__conditional', id: id + '-more', hidden: !chosen},
    textarea(`agency.${a.id}.justification`, `Why you need to ask ${a.name}`, {rows: 2, value: earlier?.justification,
      hint: 'Say why this agency may hold information relevant to the concern. At least 10 characters.'}),
    h('div', {class: 'govuk-form-group'},
      h('fieldset', {class: 'govuk-fieldset'},
        h('legend', {class: 'govuk-fieldset__legend govuk-fieldset__legend--s'}, 'Information to ask for'),
        h('div', {class: 'govuk-checkboxes govuk-checkboxes--small'},
          a.fields.map(f => checkbox(`${id}-field-${f.id}`, `${id}-fields`, f.id,
            f.description + (f.special_category ? ' (special category)' : ''),
            earlier ? (earlier.fields || []).includes(f.id) : true))))));
  const box = checkbox(fieldId(`agency.${a.id}`), 'agencies', a.id, a.name, chosen, {'aria-controls': id + '-more'});
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

function readEnquiry(form, follows) {
  const v = k => (document.getElementById(fieldId(k))?.value || '').trim();
  const e = {case_ref: v('case_ref'), local_authority: v('local_authority'), brag: readRadio('brag'), concerns: v('concerns'),
             purpose: v('purpose'), legal_basis: v('legal_basis'), consent: v('consent'),
             subjects: readSubjects(form), agencies: readAgencies(form)};
  if (v('consent_reason')) e.consent_reason = v('consent_reason');
  if (follows) e.follows = follows;
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
                 subjects: 'People', agencies: 'Agencies', follows: 'The enquiry this follows'};
  if (names[key]) return names[key];
  let m = key.match(/^subjects\[(\d+)\]\.?(.*)$/);
  if (m) return `Person ${Number(m[1]) + 1}${m[2] ? ': ' + m[2].replace(/_/g, ' ').replace('identifiers.', '') : ''}`;
  m = key.match(/^agency\.([a-z0-9-]+)\.?(.*)$/);
  if (m) return `${agencyName(m[1])}${m[2] ? ': ' + m[2] : ''}`;
  return key;
}

// The earlier enquiry of a follow-up, and the agencies whose answer was "possible" (asked again).
async function loadEarlier(follows) {
  const v = await api('GET', '/api/v1/enquiries/' + encodeURIComponent(follows));
  const possible = new Set();
  for (const s of Object.values(v.subjects || {})) {
    for (const [a, x] of Object.entries(s.agencies || {})) if (x.outcome === 'possible') possible.add(a);
  }
  return {v, possible};
}

export async function create() {
  const follows = new URLSearchParams(location.search).get('follows');
  const el = page(follows ? 'Follow-up enquiry' : 'New enquiry');
  const ag = await loadAgreement();
  let earlier = null;
  if (follows) {
    try {
      earlier = await loadEarlier(follows);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 410)) {
        append(el, [heading('Enquiry not found'), para('There is no such enquiry to follow up, or it is not one of yours.')]);
        return;
      }
      throw e;
    }
  }
  const req = earlier?.v.request || {};
  const askedBefore = id => (earlier && earlier.possible.has(id)) ? (req.agencies || []).find(a => a.agency === id) || {} : null;
  const summary = h('div');
  const subjects = h('div', {id: 'subjects'});
  const previewBox = h('div', {id: 'preview', 'aria-live': 'polite'});
  const agencies = earlier ? ag.agencies.filter(a => earlier.v.agencies[a.id]) : ag.agencies;
  const form = h('form', {novalidate: true, id: 'enquiry-form'},
    h('h2', {class: 'govuk-heading-m'}, 'The case'),
    textInput('case_ref', 'Case reference', {width: 20, value: req.case_ref, hint: earlier ? 'A follow-up keeps the case reference.' :
      'As in your case management system, for example MASH-2026-0042.'}),
    textInput('local_authority', 'Local authority', {width: 20, value: req.local_authority, hint: 'Its code, for example hammersmith-fulham.'}),
    radios('brag', 'BRAG rating', ag.brag.slice().sort((a, b) => b.rank - a.rank).map(b => ({value: b.id,
      text: b.name || b.id, hint: `Agencies have ${timeLeft(Date.now() + b.deadline_minutes * 60000).replace(' left', '')} to answer.`})),
      {value: req.brag}),
    textarea('concerns', 'Concerns', {rows: 4, value: req.concerns, hint: 'What has been reported. Agencies do not see this.'}),
    h('h2', {class: 'govuk-heading-m'}, 'Why you are asking'),
    select('purpose', 'Purpose', ag.purposes.map(p => ({value: p.id, text: p.name || p.id})), {placeholder: 'Choose the purpose', value: req.purpose}),
    select('legal_basis', 'Legal basis', ag.legal_bases.map(b => ({value: b.id, text: b.name || b.id})),
      {placeholder: 'Choose the legal basis', value: req.legal_basis}),
    select('consent', 'Consent', ag.consent_states.map(c => ({value: c.id, text: c.name || c.id})),
      {placeholder: 'Choose the consent state', value: req.consent}),
    textarea('consent_reason', 'Reason consent was not sought', {rows: 2, value: req.consent_reason, hint: 'Needed when consent was not sought.'}),
    h('h2', {class: 'govuk-heading-m'}, 'The people'),
    subjects,
    button('Add another person', {type: 'button', secondary: true, id: 'add-subject'}),
    h('h2', {class: 'govuk-heading-m'}, 'The agencies'),
    h('div', {class: 'govuk-form-group', 'data-key': 'agencies'},
      h('fieldset', {class: 'govuk-fieldset'},
        h('legend', {class: 'govuk-fieldset__legend govuk-fieldset__legend--s'}, earlier ? 'Which agencies to ask again' : 'Which agencies to ask'),
        h('div', {class: 'govuk-hint'}, earlier ? 'A follow-up asks agencies that were asked before.'
          : 'Ask only the agencies that may hold information relevant to this concern.'),
        h('div', {class: 'govuk-checkboxes', 'data-module': 'govuk-checkboxes'}, agencies.map(a => agencyBlock(a, askedBefore(a.id)))))),
    previewBox,
    h('div', {class: 'govuk-button-group'},
      button('Preview what each agency will be asked', {type: 'button', secondary: true, id: 'preview-button'}),
      button(earlier ? 'Send follow-up' : 'Send enquiry', {id: 'send-button'})));
  append(el, [summary, heading(earlier ? 'Follow-up enquiry' : 'New enquiry', earlier ? `Following enquiry ${follows}` : undefined),
    para(earlier ? 'The earlier enquiry\'s details are filled in: add what you now know, such as an address or an identifier. ' +
                   'Nothing is sent until you choose "Send follow-up".'
                 : 'Nothing is sent until you choose "Send enquiry". The preview sends nothing.'), form]);
  const addSubject = s => { subjects.append(subjectFieldset(subjects.children.length, s)); };
  if (earlier && req.subjects?.length) {
    for (const s of req.subjects) addSubject({...s, identifiers: identifierValues(s.identifiers)});
  } else {
    addSubject({role: 'child'});
  }
  form.querySelector('#add-subject').addEventListener('click', () => addSubject({role: 'mother'}));
  form.addEventListener('click', ev => {
    const b = ev.target.closest('[data-remove]');
    if (!b) return;
    const kept = readSubjects(form).filter((_, i) => i !== Number(b.dataset.remove));
    clear(subjects);
    kept.forEach(s => addSubject({...s, identifiers: identifierValues(s.identifiers)}));
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
    const sent = readEnquiry(form, follows);
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
    const sent = readEnquiry(form, follows);
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

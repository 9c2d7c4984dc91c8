// The data protection officer's pages: audit search, person search and subject access report,
// case timeline, the signed checkpoint's integrity check, statistics and flags. No case content:
// the API gives a DPO only what the audit trail holds (ids, types, pseudonyms, outcomes).
import {api, ApiError} from './api.js';
import {page} from './app.js';
import {h, clear, append, heading, para, link, button, tag, table, summaryList, inset, textInput, dateInput, readDate,
        fieldId, markFieldErrors, clearFieldErrors, showErrorSummary} from './dom.js';

// Case references may hold '/': kept as it is in the path (the API takes everything up to /timeline).
const caseHref = ref => '/audit/cases/' + encodeURIComponent(ref).replace(/%2F/g, '/');

function eventsTable(events, caption = '') {
  if (!events.length) return para('No matching events.');
  return table(caption, ['#', 'Time (UTC)', 'Event', 'User', 'Agency', 'Case', 'Enquiry', 'Outcome'], events.map(e => ({
    attrs: {'data-event-type': e.type},
    cells: [String(e.index), (e.time || '').replace('T', ' ').replace('Z', ''), e.type, e.actor ? `${e.actor}${e.role ? ' (' + e.role + ')' : ''}` : '—',
      e.agency || '—', e.case ? link(caseHref(e.case), e.case) : '—', e.enquiry || '—', e.outcome || '—']})),
    {id: 'audit-events'});
}

function results(data) {
  return [para(`${data.count ?? data.events.length} event(s)${data.truncated ? ' – more matched than are shown; narrow the search' : ''}.`),
    data.warning ? inset(data.warning) : null, eventsTable(data.events)];
}

function formErrors(form, summary, e, describe = k => k) {
  if (e instanceof ApiError && Object.keys(e.fields).length) {
    showErrorSummary(summary, 'There is a problem', markFieldErrors(form, e.fields, describe));
  } else {
    clearFieldErrors(form);
    showErrorSummary(summary, 'There is a problem', [{message: e.message}]);
  }
}

export async function search() {
  const el = page('Audit search');
  const summary = h('div');
  const out = h('div', {id: 'results', 'aria-live': 'polite'});
  const keys = [['user', 'User', 20], ['agency', 'Agency', 10], ['case', 'Case reference', 20], ['enquiry', 'Enquiry id', 30],
                ['type', 'Event type', 20]];
  const form = h('form', {novalidate: true, id: 'audit-search'},
    keys.map(([k, label, w]) => textInput(k, label, {width: w, hint: k === 'type' ? 'For example results.viewed, enquiry.created, audit.searched' : null})),
    textInput('from', 'From', {width: 20, hint: 'UTC date, or date and time: 2026-12-01 or 2026-12-01T09:30'}),
    textInput('to', 'To', {width: 20, hint: 'Inclusive'}),
    button('Search the audit trail', {id: 'search'}));
  append(el, [summary, heading('Audit search'), para('Every search you make is itself recorded in the audit log.'),
    para(link('/audit/person', 'Search by a person\'s details'), ' or make a ', link('/audit/person', 'subject access report'), '.'), form, out]);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const k of ['user', 'agency', 'case', 'enquiry', 'type', 'from', 'to']) {
      const v = document.getElementById(fieldId(k)).value.trim();
      if (v) q.set(k, v);
    }
    clear(out);
    try {
      const data = await api('GET', '/api/v1/audit/events?' + q.toString());
      clearFieldErrors(form); clear(summary);
      append(out, results(data));
    } catch (e) { formErrors(form, summary, e); }
  });
}

function personForm(id) {
  return h('form', {novalidate: true, id},
    textInput('person.forenames', 'First names', {width: 20}),
    textInput('person.surname', 'Last name', {width: 20}),
    dateInput('person.date_of_birth', 'Date of birth', {hint: 'For example, 27 3 2015'}),
    textInput('person.identifiers.nhs', 'NHS number', {width: 10}),
    textInput('person.identifiers.upn', 'Unique pupil number (UPN)', {width: 20}),
    textInput('person.identifiers.pnc', 'PNC ID', {width: 20}),
    h('div', {class: 'govuk-button-group'},
      button('Find accesses', {id: 'find-person', value: 'person'}),
      button('Subject access report', {id: 'sar', secondary: true, value: 'sar'})));
}

function readPerson() {
  const v = k => document.getElementById(fieldId('person.' + k))?.value.trim() || '';
  const p = {};
  for (const k of ['forenames', 'surname']) if (v(k)) p[k] = v(k);
  const dob = readDate('person.date_of_birth');
  if (dob) p.date_of_birth = dob;
  const ids = {};
  for (const k of ['nhs', 'upn', 'pnc']) if (v('identifiers.' + k)) ids[k] = v('identifiers.' + k);
  if (Object.keys(ids).length) p.identifiers = ids;
  return p;
}

function sarView(r) {
  return [h('h2', {class: 'govuk-heading-l'}, 'Subject access report'),
    r.warning ? inset(r.warning) : null,
    r.truncated ? inset('The report is longer than can be shown; ask for it with mash-broker audit on the hub.') : null,
    h('h3', {class: 'govuk-heading-m'}, `Enquiries to agencies (${r.accesses.length})`),
    r.accesses.length ? table('', ['Enquiry', 'Case', 'Agency', 'Asked', 'By', 'Purpose and basis', 'Fields requested', 'Answers'],
      r.accesses.map(a => [a.enquiry, a.case ? link(caseHref(a.case), a.case) : '—', a.agency,
        (a.asked || '').replace('T', ' ').replace('Z', ''), `${a.actor} (${a.role})`,
        `${a.purpose}; ${a.legal_basis}; consent: ${a.consent}`, (a.fields_requested || []).join(', ') || '—',
        (a.answers || []).map(x => `${x.status || x.outcome || ''}${x.person_outcome ? ' (this person: ' + x.person_outcome + ')' : ''}${x.time ? ' ' + x.time.replace('T', ' ').replace('Z', '') : ''}`).join('; ') || 'none']),
      {id: 'sar-accesses'}) : para('No enquiry about this person.'),
    h('h3', {class: 'govuk-heading-m'}, `Views and exports of results (${r.views.length})`),
    eventsTable(r.views),
    h('h3', {class: 'govuk-heading-m'}, `Other records (${r.other.length})`),
    eventsTable(r.other)];
}

export async function person() {
  const el = page('Person search');
  const summary = h('div');
  const out = h('div', {id: 'results', 'aria-live': 'polite'});
  const form = personForm('person-search');
  append(el, [summary, heading('Search by a person'),
    para('The details are turned into the hub\'s pseudonyms and are not stored; the search is recorded with the pseudonyms only.'),
    form, out]);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const which = ev.submitter?.value || 'person';
    const p = readPerson();
    clear(out);
    if (!Object.keys(p).length) {
      showErrorSummary(summary, 'There is a problem', markFieldErrors(form, {'person.surname': 'enter at least a name and date of birth, or an identifier'}, () => 'Person:'));
      return;
    }
    try {
      const data = await api('POST', which === 'sar' ? '/api/v1/audit/subject-access-report' : '/api/v1/audit/person', {person: p});
      clearFieldErrors(form); clear(summary);
      append(out, which === 'sar' ? sarView(data) : results(data));
    } catch (e) { formErrors(form, summary, e, k => k === 'person' ? 'Person:' : k); }
  });
}

export async function timeline(caseRef) {
  const el = page('Case timeline');
  const data = await api('GET', '/api/v1/audit/cases/' + encodeURIComponent(caseRef) + '/timeline');
  append(el, [heading(`Case ${caseRef}`, 'Timeline'), ...results(data)]);
}

export async function checkpoint() {
  const el = page('Integrity check');
  append(el, [heading('Audit log integrity')]);
  let c;
  try {
    c = await api('GET', '/api/v1/audit/checkpoint');
  } catch (e) {
    if (e instanceof ApiError && e.status === 503) { append(el, [para(e.message)]); return; }
    throw e;
  }
  append(el, [
    c.verified ? h('div', {class: 'govuk-panel govuk-panel--confirmation', id: 'integrity-ok'},
      h('h2', {class: 'govuk-panel__title'}, 'Integrity check passed'),
      h('div', {class: 'govuk-panel__body'}, `The first ${c.size} records are signed and consistent`))
      : h('div', {class: 'govuk-error-summary', id: 'integrity-failed', tabindex: '-1'},
        h('h2', {class: 'govuk-error-summary__title'}, 'Integrity check FAILED'),
        h('div', {class: 'govuk-error-summary__body'}, para('Report this to the hub\'s administrator and to the agencies\' witnesses now.'))),
    summaryList([['Origin', c.origin], ['Records covered by the checkpoint', String(c.size)],
      ['Records in the log now', `${c.records}${c.records > c.size ? ' (the newest are covered by the next checkpoint)' : ''}`],
      ['Signature (hub key)', c.signature_valid ? tag('Valid', 'green') : tag('Invalid', 'red')],
      ['Root recomputed from the stored tree', c.root_matches ? tag('Matches', 'green') : tag('Does not match', 'red')]]),
    h('details', {class: 'govuk-details'}, h('summary', {class: 'govuk-details__summary'},
      h('span', {class: 'govuk-details__summary-text'}, 'The signed checkpoint')),
      h('pre', {class: 'govuk-details__text app-mono'}, c.checkpoint))]);
}

export async function statistics() {
  const el = page('Statistics and flags');
  const summary = h('div');
  const out = h('div', {id: 'results'});
  const today = new Date().toISOString().slice(0, 10);
  const monthAgo = new Date(Date.now() - 30 * 86400000).toISOString().slice(0, 10);
  const form = h('form', {novalidate: true, id: 'stats-form'},
    textInput('from', 'From', {width: 10, value: monthAgo, hint: 'UTC date'}),
    textInput('to', 'To', {width: 10, value: today}),
    button('Show', {id: 'show-stats'}));
  append(el, [summary, heading('Access statistics and flags'), form, out]);
  const run = async () => {
    const q = new URLSearchParams({from: document.getElementById('f-from').value.trim(), to: document.getElementById('f-to').value.trim()});
    clear(out);
    try {
      const [s, f] = await Promise.all([api('GET', '/api/v1/audit/statistics?' + q), api('GET', '/api/v1/audit/flags?' + q)]);
      clearFieldErrors(form); clear(summary);
      const counts = (caption, m, id) => table(caption, ['', 'Events'],
        Object.entries(m || {}).sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, String(n)]), {id});
      append(out, [
        h('h2', {class: 'govuk-heading-m'}, `Flags (${f.flags.length})`),
        f.flags.length ? table('', ['Flag', 'User', 'Case or enquiry', 'Count', 'Threshold', 'Window'], f.flags.map(x =>
          [tag(x.code, 'red'), x.user || '—', x.case || x.enquiry || (x.persons ? 'a person' : '—'), String(x.count ?? '—'),
           String(x.threshold ?? '—'), [x.window_from, x.window_to].filter(Boolean).join(' to ') || x.day || '—']), {id: 'flags'})
          : para('No flags in this period.'),
        h('h2', {class: 'govuk-heading-m'}, `Statistics: ${s.events} events`),
        counts('By event type', s.by_type, 'by-type'), counts('By user', s.by_user, 'by-user'), counts('By agency', s.by_agency, 'by-agency')]);
    } catch (e) { formErrors(form, summary, e); }
  };
  form.addEventListener('submit', ev => { ev.preventDefault(); run(); });
  await run();
}

// Researchers' and managers' pages: the case list, the live status board and consolidated
// picture, the decision and the front-door export (the enquiry form is in enquiry_form.js).
import {api, ApiError} from './api.js';
import {state, page, onLeave, navigate} from './app.js';
import {h, clear, append, heading, para, link, button, tag, table, summaryList, warning, inset, notification,
        textarea, radios, readRadio, markFieldErrors, showErrorSummary, when, timeLeft} from './dom.js';

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
export const agencyName = id => {
  const full = state.agreement?.agencies.find(a => a.id === id)?.name;
  return full ? full.split(/[:(]/)[0].trim() || full : id;
};
export const fieldName = id => {
  for (const a of state.agreement?.agencies || []) {
    const f = a.fields.find(f => f.id === id);
    if (f) return f.description || id;
  }
  return id;
};

export async function loadAgreement() {
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
  // 50 a page, newest first; "Older cases" goes on from the last one shown.
  const after = new URLSearchParams(location.search).get('after') || '';
  const data = await api('GET', '/api/v1/enquiries?limit=50' + (after ? '&cursor=' + encodeURIComponent(after) : ''));
  const rows = data.enquiries.filter(r => !r.damaged);
  const damaged = data.enquiries.filter(r => r.damaged);
  append(el, [heading(state.user.role === 'manager' ? `Cases of team ${state.user.team}` : 'My cases'),
    para(link('/enquiries/new', 'Make a new enquiry'))]);
  if (damaged.length) {
    append(el, [h('div', {class: 'govuk-warning-text'}, h('strong', {class: 'govuk-warning-text__text'},
      `${damaged.length} case record${damaged.length > 1 ? 's' : ''} on this page could not be read and ${damaged.length > 1 ? 'are' : 'is'} not shown. Tell the hub's administrator.`))]);
  }
  const pager = h('nav', {class: 'govuk-pagination', 'aria-label': 'Pages of cases'},
    after ? h('div', {class: 'govuk-pagination__prev'}, link('/cases', 'Newest cases')) : null,
    data.next_cursor ? h('div', {class: 'govuk-pagination__next', 'data-next': 'true'},
      link('/cases?after=' + encodeURIComponent(data.next_cursor), 'Older cases')) : null);
  if (!rows.length) { append(el, [para(after ? 'There are no older cases.' : 'There are no cases yet.'), pager]); return; }
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
  el.append(pager);
  watch('/api/v1/events', ev => {
    const r = rows.find(x => x.id === ev.enquiry);
    if (!r) return;  // a new case of the team: shown on the next visit
    r.agencies[ev.agency] = ev.status;
    draw();
  }, banner);
  const tick = setInterval(draw, 30000);
  onLeave(() => clearInterval(tick));
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
      s.unreadable ? h('strong', {class: 'app-problem', 'data-unreadable': a}, s.problem)
        : s.status === 'answered' || s.status === 'declined' ? (s.decline_reason ? 'Reason: ' + s.decline_reason : '—')
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
  // After a "possible" answer the researcher can add details (an address, identifiers) and ask
  // the same agency again: a follow-up, linked to this enquiry.
  const possible = Object.values(v.subjects || {}).some(s => Object.values(s.agencies || {}).some(a => a.outcome === 'possible'));
  if (state.user.role === 'researcher' && possible) {
    append(el, [h('div', {class: 'govuk-inset-text', id: 'follow-up'},
      para('An agency found more than one record that could be this person and cannot say which. Add what you know ' +
           '(an address, an identifier) and ask again.'),
      para(link(`/enquiries/new?follows=${encodeURIComponent(v.id)}`, 'Add details and ask again')))]);
  }
  const links = [];
  if (v.follows) links.push(['Follows', link(`/enquiries/${encodeURIComponent(v.follows)}`, `enquiry ${v.follows}`)]);
  if (v.follow_ups?.length) {
    links.push(['Follow-ups', h('ul', {class: 'govuk-list'}, v.follow_ups.map(f =>
      h('li', {}, link(`/enquiries/${encodeURIComponent(f)}`, `enquiry ${f}`))))]);
  }
  if (links.length) append(el, [h('div', {id: 'enquiry-links'}, summaryList(links))]);
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

// The web interface in a real browser (Debian's chromium, driven by playwright-core), against a
// real hub started by web-test.sh. Each step says what a user does and checks what they see.
import {chromium} from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const base = process.env.MASH_BASE_URL;
const logins = Object.fromEntries(fs.readFileSync(process.env.MASH_LOGINS, 'utf8').trim().split('\n').map(l => l.split(' ')));
const [cFore, cSur, cDob, aFore, aSur, aDob] = process.env.MASH_HOUSEHOLD.split(',');
const shots = process.env.MASH_SCREENSHOTS || '';
const caseRef = 'MASH-WEB-' + Date.now().toString(36).toUpperCase();

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${process.env.MASH_SPKI}`],
});

let step = '';
const t0 = Date.now();
function say(s) { step = s; console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${s}`); }

async function shot(page, name) {
  if (!shots) return;
  await page.screenshot({path: path.join(shots, name + '.png'), fullPage: true});
}

// A fresh browser context (no cookies) per person, so sessions never mix.
async function signIn(user, {keyboard = false} = {}) {
  const context = await browser.newContext({baseURL: base, viewport: {width: 1100, height: 900}});
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(String(e)));
  page.on('console', m => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });
  page.errors = errors;
  await page.goto('/');
  await page.waitForURL(/\/sign-in/);
  await page.locator('#f-user').fill(user);
  await page.locator('#f-password').fill(logins[user]);
  if (keyboard) await page.locator('#f-password').press('Enter');
  else await page.locator('#sign-in').click();
  await page.locator('#sign-out').waitFor();
  return {context, page};
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ');
}

// What the API holds, asked from inside the signed-in page (its own cookie).
async function apiFromPage(page, method, url, body, headers = {}) {
  return page.evaluate(async ([method, url, body, headers]) => {
    const r = await fetch(url, {method, headers: {'Content-Type': 'application/json', ...headers}, body: body ? JSON.stringify(body) : undefined});
    return {status: r.status, body: await r.json().catch(() => null)};
  }, [method, url, body, headers]);
}

async function fillDate(page, key, iso) {
  const [y, m, d] = iso.split('-');
  const id = 'f-' + key.replace(/[\[\].]+/g, '-');
  await page.locator('#' + id).fill(d);
  await page.locator('#' + id + '-month').fill(m);
  await page.locator('#' + id + '-year').fill(y);
}

try {
  // ---- security headers of the page itself ----
  say('the page is served with a strict CSP and no caching');
  {
    const context = await browser.newContext({baseURL: base});
    const page = await context.newPage();
    page.on('pageerror', e => console.log('page error: ' + e));
    page.on('response', r => { if (r.status() >= 400) console.log(`(${r.status()} for ${r.url()})`); });
    const res = await page.goto('/sign-in');
    const hd = res.headers();
    assert.match(hd['content-security-policy'], /script-src 'self'(;|$)/);
    assert.doesNotMatch(hd['content-security-policy'], /unsafe-inline/);
    assert.equal(hd['cache-control'], 'no-store');
    assert.match(hd['strict-transport-security'] || '', /max-age=/);
    // (Fetched by the browser: Node's own TLS would not trust the hub.)
    const get = url => page.evaluate(async url => {
      const r = await fetch(url);
      return {status: r.status, text: await r.text(), cache: r.headers.get('cache-control')};
    }, url);
    const css = await get('/assets/govuk-frontend.min.css');
    assert.equal(css.status, 200);
    assert.doesNotMatch(css.text, /GDS Transport/, 'the GOV.UK typeface is only for GOV.UK itself');
    assert.equal(css.cache, 'no-cache');  // kept, and revalidated (ETag) on each use
    // Only files loaded at start-up are served: a path out of the folder gets the page or a 404.
    for (const bad of ['/assets/%2e%2e/%2e%2e/etc/passwd', '/assets/..%2f..%2fetc%2fpasswd', '/index.html%00.js']) {
      const r = await get(bad);
      assert.ok(r.status === 404 || r.text.includes('id="main-content"'), bad);
      assert.doesNotMatch(r.text, /root:/, bad);
    }
    // A wrong password: the error summary, and no session.
    await page.locator('#f-user').fill('demo.researcher');
    await page.locator('#f-password').fill('not-the-password');
    await page.locator('#sign-in').click();
    await page.locator('.govuk-error-summary').waitFor();
    assert.equal((await context.cookies()).length, 0);
    await context.close();
  }

  // ---- idle sign-out: a manager signs in and then does nothing (checked at the end) ----
  say('a manager signs in and leaves the page alone');
  const idle = await signIn('demo.manager');
  await idle.page.getByRole('heading', {name: /Cases of team/}).waitFor();
  const idleSince = Date.now();

  // ---- a researcher makes an enquiry ----
  say('a researcher signs in (keyboard only) and sees their (empty) case list');
  const r = await signIn('demo.researcher', {keyboard: true});
  await r.page.waitForURL(/\/cases$/);
  await r.page.getByRole('heading', {name: 'My cases'}).waitFor();
  await r.page.getByText('There are no cases yet').waitFor();
  const cookie = (await r.context.cookies()).find(c => c.name === 'mash_session');
  assert.ok(cookie && cookie.httpOnly && cookie.secure && cookie.sameSite === 'Strict', 'session cookie HttpOnly, Secure, SameSite=Strict');
  say('a state change without the CSRF token is refused');
  const noCsrf = await apiFromPage(r.page, 'POST', '/api/v1/enquiries', {case_ref: 'X'});
  assert.equal(noCsrf.status, 403);
  assert.equal(noCsrf.body.error.code, 'csrf');

  say('a form with bad input shows the error summary and stores nothing');
  await r.page.getByRole('link', {name: 'New enquiry'}).first().click();
  await r.page.locator('#enquiry-form').waitFor();
  await r.page.locator('#f-case_ref').fill('bad ref!');
  await r.page.locator('#f-local_authority').fill('hammersmith-fulham');
  await r.page.locator('#f-brag').check();
  await r.page.locator('#f-concerns').fill('Test concerns.');
  await r.page.locator('#f-purpose').selectOption('mash-risk-assessment');
  await r.page.locator('#f-legal_basis').selectOption('ca1989-s47');
  await r.page.locator('#f-consent').selectOption('not-sought-risk');
  await r.page.locator('#f-subjects-0-forenames').fill(cFore);
  await fillDate(r.page, 'subjects[0].date_of_birth', '2015-02-31');
  await r.page.locator('#f-agency-police').check();
  await r.page.locator('#f-agency-police-justification').fill('short');
  await r.page.locator('#send-button').click();
  await r.page.locator('.govuk-error-summary').waitFor();
  const summary = await text(r.page, '.govuk-error-summary');
  for (const want of [/Case reference may hold only/, /Person 1: date of birth must be a date/, /Police.*: justification/, /Reason consent was not sought is required/]) {
    assert.match(summary, want, `error summary: ${summary}`);
  }
  assert.ok(await r.page.locator('.govuk-form-group--error #f-case_ref').count() === 1, 'the case reference is marked in error');
  // The summary's links take the keyboard to the field.
  await r.page.locator('.govuk-error-summary a[href="#f-case_ref"]').click();
  assert.equal(await r.page.evaluate(() => document.activeElement.id), 'f-case_ref');
  await shot(r.page, 'enquiry-errors');
  const none = await apiFromPage(r.page, 'GET', '/api/v1/enquiries');
  assert.equal(none.body.enquiries.length, 0, 'nothing stored');

  say('the researcher corrects the form and previews what each agency will be asked');
  await r.page.locator('#f-case_ref').fill(caseRef);
  await r.page.locator('#f-consent_reason').fill('Seeking consent could alert the adult and increase the risk.');
  await r.page.locator('#f-subjects-0-surname').fill(cSur);
  await fillDate(r.page, 'subjects[0].date_of_birth', cDob);
  await r.page.locator('#add-subject').click();
  await r.page.locator('#f-subjects-1-role').selectOption('other-adult');
  await r.page.locator('#f-subjects-1-forenames').fill(aFore);
  await r.page.locator('#f-subjects-1-surname').fill(aSur);
  await fillDate(r.page, 'subjects[1].date_of_birth', aDob);
  await r.page.locator('#add-subject').click();
  await r.page.locator('#f-subjects-2-role').selectOption('other-adult');
  await r.page.locator('#f-subjects-2-forenames').fill('Zebedee');
  await r.page.locator('#f-subjects-2-surname').fill('Quillfeather');
  await fillDate(r.page, 'subjects[2].date_of_birth', '1970-01-01');
  await r.page.locator('#f-agency-police-justification').fill('Possible risk from an adult in the household.');
  await r.page.locator('#f-agency-health').check();
  await r.page.locator('#f-agency-health-justification').fill('Injuries and health contacts for the child.');
  await r.page.locator('#f-agency-education').check();
  await r.page.locator('#f-agency-education-justification').fill('Attendance and concerns raised at school.');
  await r.page.locator('#preview-button').click();
  await r.page.locator('#preview-result').waitFor();
  const preview = await text(r.page, '#preview-result');
  assert.match(preview, /What each agency will be asked/);
  assert.equal(await r.page.locator('[data-preview-agency]').count(), 3);
  await shot(r.page, 'enquiry-preview');
  // Under section 17 the police intelligence summary is not permitted (only for section 47).
  await r.page.locator('#f-legal_basis').selectOption('ca1989-s17');
  await r.page.locator('#preview-button').click();
  await r.page.locator('[data-preview-agency="police"] [data-not-permitted="police.intelligence-summary"]').waitFor();
  assert.match(await text(r.page, '[data-not-permitted="police.intelligence-summary"]'), /clause|s47|section 47|not/i);
  await r.page.locator('#f-legal_basis').selectOption('ca1989-s47');
  assert.equal((await apiFromPage(r.page, 'GET', '/api/v1/enquiries')).body.enquiries.length, 0, 'the preview stored nothing');

  say('the researcher sends it and watches the answers arrive without reloading');
  await r.page.locator('#send-button').click();
  await r.page.waitForURL(/\/enquiries\/[A-Za-z0-9_-]+\?sent=1$/);
  const enquiryId = new URL(r.page.url()).pathname.split('/').pop();
  await r.page.locator('#status-board').waitFor();
  // No reload from here on: the board is updated by the server-sent events.
  await r.page.evaluate(() => { window.__notReloaded = true; });
  await r.page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-agency-row] [data-status]')];
    return rows.length === 3 && rows.every(s => ['answered', 'declined'].includes(s.dataset.status));
  }, null, {timeout: 60000});
  assert.equal(await r.page.evaluate(() => window.__notReloaded), true);
  await r.page.locator('[data-restricted]').first().waitFor({timeout: 15000});
  const pic = await text(r.page, '#picture');
  assert.match(pic, /This agency holds restricted information\. Contact /);
  assert.match(pic, /Known to this agency/);
  assert.match(pic, /Not known to this agency/, 'the unknown person is shown as not known');
  await shot(r.page, 'enquiry-picture');
  assert.deepEqual(r.page.errors, [], 'no script errors');

  say('the case list shows the case with its statuses');
  await r.page.getByRole('link', {name: 'My cases'}).click();
  await r.page.locator('#case-list').waitFor();
  assert.match(await text(r.page, '#case-list'), new RegExp(caseRef));
  await shot(r.page, 'case-list');

  say('the researcher follows the enquiry up: the form comes filled in, they add an address and ask the police again');
  const first = (await apiFromPage(r.page, 'GET', '/api/v1/enquiries/' + enquiryId)).body;
  const anyPossible = Object.values(first.subjects).some(s => Object.values(s.agencies).some(a => a.outcome === 'possible'));
  await r.page.goto('/enquiries/' + enquiryId);
  await r.page.locator('#picture').waitFor();
  assert.equal(await r.page.locator('#follow-up').count(), anyPossible ? 1 : 0, 'the follow-up link is offered after a possible answer only');
  await r.page.goto('/enquiries/new?follows=' + enquiryId);
  await r.page.getByRole('heading', {name: 'Follow-up enquiry'}).waitFor();
  assert.equal(await r.page.locator('#f-case_ref').inputValue(), caseRef);
  assert.equal(await r.page.locator('#f-subjects-0-surname').inputValue(), cSur);
  assert.equal(await r.page.locator('[data-subject]').count(), 3, 'the people of the earlier enquiry');
  assert.equal(await r.page.locator('input[name=agencies]').count(), 3, 'only the agencies asked before');
  await r.page.locator('#f-subjects-0-address').fill('Flat 2, 14 Acacia Road, Hammersmith');
  await r.page.locator('#f-subjects-0-uprn').fill('100023336956');
  await r.page.locator('#send-button').click();
  await r.page.locator('.govuk-error-summary').waitFor();  // no agency chosen: nothing sent
  if (!(await r.page.locator('#f-agency-police').isChecked())) await r.page.locator('#f-agency-police').check();
  await r.page.locator('#f-agency-police-justification').fill('Police found two possible records: the address should settle it.');
  await r.page.locator('#send-button').click();
  await r.page.waitForURL(/\/enquiries\/[A-Za-z0-9_-]+\?sent=1$/);
  const followId = new URL(r.page.url()).pathname.split('/').pop();
  assert.notEqual(followId, enquiryId);
  const follow = (await apiFromPage(r.page, 'GET', '/api/v1/enquiries/' + followId)).body;
  assert.equal(follow.follows, enquiryId);
  assert.equal(follow.request.subjects[0].address, 'Flat 2, 14 Acacia Road, Hammersmith');
  assert.equal(follow.request.subjects[0].uprn, '100023336956');
  assert.deepEqual(Object.keys(follow.agencies), ['police']);
  await r.page.locator('#status-board').waitFor();
  await r.page.locator('#enquiry-links').waitFor();
  assert.match(await text(r.page, '#enquiry-links'), new RegExp(`Follows\\s*enquiry ${enquiryId}`));
  await r.page.goto('/enquiries/' + enquiryId);
  await r.page.locator('#enquiry-links').waitFor();
  assert.match(await text(r.page, '#enquiry-links'), new RegExp(`Follow-ups\\s*enquiry ${followId}`));
  assert.deepEqual(r.page.errors, [], 'no script errors');

  say('another researcher cannot open the case by its URL');
  const o = await signIn('demo.other');
  await o.page.goto('/enquiries/' + enquiryId);
  await o.page.getByRole('heading', {name: 'Enquiry not found'}).waitFor();
  assert.doesNotMatch(await text(o.page, 'main'), new RegExp(cSur));
  await o.page.goto('/cases');
  await o.page.getByText('There are no cases yet').waitFor();
  say('nor can they reach a DPO page');
  await o.page.goto('/audit');
  await o.page.getByRole('heading', {name: 'This page is not available to you'}).waitFor();
  await o.context.close();

  say('the researcher signs out');
  await r.page.locator('#sign-out').click();
  await r.page.waitForURL(/\/sign-in\?reason=signed-out/);
  assert.equal((await apiFromPage(r.page, 'GET', '/api/v1/me')).status, 401);
  await r.context.close();

  // ---- the manager records the decision ----
  say('the manager sees the team\'s case, records a decision and prints the front-door information');
  const m = await signIn('demo.manager');
  await m.page.waitForURL(/\/cases$/);
  await m.page.locator(`a[href="/enquiries/${enquiryId}"]`).click();  // the first enquiry, not its follow-up
  await m.page.locator('#decision-form').waitFor();
  await m.page.locator('#decide').click();
  await m.page.locator('.govuk-error-summary').waitFor();
  await m.page.locator('#f-decision-3').check();  // s17-assessment
  await m.page.locator('#f-rationale').fill('Agency information shows a need for assessment.');
  await m.page.locator('#decide').click();
  await m.page.getByRole('link', {name: /Information for the front door/}).click();
  await m.page.getByRole('heading', {name: new RegExp(`${caseRef}: information for the front door`)}).waitFor();
  const exported = await text(m.page, 'main');
  assert.match(exported, /Section 17 assessment/);
  assert.doesNotMatch(exported, /restricted information\. Contact/i, 'no restricted content in the export');
  await shot(m.page, 'front-door-export');
  await m.context.close();

  // ---- the DPO finds the access ----
  say('the DPO finds the access by searching the child\'s details');
  const d = await signIn('demo.dpo');
  await d.page.waitForURL(/\/audit$/);
  await d.page.getByRole('link', {name: 'Person search'}).click();
  await d.page.locator('#f-person-forenames').fill(cFore);
  await d.page.locator('#f-person-surname').fill(cSur);
  await fillDate(d.page, 'person.date_of_birth', cDob);
  await d.page.locator('#find-person').click();
  await d.page.locator('#audit-events').waitFor();
  const found = await text(d.page, '#audit-events');
  assert.match(found, /enquiry\.created/);
  assert.match(found, new RegExp(enquiryId));
  assert.match(found, /demo\.researcher/);
  await shot(d.page, 'dpo-person-search');
  say('the DPO makes the subject access report');
  await d.page.locator('#sar').click();
  await d.page.locator('#sar-accesses').waitFor();
  assert.match(await text(d.page, '#sar-accesses'), /police/);
  say('the DPO opens the case timeline and sees the views');
  await d.page.locator('#sar-accesses').getByRole('link', {name: caseRef}).first().click();
  await d.page.locator('#audit-events').waitFor();
  const tl = await text(d.page, '#audit-events');
  assert.match(tl, /results\.viewed/);
  assert.match(tl, /decision\.recorded/);
  say('the DPO sees the integrity check pass');
  await d.page.getByRole('link', {name: 'Integrity check'}).click();
  await d.page.locator('#integrity-ok').waitFor();
  assert.match(await text(d.page, '#integrity-ok'), /Integrity check passed/);
  await shot(d.page, 'dpo-integrity');
  say('the DPO sees statistics; case content stays out of reach');
  await d.page.getByRole('link', {name: 'Statistics and flags'}).click();
  await d.page.locator('#by-type').waitFor();
  assert.equal((await apiFromPage(d.page, 'GET', '/api/v1/enquiries/' + enquiryId)).status, 403);
  await d.page.goto('/enquiries/' + enquiryId);
  await d.page.getByRole('heading', {name: 'This page is not available to you'}).waitFor();
  assert.deepEqual(d.page.errors, [], 'no script errors');
  await d.context.close();

  // ---- the admin ----
  say('the admin sees users, agencies (connected, certificate expiry) and the agreement');
  const a = await signIn('demo.admin');
  await a.page.waitForURL(/\/admin\/users$/);
  await a.page.locator('[data-user="demo.other"]').waitFor();
  await a.page.locator('[data-user="demo.other"] [data-change="disable"]').click();
  await a.page.locator('[data-user="demo.other"] [data-change="enable"]').waitFor();
  await a.page.locator('#role-demo\\.other').selectOption('manager');
  await a.page.locator('[data-role-change="demo.other"]').click();
  await a.page.getByText('demo.other is now a manager').waitFor();
  const users = (await apiFromPage(a.page, 'GET', '/api/v1/users')).body.users;
  assert.equal(users.find(u => u.id === 'demo.other').role, 'manager');
  await shot(a.page, 'admin-users');
  await a.page.getByRole('link', {name: 'Agencies'}).click();
  await a.page.locator('#agencies').waitFor();
  for (const id of ['police', 'health', 'education', 'probation', 'housing']) {
    const row = await text(a.page, `[data-agency="${id}"]`);
    assert.match(row, /Connected .*\d+ days left/, row);
    assert.doesNotMatch(row, /Not connected/, row);
  }
  assert.match(await text(a.page, '[data-agency="yot"]'), /Not connected/, 'an agency of the agreement without an agent');
  await shot(a.page, 'admin-agencies');
  await a.page.getByRole('link', {name: 'Agreement'}).click();
  await a.page.getByText('Version').first().waitFor();
  assert.equal((await apiFromPage(a.page, 'GET', '/api/v1/enquiries')).status, 403, 'an admin never sees case content');
  await a.context.close();

  say('the idle manager has been signed out, by the page and by the hub');
  await idle.page.waitForURL(/\/sign-in\?reason=idle/, {timeout: Math.max(1000, idleSince + 45000 - Date.now())});
  await idle.page.getByText('You were signed out', {exact: true}).waitFor();
  assert.equal((await apiFromPage(idle.page, 'GET', '/api/v1/me')).status, 401);
  await idle.context.close();
  console.log(`web_test: all steps passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(`web_test: FAILED at "${step}":\n${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

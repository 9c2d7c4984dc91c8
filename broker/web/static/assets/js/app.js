// MASH Exchange web interface: one page, routes drawn from the JSON API.
import {initAll} from '/assets/govuk-frontend.min.js';
import {api, setCsrf, whenSignedOut, ApiError} from './api.js';
import {h, clear, append, heading, para, button, textInput, errorSummary, notification, markFieldErrors, showErrorSummary} from './dom.js';
import * as cases from './cases.js';
import * as enquiryForm from './enquiry_form.js';
import * as audit from './audit.js';
import * as admin from './admin.js';

document.body.classList.add('js-enabled', 'govuk-frontend-supported');

export const state = {user: null, agreement: null};
const main = document.getElementById('main-content');
let cleanups = [];

// Pages may hold open streams and timers; they are closed when the page changes.
export function onLeave(fn) { cleanups.push(fn); }

const homes = {researcher: '/cases', manager: '/cases', dpo: '/audit', admin: '/admin/users'};
const menus = {
  researcher: [['/cases', 'My cases'], ['/enquiries/new', 'New enquiry']],
  manager: [['/cases', 'Team cases'], ['/enquiries/new', 'New enquiry']],
  dpo: [['/audit', 'Audit search'], ['/audit/person', 'Person search'], ['/audit/checkpoint', 'Integrity check'],
        ['/audit/statistics', 'Statistics and flags']],
  admin: [['/admin/users', 'Users'], ['/admin/agencies', 'Agencies'], ['/admin/agreement', 'Agreement']],
};

const routes = [
  [/^\/sign-in$/, signIn, null],
  [/^\/$/, () => navigate(homes[state.user.role] || '/sign-in', true), 'any'],
  [/^\/cases$/, cases.list, ['researcher', 'manager']],
  [/^\/enquiries\/new$/, enquiryForm.create, ['researcher', 'manager']],
  [/^\/enquiries\/([A-Za-z0-9_-]{1,64})$/, cases.view, ['researcher', 'manager']],
  [/^\/enquiries\/([A-Za-z0-9_-]{1,64})\/export$/, cases.exportPage, ['manager']],
  [/^\/audit$/, audit.search, ['dpo']],
  [/^\/audit\/person$/, audit.person, ['dpo']],
  [/^\/audit\/cases\/([A-Za-z0-9._\/-]{1,64})$/, audit.timeline, ['dpo']],
  [/^\/audit\/checkpoint$/, audit.checkpoint, ['dpo']],
  [/^\/audit\/statistics$/, audit.statistics, ['dpo']],
  [/^\/admin\/users$/, admin.users, ['admin']],
  [/^\/admin\/agencies$/, admin.agencies, ['admin']],
  [/^\/admin\/agreement$/, admin.agreement, ['admin']],
];

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

// The page area, emptied, with a title for the tab.
// Each page draws into its own container: a page still loading when the user moves on draws
// into a container that is no longer shown.
export function page(title) {
  document.title = title + ' – MASH Exchange';
  clear(main);
  const el = h('div');
  main.append(el);
  return el;
}

export function showError(el, e) {
  const msg = e instanceof ApiError ? e.message : String(e);
  append(el, [errorSummary('There is a problem', [{message: msg}])]);
}

function drawNav() {
  const nav = clear(document.getElementById('app-nav'));
  const who = clear(document.getElementById('app-user'));
  if (!state.user) return;
  who.append(`${state.user.name} (${state.user.role})`);
  const here = location.pathname;
  for (const [href, text] of menus[state.user.role] || []) {
    const active = here === href || (href !== '/' && here.startsWith(href + '/') && href !== '/audit');
    nav.append(h('li', {class: 'govuk-service-navigation__item' + (active ? ' govuk-service-navigation__item--active' : '')},
      h('a', {class: 'govuk-service-navigation__link', href, 'aria-current': active ? 'page' : null}, text)));
  }
  nav.append(h('li', {class: 'govuk-service-navigation__item'},
    h('button', {class: 'app-nav-button govuk-service-navigation__link', type: 'button', id: 'sign-out', onclick: () => signOut()}, 'Sign out')));
}

let generation = 0;
async function render() {
  const mine = ++generation;
  for (const fn of cleanups.splice(0)) { try { fn(); } catch (e) { /* already closed */ } }
  const path = location.pathname.replace(/\/+$/, '') || '/';
  if (!state.user && path !== '/sign-in') {
    try {
      const me = await api('GET', '/api/v1/me');
      setUser(me);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) { drawNav(); showError(page('Problem'), e); return; }
      return navigate('/sign-in?next=' + encodeURIComponent(location.pathname), true);
    }
  }
  drawNav();
  for (const [re, fn, roles] of routes) {
    const m = path.match(re);
    if (!m) continue;
    if (roles && roles !== 'any' && !roles.includes(state.user.role)) {
      const el = page('Not available');
      append(el, [heading('This page is not available to you'),
        para(`Your role (${state.user.role}) does not give access to this page.`)]);
      return;
    }
    try {
      await fn(...m.slice(1).map(decodeURIComponent));
    } catch (e) {
      if (mine === generation) showError(main.firstElementChild || main, e);
    }
    if (mine !== generation) return;
    try { initAll({scope: main}); } catch (e) { /* components are an enhancement */ }
    // Screen readers and keyboards start at the new page's heading.
    const h1 = main.querySelector('h1');
    if (h1 && !main.contains(document.activeElement)) { h1.setAttribute('tabindex', '-1'); h1.focus({preventScroll: true}); }
    return;
  }
  const el = page('Page not found');
  append(el, [heading('Page not found'), para('If you typed the web address, check it is correct.')]);
}

function setUser(me) {
  state.user = me;
  setCsrf(me.csrf);
  idle.start(me.idle_timeout_s || 1800);
}

// ---- sign in and out ----

async function signIn() {
  const params = new URLSearchParams(location.search);
  const el = page('Sign in');
  const summary = h('div');
  const form = h('form', {novalidate: true, id: 'sign-in-form'},
    textInput('user', 'User name', {autocomplete: 'username', width: 20}),
    textInput('password', 'Password', {type: 'password', autocomplete: 'current-password', width: 20}),
    button('Sign in', {id: 'sign-in'}));
  const reason = params.get('reason');
  append(el, [
    reason === 'idle' ? notification('You were signed out', 'You were signed out because you had not used the service for a while.') : null,
    reason === 'signed-out' ? notification('You have signed out', null, true) : null,
    reason === 'expired' ? notification('Your session has ended', 'Sign in again to carry on.') : null,
    summary, heading('Sign in to MASH Exchange'), form]);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const user = form.querySelector('#f-user').value.trim();
    const password = form.querySelector('#f-password').value;
    const fields = {};
    if (!user) fields.user = 'Enter your user name';
    if (!password) fields.password = 'Enter your password';
    if (Object.keys(fields).length) {
      showErrorSummary(summary, 'There is a problem', markFieldErrors(form, fields, () => ''));
      return;
    }
    try {
      await api('POST', '/api/v1/session', {user, password});
      const me = await api('GET', '/api/v1/me');
      setUser(me);
      // Only a page of this hub: anything else (another origin, "/\\host") goes to the home page.
      let next = null;
      try {
        const u = new URL(params.get('next') || '', location.origin);
        if (params.get('next') && u.origin === location.origin && u.pathname !== '/sign-in') next = u.pathname;
      } catch (e) { next = null; }
      navigate(next || homes[me.role] || '/', true);
    } catch (e) {
      form.querySelector('#f-password').value = '';
      showErrorSummary(summary, 'There is a problem', [{message: e.message}]);
    }
  });
  form.querySelector('#f-user').focus();
}

async function signOut(reason = 'signed-out') {
  idle.stop();
  try { await api('DELETE', '/api/v1/session'); } catch (e) { /* the session may have ended already */ }
  state.user = null;
  setCsrf('');
  navigate('/sign-in?reason=' + reason, true);
}

whenSignedOut(() => {
  if (!state.user) return;
  idle.stop();
  state.user = null;
  navigate('/sign-in?reason=expired&next=' + encodeURIComponent(location.pathname), true);
});

// Signs out after the hub's idle time without a key press or click (the hub ends the session
// on its side at the same time, whatever this page does).
const idle = {
  timer: null, last: Date.now(), limitMs: 0, listening: false,
  start(seconds) {
    this.limitMs = seconds * 1000;
    this.last = Date.now();
    if (!this.listening) {
      for (const ev of ['keydown', 'click', 'pointerdown']) document.addEventListener(ev, () => { this.last = Date.now(); }, {passive: true});
      this.listening = true;
    }
    if (this.timer) return;
    // While the user is typing or clicking (say, a long enquiry form), the hub is told once a
    // minute (or a third of the idle time), so their session does not end under them; when they stop, it ends after the idle time.
    this.pinged = Date.now();
    this.timer = setInterval(() => {
      if (!state.user) return;
      const now = Date.now();
      if (now - this.last > this.limitMs) { signOut('idle'); return; }
      if (this.last > this.pinged && now - this.pinged > Math.min(60000, this.limitMs / 3)) {
        this.pinged = now;
        api('GET', '/api/v1/me').catch(() => { /* a 401 signs out by itself */ });
      }
    }, 5000);
  },
  stop() { clearInterval(this.timer); this.timer = null; },
};

// Links within the service change the page without reloading it.
document.addEventListener('click', ev => {
  const a = ev.target.closest('a[href]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.hash && url.pathname === location.pathname) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', render);

document.getElementById('app-loading')?.remove();
render();

// The page's start: whether a token is needed (GET /), signing in and out,
// the person looked up (kept in the address: #/person/42?days=14), and
// where errors are said.

import { ApiError, allPages, api, token, whenUnauthorized } from './api.js';
import { CaseForm } from './cases.js';
import { drawByDay, drawByState } from './chart.js';
import { ContactsTable } from './contacts.js';
import { $, plural, timed } from './dom.js';
import { drawGraph, graphSummary, legend } from './graph.js';
import { drawMap } from './map.js';

const MAX_EXPOSED = 5000;

let needsToken = true;
let shown = 0; // the latest lookup: answers to earlier ones are dropped

function say(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function fail(error) {
  if (error instanceof ApiError && error.status === 401) return; // the sign-in form says it
  if (error instanceof ApiError) {
    say(`${error.problem?.title ?? 'Error'} (${error.status}): ${error.message}`, true);
  } else if (error instanceof TypeError && /fetch/i.test(error.message)) {
    say(`pact-query could not be reached (${error.message}); try again.`, true);
  } else {
    console.error(error);
    say(`Something went wrong on this page: ${error.message}`, true);
  }
}

/**
 * A person id as typed or in the address, or null: a whole number from 1
 * to 2^53 - 1 (larger ones lose digits as JavaScript numbers, and in
 * JSON.parse).
 */
function personId(text) {
  return /^[1-9]\d{0,18}$/.test(text) && BigInt(text) <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(text)
    : null;
}

function signedIn(yes) {
  $('sign-in').hidden = yes;
  $('search').hidden = !yes;
  $('overview').hidden = !yes;
  $('sign-out').hidden = !yes || !needsToken;
  if (!yes) $('person').hidden = true;
}

function askForToken(why) {
  token.clear();
  signedIn(false);
  $('sign-in-why').textContent = why ?? '';
  $('token').value = '';
  $('token').focus();
}

whenUnauthorized((error) => {
  say('');
  askForToken(`Not signed in (401): ${error.message}`);
});

async function showOverview() {
  const stats = await api('/stats');
  $('overview-total').textContent = `${plural(stats.total, 'contact', 'contacts')} stored.`;
  drawByDay($('by-day'), stats.by_day);
  drawByState($('by-state'), stats.by_state);
}

/** The lookup in the address, or null. */
function fromAddress() {
  const match = /^#\/person\/([^?]*)(?:\?(.*))?$/.exec(location.hash);
  const mmid = match && personId(match[1]);
  if (!mmid) return null;
  const params = new URLSearchParams(match[2] ?? '');
  return {
    mmid,
    since: params.get('since') ?? '',
    until: params.get('until') ?? '',
    days: Number(params.get('days') ?? 14),
    depth: Number(params.get('depth') ?? 2),
  };
}

function nextDay(date) {
  const day = new Date(`${date}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

async function showPerson(lookup, contacts, cases) {
  const mine = ++shown;
  const { mmid, since, until, days, depth } = lookup;
  $('mmid').value = mmid;
  $('since').value = since;
  $('until').value = until;
  $('days').value = days;
  $('depth').value = depth;
  $('person').hidden = false;
  $('person-title').textContent = `Person ${mmid}`;
  document.title = `Person ${mmid} · PACT`;
  cases.reset(mmid);
  say(`Looking up person ${mmid}…`);
  const range = {
    mmid,
    since: since ? `${since}T00:00:00Z` : '',
    until: until ? `${nextDay(until)}T00:00:00Z` : '',
  };
  $('graph-summary').textContent = 'Loading…';
  $('graph').replaceChildren();
  await Promise.all([
    contacts.show(range),
    allPages(`/exposures/${mmid}`, { days, depth }, MAX_EXPOSED).then(({ items, complete }) => {
      if (mine !== shown) return;
      const counts = timed('graph', () => drawGraph($('graph'), mmid, items));
      $('graph-summary').textContent = graphSummary(counts, days, complete);
      $('graph').append(legend());
    }),
  ]);
  if (mine === shown) say(`Person ${mmid}: ${$('page-info').textContent}`);
}

function start() {
  const contacts = new ContactsTable((rows) => timed('map', () => drawMap($('map'), rows)), fail);
  const cases = new CaseForm(fail);
  const route = () => {
    const lookup = fromAddress();
    if (lookup && !$('search').hidden) showPerson(lookup, contacts, cases).catch(fail);
  };
  const begin = () => {
    signedIn(true);
    if (!fromAddress()) $('mmid').focus();
    // Side by side: a slow or failing /stats does not hold up the lookup.
    showOverview().catch(fail);
    route();
  };

  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    if (!value) {
      $('sign-in-why').textContent = 'Enter the access token you were given.';
      $('token').focus();
      return;
    }
    token.set(value);
    $('sign-in-why').textContent = '';
    begin();
  });
  $('sign-out').addEventListener('click', () => {
    askForToken('Signed out.');
    say('');
  });
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const mmid = personId($('mmid').value.trim());
    if (!mmid) {
      say(`Person id: enter a whole number from 1 to ${Number.MAX_SAFE_INTEGER} (larger ids: use the API).`, true);
      $('mmid').focus();
      return;
    }
    const params = new URLSearchParams();
    for (const key of ['since', 'until', 'days', 'depth']) {
      if ($(key).value) params.set(key, $(key).value);
    }
    const next = `#/person/${mmid}?${params}`;
    if (location.hash === next) route();
    else location.hash = next;
    // Into the results, so the next Tab goes through them.
    $('person').hidden = false;
    $('person-title').focus();
  });
  window.addEventListener('hashchange', route);

  api('/').then((index) => {
    needsToken = index?.auth !== 'none';
    if (needsToken && !token.get()) askForToken();
    else begin();
  }).catch(fail);
}

start();

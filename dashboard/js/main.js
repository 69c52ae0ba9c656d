// The dashboard's wiring: the view state (filter in the URL), the feed on
// screen, the live subscription and its catch-up after reconnects, the
// summary, the detail, and the token when the server asks for one.

import { askForToken, connectionInitPayload, loadToken, saveToken } from './auth.js';
import { buildSeries, chartWindow, renderChart } from './chart.js';
import { createDetail } from './detail.js';
import { byId } from './dom.js';
import { Feed, newestFirst } from './feed.js';
import { createFilterForm } from './filter-form.js';
import { BUCKETS, readState, toActivityFilter, writeState } from './filters.js';
import { count } from './format.js';
import { AuthError, createGraphQLClient, isAuthErrorList } from './graphql.js';
import { createLiveClient } from './live.js';
import { COUNT, OPTIONS, PROBES, SUMMARY, activityDocuments } from './queries.js';
import { createTable } from './table.js';
import { renderTopActions } from './top-actions.js';

/** Rows per activityFeed page. */
const PAGE_SIZE = 50;
/**
 * After a reconnect, how many pages to read back looking for the newest row
 * already shown; with more to catch up on, the table starts over instead.
 */
const CATCH_UP_PAGES = 10;
/**
 * graphql-transport-ws does not acknowledge a subscribe, so when the page
 * subscribes without a cursor it reads the newest rows again this long
 * after, in case one was committed before the server had set up the
 * subscription but after the first read.
 */
const SETTLE_MS = 1500;
/** The summary is refetched at most this often while live rows arrive. */
const SUMMARY_EVERY_MS = 5000;

const endpoint = new URL('graphql', document.baseURI);
const socketUrl = new URL(endpoint);
socketUrl.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

let token = loadToken();
const api = createGraphQLClient({ endpoint: endpoint.href, token: () => token });

// ---- state ---------------------------------------------------------------

let view = readState(location.search);
const feed = new Feed();
/** Where "load older" continues; `ready` once the first page of this view is in. */
let paging = { ready: false, endCursor: null, hasNext: false };
/** Bumped when the view changes; answers for an older view are dropped. */
let generation = 0;
/** Refreshes run one after another, so each sees what the previous merged. */
let refreshChain = Promise.resolve();
let total = null;
/** Whether activityAdded resumes `after` a cursor; see PROBES. */
let resumable = false;
let documents = activityDocuments();
let stopLive = () => {};
/** Bumped by each startLive, so only the latest one subscribes. */
let liveAttempt = 0;
let lastSeries = null;
let summaryTimer = null;
let askingForToken = false;

// ---- page elements ---------------------------------------------------------

const els = {
  connection: byId('connection'),
  connectionText: byId('connection-text'),
  reconnect: byId('reconnect'),
  signIn: byId('sign-in'),
  signOut: byId('sign-out'),
  alert: byId('alert'),
  alertText: byId('alert-text'),
  alertRetry: byId('alert-retry'),
  chart: byId('chart'),
  chartDesc: byId('chart-desc'),
  topActions: byId('top-actions'),
  topWindow: byId('top-window'),
  feedCount: byId('feed-count'),
  empty: byId('empty'),
  loadOlder: byId('load-older'),
  endOfFeed: byId('end-of-feed'),
  authDialog: byId('auth'),
};

const table = createTable(byId('rows'), {
  onOpen: (uuid) => {
    const activity = feed.byUuid.get(uuid);
    if (activity) detail.show(activity);
  },
});
const detail = createDetail(byId('detail'), { onFilter: narrow });
const form = createFilterForm(byId('filters'), {
  toggle: byId('filters-toggle'),
  onChange: (filter) => changeView({ ...view, filter }),
});

const live = createLiveClient({
  url: socketUrl.href,
  connectionParams: () => connectionInitPayload(token),
  onState: showConnection,
});

// ---- errors and the token ----------------------------------------------------

let retryAction = null;

function showAlert(message, retry) {
  els.alertText.textContent = message;
  retryAction = retry;
  els.alertRetry.hidden = !retry;
  els.alert.hidden = false;
}

function hideAlert() {
  els.alert.hidden = true;
  retryAction = null;
}

els.alertRetry.addEventListener('click', () => {
  const retry = retryAction;
  hideAlert();
  retry?.();
});

/** Reports a failed request: asks for a token, or shows the error with a retry. */
function failed(error, retry) {
  if (error?.name === 'AbortError') return;
  if (error instanceof AuthError) {
    requestToken(token ? 'The server refused the stored token. Enter another one.' : 'This server asks for an access token.');
    return;
  }
  showAlert(error?.message || 'Something went wrong.', retry);
}

async function requestToken(reason) {
  if (askingForToken) return;
  askingForToken = true;
  const entered = await askForToken(els.authDialog, reason);
  askingForToken = false;
  if (!entered) {
    setConnection('unauthorized', 'Sign-in needed');
    els.signIn.hidden = false;
    return;
  }
  token = entered;
  saveToken(token);
  updateTokenButtons();
  startOver();
}

function updateTokenButtons() {
  els.signOut.hidden = !token;
  els.signIn.hidden = true;
}

els.signIn.addEventListener('click', () => requestToken('Enter the access token for this server.'));
els.signOut.addEventListener('click', () => {
  token = '';
  saveToken('');
  updateTokenButtons();
  startOver();
});

// ---- connection state --------------------------------------------------------

let countdown = null;

function setConnection(state, text) {
  els.connection.dataset.state = state;
  els.connectionText.textContent = text;
}

function showConnection(state, info = {}) {
  clearInterval(countdown);
  els.reconnect.hidden = state !== 'reconnecting';
  switch (state) {
    case 'connecting':
      setConnection('connecting', 'Connecting…');
      break;
    case 'connected':
      setConnection('live', 'Live');
      hideAlert();
      startLive();
      break;
    case 'reconnecting': {
      const tick = () => {
        const seconds = info.retryAt ? Math.ceil((info.retryAt - Date.now()) / 1000) : 0;
        setConnection('reconnecting', seconds > 0 ? `Reconnecting in ${seconds} s…` : 'Reconnecting…');
      };
      tick();
      if (info.retryAt) countdown = setInterval(tick, 1000);
      break;
    }
    case 'unauthorized':
      setConnection('unauthorized', 'Sign-in needed');
      requestToken(token ? 'The server refused the stored token. Enter another one.' : 'This server asks for an access token.');
      break;
    default:
      setConnection('offline', 'Offline');
  }
}

els.reconnect.addEventListener('click', () => live.retryNow());
window.addEventListener('online', () => live.retryNow());

// ---- the feed ---------------------------------------------------------------

function currentFilter() {
  return toActivityFilter(view.filter);
}

/** Adds activities to the feed and the table; `fresh` for live arrivals. */
function show(activities, { fresh = false } = {}) {
  const added = feed.merge(activities);
  if (added.length) table.insert(added, { fresh });
  form.learnActors(activities);
  updateFooter();
  return added.length;
}

function updateFooter() {
  const shown = feed.size;
  if (!paging.ready && shown === 0) {
    els.feedCount.textContent = 'Loading…';
  } else if (total !== null) {
    els.feedCount.textContent = `Showing ${count(shown)} of ${count(Math.max(total, shown))}`;
  } else {
    els.feedCount.textContent = `Showing ${count(shown)}`;
  }
  els.empty.hidden = !(paging.ready && shown === 0);
  els.loadOlder.hidden = !(paging.ready && paging.hasNext);
  els.endOfFeed.hidden = !(paging.ready && !paging.hasNext && shown > 0);
}

async function fetchPage(after, filter) {
  const data = await api.request(documents.feed, { filter, first: PAGE_SIZE, after });
  return { nodes: data.activityFeed.edges.map((e) => e.node), pageInfo: data.activityFeed.pageInfo };
}

/**
 * Brings the top of the table up to date: reads the newest pages until it
 * meets a row already shown, and merges them by uuid, so nothing missed
 * while disconnected is left out and nothing is shown twice. When more
 * arrived than it reads back, the table starts over from the newest page.
 */
function refresh() {
  const gen = generation;
  refreshChain = refreshChain.then(() => refreshNow(gen)).catch((error) => failed(error, () => refresh()));
  return refreshChain;
}

async function refreshNow(gen) {
  if (gen !== generation) return;
  const filter = currentFilter();
  const known = paging.ready ? feed.newest() : undefined;
  const fetched = [];
  let pageInfo = null;
  let reached = !known;
  let after = null;
  for (let page = 0; page < (known ? CATCH_UP_PAGES : 1); page += 1) {
    const result = await fetchPage(after, filter);
    if (gen !== generation) return;
    fetched.push(...result.nodes);
    pageInfo = result.pageInfo;
    const oldest = result.nodes[result.nodes.length - 1];
    if (known && (!oldest || newestFirst(oldest, known) >= 0)) reached = true;
    if (reached || !pageInfo.hasNextPage) {
      reached = true;
      break;
    }
    after = pageInfo.endCursor;
  }
  if (!reached) {
    feed.clear();
    table.clear();
  }
  if (!known || !reached) {
    paging = { ready: true, endCursor: pageInfo.endCursor, hasNext: pageInfo.hasNextPage };
  }
  show(fetched);
}

async function loadOlder() {
  if (!paging.ready || !paging.hasNext) return;
  const gen = generation;
  els.loadOlder.disabled = true;
  els.loadOlder.textContent = 'Loading…';
  try {
    const { nodes, pageInfo } = await fetchPage(paging.endCursor, currentFilter());
    if (gen !== generation) return;
    paging = { ready: true, endCursor: pageInfo.endCursor, hasNext: pageInfo.hasNextPage };
    show(nodes);
  } catch (error) {
    failed(error, loadOlder);
  } finally {
    els.loadOlder.disabled = false;
    els.loadOlder.textContent = 'Load older';
    updateFooter();
  }
}

els.loadOlder.addEventListener('click', loadOlder);

// ---- live updates -------------------------------------------------------------

/**
 * (Re)subscribes for the current view, so that nothing committed while the
 * page was not subscribed is missing and nothing is shown twice.
 */
async function startLive() {
  stopLive();
  stopLive = () => {};
  if (live.state !== 'connected') return;
  const gen = generation;
  const attempt = ++liveAttempt;
  const filter = currentFilter();
  const current = () => gen === generation && attempt === liveAttempt && live.state === 'connected';
  if (!resumable) {
    // Subscribe first, then read the newest rows: whatever commits in
    // between comes both ways and is merged by uuid.
    subscribeAndSettle(gen, filter);
    return;
  }
  // The server replays what came after a cursor: continue from the newest row shown.
  try {
    await refreshChain;
    if (!paging.ready) await refresh();
    let newest = feed.newest();
    if (newest?.cursor) {
      const data = await api.request(COUNT, { filter: { ...filter, since: newest.insertedAt } });
      if (!current()) return;
      if (data.activityCount > CATCH_UP_PAGES * PAGE_SIZE) {
        // Too much to replay row by row: start over from the newest page.
        restartTable();
        await refresh();
        newest = feed.newest();
      }
    }
    if (!current()) return;
    if (newest?.cursor) {
      subscribe(gen, documents.liveAfter, { filter, after: newest.cursor });
    } else {
      // Nothing to continue from yet (no row matches so far).
      subscribeAndSettle(gen, filter);
    }
  } catch (error) {
    if (gen === generation) failed(error, startLive);
  }
}

function subscribeAndSettle(gen, filter) {
  subscribe(gen, documents.live, { filter });
  refresh();
  setTimeout(() => {
    if (gen === generation) refresh();
  }, SETTLE_MS);
}

function subscribe(gen, query, variables) {
  let endedByUs = false;
  const unsubscribe = live.subscribe({ query, variables }, {
    next(payload) {
      if (gen !== generation) return;
      if (payload?.errors?.length) {
        if (isAuthErrorList(payload.errors)) requestToken('The server refused the stored token. Enter another one.');
        return;
      }
      const activity = payload?.data?.activityAdded;
      if (!activity) return;
      const added = show([activity], { fresh: true });
      if (added) {
        if (total !== null) total += 1;
        form.learn(activity);
        updateFooter();
        scheduleSummary();
      }
    },
    error(errors) {
      if (gen !== generation) return;
      if (isAuthErrorList(errors)) {
        requestToken('The server refused the stored token. Enter another one.');
        return;
      }
      showAlert(`Live updates stopped: ${errors?.[0]?.message ?? 'the server refused the subscription'}.`, startLive);
    },
    complete() {
      // The server ended it (it fell behind, or is shutting down): subscribe again and catch up.
      if (gen === generation && !endedByUs) setTimeout(() => gen === generation && startLive(), 1000);
    },
  });
  stopLive = () => {
    endedByUs = true;
    unsubscribe();
  };
}

// ---- summary: total, chart, top actions ------------------------------------------

function windowLabel() {
  const { filter, bucket } = view;
  if (filter.from || filter.to) {
    const range = `${filter.from || '…'} – ${filter.to || 'now'}`;
    return bucket === 'day' ? `${range}, by UTC day` : `${range}, last 48 hours of it`;
  }
  return bucket === 'day' ? 'last 30 days' : 'last 48 hours';
}

async function loadSummary() {
  clearTimeout(summaryTimer);
  summaryTimer = null;
  const gen = generation;
  const filter = currentFilter();
  const span = chartWindow(view.bucket, filter);
  const windowFilter = { ...filter, since: span.since };
  try {
    const data = await api.request(SUMMARY, { filter, window: windowFilter, groupBy: BUCKETS[view.bucket] });
    if (gen !== generation) return;
    total = data.total;
    updateFooter();
    lastSeries = buildSeries(data.timeline, view.bucket, span.first, span.last);
    drawChart();
    els.topWindow.textContent = windowLabel();
    renderTopActions(els.topActions, data.topActions, {
      current: view.filter.action,
      onPick: (action) => narrow('action', action),
    });
  } catch (error) {
    if (gen === generation) failed(error, loadSummary);
  }
}

function scheduleSummary() {
  if (summaryTimer) return;
  summaryTimer = setTimeout(loadSummary, SUMMARY_EVERY_MS);
}

function drawChart() {
  if (!lastSeries) return;
  els.chartDesc.textContent = renderChart(els.chart, lastSeries, view.bucket);
}

new ResizeObserver(() => drawChart()).observe(els.chart.parentElement);

for (const button of document.querySelectorAll('[data-bucket]')) {
  button.addEventListener('click', () => {
    if (view.bucket === button.dataset.bucket) return;
    view = { ...view, bucket: button.dataset.bucket };
    history.replaceState(null, '', `${location.pathname}${writeState(view)}`);
    showBucket();
    loadSummary();
  });
}

function showBucket() {
  for (const button of document.querySelectorAll('[data-bucket]')) {
    button.setAttribute('aria-pressed', String(button.dataset.bucket === view.bucket));
  }
}

// ---- the view ----------------------------------------------------------------------

/** Shows a new view: the table starts over, the live subscription follows the filter. */
function changeView(next, { push = true } = {}) {
  view = next;
  if (push) {
    const url = `${location.pathname}${writeState(view)}`;
    if (url !== `${location.pathname}${location.search}`) history.pushState(null, '', url);
  }
  form.set(view.filter);
  showBucket();
  reload();
}

/** Narrows the view to one value (from the detail or the top actions). */
function narrow(key, value) {
  changeView({ ...view, filter: { ...view.filter, [key]: value } });
}

/** Empties the table; the next refresh loads the newest page. */
function restartTable() {
  feed.clear();
  table.clear();
  paging = { ready: false, endCursor: null, hasNext: false };
  updateFooter();
}

function reload() {
  generation += 1;
  stopLive();
  stopLive = () => {};
  total = null;
  restartTable();
  hideAlert();
  if (live.state === 'connected') startLive();
  else refresh();
  loadSummary();
}

window.addEventListener('popstate', () => changeView(readState(location.search), { push: false }));

async function loadOptions() {
  try {
    form.setOptions(await api.request(OPTIONS));
  } catch (error) {
    failed(error, loadOptions);
  }
}

/** Finds out which optional fields the server has (see PROBES). */
async function detectCapabilities() {
  let features = { resumable: false, context: false };
  for (const probe of PROBES) {
    try {
      await api.request(probe.query);
      features = probe.features;
      break;
    } catch (error) {
      if (error instanceof AuthError) throw error;
      // An older server refuses a field: try the next, smaller set.
    }
  }
  resumable = features.resumable;
  documents = activityDocuments(features);
}

/** After a new token: everything again, on a fresh connection. */
async function startOver() {
  hideAlert();
  try {
    await detectCapabilities();
  } catch (error) {
    failed(error, startOver);
    return;
  }
  loadOptions();
  reload();
  live.restart();
}

setInterval(() => table.tick(), 15000);

// ---- start ----------------------------------------------------------------------------

updateTokenButtons();
form.set(view.filter);
showBucket();
updateFooter();
try {
  await detectCapabilities();
  loadOptions();
  reload();
  live.start();
} catch (error) {
  // Only a refused token gets here; the page starts over once one is entered.
  failed(error, startOver);
}

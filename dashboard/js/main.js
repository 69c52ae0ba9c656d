// The dashboard's wiring: the view state (filter in the URL), the feed on
// screen (a bounded window of rows), the live subscription and its catch-up
// after reconnects, the summary, the detail, and the token when the server
// asks for one.

import { askForToken, connectionInitPayload, loadToken, refusalReason, saveToken } from './auth.js';
import { buildSeries, chartWindow, renderChart } from './chart.js';
import { createDetail } from './detail.js';
import { byId } from './dom.js';
import { Feed, newestFirst } from './feed.js';
import { createFilterForm } from './filter-form.js';
import { BUCKETS, FILTER_KEYS, describeFilter, endsInPast, readState, toActivityFilter, writeState } from './filters.js';
import { count } from './format.js';
import { AuthError, RequestError, createGraphQLClient, isAuthErrorList } from './graphql.js';
import { createLiveClient } from './live.js';
import { COUNT, OPTIONS, PROBES, SUMMARY, USERS, activityDocuments } from './queries.js';
import { createTable } from './table.js';
import { renderTopActions } from './top-actions.js';

/** Rows per activityFeed page. */
const PAGE_SIZE = 50;
/**
 * The most rows the table holds. Past it, "Load older" drops the newest
 * rows (with "Show newer" to go back) and live arrivals drop the oldest
 * (with "Load older" to get them again), so the page's layout work per
 * click stays the same however long it is open and however far back it goes.
 */
export const MAX_ROWS = 200;
/**
 * After a reconnect, how many pages to read back looking for the newest row
 * already shown; with more to catch up on, the table starts over instead.
 */
const CATCH_UP_PAGES = 4;
/**
 * graphql-transport-ws does not acknowledge a subscribe, so when the page
 * subscribes without a cursor it reads the newest rows again this long
 * after, in case one was committed before the server had set up the
 * subscription but after the first read.
 */
const SETTLE_MS = 1500;
/** The summary is refetched at most this often while live rows arrive. */
const SUMMARY_EVERY_MS = 5000;
const TITLE = 'Activity feed';

const endpoint = new URL('graphql', document.baseURI);
const socketUrl = new URL(endpoint);
socketUrl.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';
const healthUrl = new URL('healthz', document.baseURI);

let token = loadToken();
const api = createGraphQLClient({ endpoint: endpoint.href, token: () => token });
/** Aborted when the token is forgotten: no request of the old token's finishes. */
let session = new AbortController();

/** A request in the current session. */
function request(query, variables) {
  return api.request(query, variables, { signal: session.signal });
}

// ---- state ---------------------------------------------------------------

const initial = readState(location.search);
let view = { filter: initial.filter, bucket: initial.bucket };
const feed = new Feed();
/**
 * The window's edges: `olderCursor` continues "Load older" (`hasOlder` when
 * there is more), `hasNewer` when newer rows were dropped from the top (the
 * window is then detached from the live top). `ready` once the first page
 * of this view is in.
 */
let paging = { ready: false, olderCursor: null, hasOlder: false, hasNewer: false };
/** Live arrivals not shown while the window is detached. */
let missedLive = 0;
/** Bumped when the view changes; answers for an older view are dropped. */
let generation = 0;
/** Refreshes run one after another, so each sees what the previous merged. */
let refreshChain = Promise.resolve();
let total = null;
/**
 * What the server's activities offer (see PROBES). Until the probe answers,
 * the page assumes the richest server, so its first reads need not wait for
 * the probe; on a server with fewer fields they are read again.
 */
let features = PROBES[0].features;
/** Whether activityAdded resumes `after` a cursor. */
let resumable = features.resumable;
let documents = activityDocuments(features);
/** Settles (never rejects) once the probe has answered. */
let probed = Promise.resolve();
let stopLive = () => {};
/** Bumped by each startLive, so only the latest one subscribes. */
let liveAttempt = 0;
let lastSeries = null;
let summaryTimer = null;
let settleTimer = null;
/** The view (filter and bucket) the summary on screen belongs to, as a key; '' when none. */
let summaryShown = '';
/** Bumped by each loadSummary, so only the latest answer is drawn. */
let summarySeq = 0;
let optionsLoaded = false;
let askingForToken = false;
let loadingOlder = false;
let loadingNewer = false;

// ---- page elements ---------------------------------------------------------

const els = {
  connection: byId('connection'),
  connectionText: byId('connection-text'),
  reconnect: byId('reconnect'),
  signIn: byId('sign-in'),
  signOut: byId('sign-out'),
  notice: byId('notice'),
  noticeText: byId('notice-text'),
  noticeClose: byId('notice-close'),
  alert: byId('alert'),
  alertText: byId('alert-text'),
  alertRetry: byId('alert-retry'),
  chart: byId('chart'),
  chartDesc: byId('chart-desc'),
  chartCard: byId('chart').closest('.card'),
  topActions: byId('top-actions'),
  topWindow: byId('top-window'),
  feedTitle: byId('feed-title'),
  feedCount: byId('feed-count'),
  empty: byId('empty'),
  firstRun: byId('first-run'),
  firstRunExample: byId('first-run-example'),
  copyExample: byId('copy-example'),
  copyDone: byId('copy-done'),
  newerBar: byId('newer-bar'),
  loadNewer: byId('load-newer'),
  newerNote: byId('newer-note'),
  loadOlder: byId('load-older'),
  endOfFeed: byId('end-of-feed'),
  authDialog: byId('auth'),
  detailDialog: byId('detail'),
};
els.endOfFeed.tabIndex = -1;

const table = createTable(byId('rows'), {
  onOpen: (uuid) => {
    const activity = feed.byUuid.get(uuid);
    if (activity) {
      detailOpener = uuid;
      detail.show(activity);
    }
  },
});
/** The row whose detail is open: focus goes back to it when the detail closes. */
let detailOpener = null;
const detail = createDetail(els.detailDialog, { onFilter: (key, value) => narrow(key, value, { focusField: true }) });
els.detailDialog.addEventListener('close', () => {
  const uuid = detailOpener;
  detailOpener = null;
  // The dialog gives focus back by itself; when its row has gone (the view
  // changed, or the window moved), focus the row again or the table's heading.
  setTimeout(() => {
    if (document.activeElement && document.activeElement !== document.body) return;
    const button = uuid ? table.button(uuid) : null;
    (button ?? els.feedTitle).focus();
  }, 0);
});
const form = createFilterForm(byId('filters'), {
  toggle: byId('filters-toggle'),
  onChange: (filter) => changeView({ ...view, filter }),
  searchUsers: async (search, first) => (await request(USERS, { search, first })).users.nodes,
});

const live = createLiveClient({
  url: socketUrl.href,
  connectionParams: () => connectionInitPayload(token),
  onState: showConnection,
  // While reconnecting, a cheap look at /healthz notices the server is back
  // well before the backoff's next attempt.
  probe: async () => {
    try {
      const response = await fetch(healthUrl, { cache: 'no-store', signal: AbortSignal.timeout(2000) });
      return response.ok;
    } catch {
      return false;
    }
  },
});

// ---- errors, notices and the token -------------------------------------------

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

/** Says in the page what was ignored (e.g. invalid values in the address). */
function showNotice(message) {
  els.noticeText.textContent = message;
  els.notice.hidden = !message;
}
els.noticeClose.addEventListener('click', () => {
  showNotice('');
  els.feedTitle.focus();
});

/** Reports a failed request: asks for a token, or shows the error with a retry. */
function failed(error, retry) {
  if (error?.name === 'AbortError') return;
  if (error instanceof AuthError) {
    requestToken(refusalReason(Boolean(token), error.message));
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
    els.signIn.focus();
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
  cutOff();
  updateTokenButtons();
  setConnection('unauthorized', 'Signed out');
  startOver();
});

/**
 * Forgets everything the old token could see and stops everything it
 * started: the socket closes, requests in flight are aborted, timers stop,
 * and the table, counts, chart, top actions and option lists are emptied.
 */
function cutOff() {
  generation += 1;
  session.abort();
  session = new AbortController();
  stopLive();
  stopLive = () => {};
  live.close();
  clearTimeout(summaryTimer);
  clearTimeout(settleTimer);
  summaryTimer = settleTimer = null;
  refreshChain = Promise.resolve();
  total = null;
  optionsLoaded = false;
  detail.close();
  hideAlert();
  restartTable();
  clearSummary('');
  form.clearOptions();
}

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
      // What failed while the server was away is fetched again, so that
      // everything on screen belongs to the current view.
      if (!optionsLoaded) loadOptions();
      if (info.reconnected || summaryShown !== summaryKey()) loadSummary();
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
      requestToken(refusalReason(Boolean(token), info.reason));
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

/** The cursor that pages on from an activity: its edge's, or its own. */
function cursorOf(activity) {
  return activity?.edgeCursor ?? activity?.cursor ?? null;
}

/** Adds activities to the feed and the table; `fresh` for live arrivals. */
function show(activities, { fresh = false } = {}) {
  const added = feed.merge(activities);
  if (added.length) table.insert(added, { fresh });
  form.learnActors(activities);
  return added;
}

/** Drops the oldest rows past MAX_ROWS; "Load older" reads them again. */
function trimOldest() {
  const excess = feed.size - MAX_ROWS;
  if (excess <= 0) return;
  table.remove(feed.dropOldest(excess));
  paging.olderCursor = cursorOf(feed.oldest());
  paging.hasOlder = true;
}

/** Drops the newest rows past MAX_ROWS; "Show newer" reads them again. */
function trimNewest() {
  const excess = feed.size - MAX_ROWS;
  if (excess <= 0) return;
  table.remove(feed.dropNewest(excess));
  paging.hasNewer = true;
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
  const empty = paging.ready && shown === 0;
  const unfiltered = FILTER_KEYS.every((k) => !view.filter[k]);
  // A fresh install: say how to log the first activity.
  els.firstRun.hidden = !(empty && unfiltered && total === 0);
  els.empty.hidden = !(empty && els.firstRun.hidden);
  els.empty.textContent = endsInPast(view.filter)
    ? 'No activities match this filter in this date range.'
    : 'No activities match this filter yet. New ones will appear here as they happen.';
  els.loadOlder.hidden = !(paging.ready && paging.hasOlder);
  els.endOfFeed.hidden = !(paging.ready && !paging.hasOlder && shown > 0);
  els.newerBar.hidden = !paging.hasNewer;
  els.newerNote.textContent = missedLive
    ? `${count(missedLive)} new since you scrolled back`
    : 'Newer activities are not shown; this is further back.';
}

/**
 * One page of the feed. `args` is {first, after} (older than a cursor) or
 * {last, before} (newer than one). When the activity to page from has no
 * cursor (a live row from a server without them), its time bounds the
 * filter instead and the merge by uuid drops what is already shown.
 */
async function fetchPage(filter, { after = null, before = null, from = null, direction = 'older' } = {}) {
  let variables;
  if (direction === 'older') {
    variables = { filter: after || !from ? filter : { ...filter, until: from.insertedAt }, first: PAGE_SIZE, after };
  } else {
    variables = { filter: before || !from ? filter : { ...filter, since: from.insertedAt }, last: PAGE_SIZE, before };
  }
  const data = await request(documents.feed, variables);
  const nodes = data.activityFeed.edges.map((e) => ({ ...e.node, edgeCursor: e.cursor }));
  return { nodes, pageInfo: data.activityFeed.pageInfo };
}

/**
 * Brings the top of the table up to date: reads the newest pages until it
 * meets a row already shown, and merges them by uuid, so nothing missed
 * while disconnected is left out and nothing is shown twice. When more
 * arrived than it reads back, the table starts over from the newest page.
 */
function refresh() {
  const gen = generation;
  refreshChain = refreshChain.then(() => refreshNow(gen)).catch(async (error) => {
    // A server with fewer fields refuses the first page; once the probe has
    // answered, the page reads it again (a new generation) with documents it has.
    await probed;
    if (gen === generation) failed(error, () => refresh());
  });
  return refreshChain;
}

async function refreshNow(gen) {
  if (gen !== generation || paging.hasNewer) return;
  const filter = currentFilter();
  const known = paging.ready ? feed.newest() : undefined;
  const fetched = [];
  let pageInfo = null;
  let reached = !known;
  let after = null;
  for (let page = 0; page < (known ? CATCH_UP_PAGES : 1); page += 1) {
    const result = await fetchPage(filter, { after });
    if (gen !== generation || paging.hasNewer) return;
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
    paging = { ready: true, olderCursor: pageInfo.endCursor, hasOlder: pageInfo.hasNextPage, hasNewer: false };
  }
  show(fetched);
  trimOldest();
  updateFooter();
}

async function loadOlder() {
  if (!paging.ready || !paging.hasOlder || loadingOlder) return;
  const gen = generation;
  const hadFocus = document.activeElement === els.loadOlder;
  // The button stays enabled (a disabled button drops keyboard focus); it
  // says it is busy and ignores clicks meanwhile.
  loadingOlder = true;
  els.loadOlder.setAttribute('aria-disabled', 'true');
  els.loadOlder.textContent = 'Loading…';
  let added = [];
  try {
    const { nodes, pageInfo } = await fetchPage(currentFilter(), { after: paging.olderCursor, from: feed.oldest() });
    if (gen !== generation) return;
    added = show(nodes);
    paging.olderCursor = pageInfo.endCursor ?? paging.olderCursor;
    paging.hasOlder = pageInfo.hasNextPage;
    trimNewest();
  } catch (error) {
    failed(error, loadOlder);
  } finally {
    loadingOlder = false;
    els.loadOlder.setAttribute('aria-disabled', 'false');
    els.loadOlder.textContent = 'Load older';
    updateFooter();
  }
  if (hadFocus && els.loadOlder.hidden) {
    // Nothing older: focus the first row just loaded, else the end note.
    const first = added.length ? table.button(added[0].activity.uuid) : null;
    (first ?? els.endOfFeed).focus();
  }
}

/** Reads the page just newer than the window; at the top again, the window follows live rows. */
async function loadNewer() {
  if (!paging.hasNewer || loadingNewer) return;
  const gen = generation;
  loadingNewer = true;
  els.loadNewer.setAttribute('aria-disabled', 'true');
  try {
    const newest = feed.newest();
    const { nodes, pageInfo } = await fetchPage(currentFilter(), { direction: 'newer', before: cursorOf(newest), from: newest });
    if (gen !== generation) return;
    const hadFocus = document.activeElement === els.loadNewer;
    show(nodes);
    trimOldest();
    if (!pageInfo.hasPreviousPage) {
      // Back at the top: follow live rows again, after reading what came meanwhile.
      paging.hasNewer = false;
      missedLive = 0;
      updateFooter();
      if (hadFocus) (table.button(feed.newest()?.uuid) ?? els.feedTitle).focus();
      await refresh();
      startLive();
    }
  } catch (error) {
    failed(error, loadNewer);
  } finally {
    loadingNewer = false;
    els.loadNewer.setAttribute('aria-disabled', 'false');
    updateFooter();
  }
}

els.loadOlder.addEventListener('click', loadOlder);
els.loadNewer.addEventListener('click', loadNewer);

els.copyExample.addEventListener('click', async () => {
  const text = els.firstRunExample.textContent;
  try {
    await navigator.clipboard.writeText(text);
    els.copyDone.textContent = 'Copied.';
  } catch {
    // No clipboard access: select it, so one keystroke copies it.
    getSelection()?.selectAllChildren(els.firstRunExample);
    els.copyDone.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
  }
});

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
  if (!resumable || paging.hasNewer) {
    // Subscribe first, then read the newest rows: whatever commits in
    // between comes both ways and is merged by uuid. (A detached window
    // reads nothing: it catches up when it reaches the top again.)
    subscribeAndSettle(gen, filter);
    return;
  }
  // The server replays what came after a cursor: continue from the newest row shown.
  try {
    await refreshChain;
    if (!paging.ready) await refresh();
    let newest = feed.newest();
    if (newest?.cursor) {
      const gap = await countAfter(filter, newest);
      if (!current()) return;
      if (gap > CATCH_UP_PAGES * PAGE_SIZE) {
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

/** False once the server refused `ActivityFilter.after` (one from before it). */
let countsAfterCursor = true;

/**
 * How many activities matching `filter` came after `newest`: counted after
 * its cursor, which is what `liveAfter` replays. (On PostgreSQL a cursor
 * read just after a write can stand below it, and the count then holds
 * what the replay would.) A server without `ActivityFilter.after` is asked
 * since the row's time instead, which also counts every row logged at that
 * instant, the shown ones too (a batch of hundreds shares one).
 */
async function countAfter(filter, newest) {
  if (countsAfterCursor) {
    try {
      return (await request(COUNT, { filter: { ...filter, after: newest.cursor } })).activityCount;
    } catch (error) {
      const refused = error instanceof RequestError && error.errors.some((e) => /\bafter\b/.test(e?.message ?? ''));
      if (!refused) throw error;
      countsAfterCursor = false;
    }
  }
  return (await request(COUNT, { filter: { ...filter, since: newest.insertedAt } })).activityCount;
}

function subscribeAndSettle(gen, filter) {
  subscribe(gen, documents.live, { filter });
  if (paging.hasNewer) return;
  refresh();
  clearTimeout(settleTimer);
  settleTimer = setTimeout(() => {
    if (gen === generation) refresh();
  }, SETTLE_MS);
}

function subscribe(gen, query, variables) {
  let endedByUs = false;
  const unsubscribe = live.subscribe({ query, variables }, {
    next(payload) {
      if (gen !== generation) return;
      if (payload?.errors?.length) {
        if (isAuthErrorList(payload.errors)) requestToken(refusalReason(Boolean(token), payload.errors[0]?.message));
        return;
      }
      const activity = payload?.data?.activityAdded;
      if (!activity) return;
      if (total !== null) total += 1;
      form.learn(activity);
      scheduleSummary();
      if (paging.hasNewer) {
        // Scrolled back: the window is not at the top, so the row waits for "Show newer".
        missedLive += 1;
      } else if (show([activity], { fresh: true }).length) {
        trimOldest();
      }
      updateFooter();
    },
    error(errors) {
      if (gen !== generation) return;
      if (isAuthErrorList(errors)) {
        requestToken(refusalReason(Boolean(token), errors?.[0]?.message));
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

function summaryKey() {
  return JSON.stringify([view.filter, view.bucket]);
}

function windowLabel() {
  const { filter, bucket } = view;
  if (filter.from || filter.to) {
    const range = `${filter.from || '…'} – ${filter.to || 'now'} (UTC)`;
    return bucket === 'day' ? `${range}, by UTC day` : `${range}, last 48 hours of it`;
  }
  return bucket === 'day' ? 'last 30 days (UTC)' : 'last 48 hours';
}

/**
 * Marks the summary as not (yet) belonging to the view: dimmed and busy
 * while a new one loads; emptied, with `message`, when it could not be read.
 */
function clearSummary(message) {
  summaryShown = '';
  lastSeries = null;
  const failedNow = message !== undefined;
  for (const node of [els.chartCard, els.topActions.closest('.card')]) {
    node.classList.toggle('stale', !failedNow);
    node.setAttribute('aria-busy', String(!failedNow));
  }
  if (failedNow) {
    els.chart.replaceChildren();
    els.chartDesc.textContent = message;
    els.topActions.replaceChildren();
    els.topWindow.textContent = '';
  } else {
    els.chartDesc.textContent = 'Loading…';
    els.topWindow.textContent = 'Loading…';
  }
}

async function loadSummary() {
  clearTimeout(summaryTimer);
  summaryTimer = null;
  const gen = generation;
  const seq = ++summarySeq;
  const key = summaryKey();
  const { bucket } = view;
  const filter = currentFilter();
  const span = chartWindow(bucket, filter);
  const windowFilter = { ...filter, since: span.since };
  if (summaryShown !== key) clearSummary();
  try {
    const data = await request(SUMMARY, { filter, window: windowFilter, groupBy: BUCKETS[bucket] });
    if (gen !== generation || seq !== summarySeq) return;
    total = data.total;
    summaryShown = key;
    for (const node of [els.chartCard, els.topActions.closest('.card')]) {
      node.classList.remove('stale');
      node.setAttribute('aria-busy', 'false');
    }
    updateFooter();
    lastSeries = buildSeries(data.timeline, bucket, span.first, span.last);
    drawChart();
    els.topWindow.textContent = windowLabel();
    renderTopActions(els.topActions, data.topActions, {
      current: view.filter.action,
      onPick: (action) => narrow('action', action),
    });
  } catch (error) {
    if (gen !== generation || seq !== summarySeq || error?.name === 'AbortError') return;
    // Nothing of another view stays on screen; a reconnect fetches it again.
    total = null;
    updateFooter();
    clearSummary(`The chart could not be loaded: ${error?.message ?? 'unknown error'}`);
    failed(error, loadSummary);
  }
}

function scheduleSummary() {
  if (summaryTimer) return;
  summaryTimer = setTimeout(loadSummary, SUMMARY_EVERY_MS);
}

function drawChart() {
  if (!lastSeries) return;
  els.chartDesc.textContent = renderChart(els.chart, lastSeries, view.bucket, view.filter);
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

function showTitle() {
  const text = describeFilter(view.filter);
  document.title = text ? `${text} · ${TITLE}` : TITLE;
}

/** Shows a new view: the table starts over, the live subscription follows the filter. */
function changeView(next, { push = true } = {}) {
  view = { filter: next.filter, bucket: next.bucket };
  if (push) {
    const url = `${location.pathname}${writeState(view)}`;
    if (url !== `${location.pathname}${location.search}`) history.pushState(null, '', url);
  }
  form.set(view.filter);
  showBucket();
  showTitle();
  reload();
}

/**
 * Narrows the view to one value (from the detail or the top actions).
 * `focusField` moves focus to that filter's field (or the table's heading),
 * since what had it is gone.
 */
function narrow(key, value, { focusField = false } = {}) {
  changeView({ ...view, filter: { ...view.filter, [key]: value } });
  if (focusField && !form.focus(key)) els.feedTitle.focus();
}

/** Empties the table; the next refresh loads the newest page. */
function restartTable() {
  feed.clear();
  table.clear();
  paging = { ready: false, olderCursor: null, hasOlder: false, hasNewer: false };
  missedLive = 0;
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

/** Shows the view in the address bar, saying what of it was ignored and cleaning it up. */
function adoptAddress(state) {
  showNotice(state.problems.length ? `Ignored in the address: ${state.problems.join('; ')}.` : '');
  if (state.problems.length) history.replaceState(null, '', `${location.pathname}${writeState(state)}`);
}

window.addEventListener('popstate', () => {
  const state = readState(location.search);
  adoptAddress(state);
  changeView(state, { push: false });
});

async function loadOptions() {
  try {
    form.setOptions(await request(OPTIONS));
    optionsLoaded = true;
  } catch (error) {
    failed(error, loadOptions);
  }
}

/**
 * Finds out which optional fields the server has (see PROBES); true when
 * they differ from what the page assumed, so what it read must be read again.
 */
async function detectCapabilities() {
  let found = { resumable: false, context: false };
  for (const probe of PROBES) {
    try {
      await request(probe.query);
      found = probe.features;
      break;
    } catch (error) {
      if (error instanceof AuthError || error?.name === 'AbortError') throw error;
      // An older server refuses a field: try the next, smaller set.
    }
  }
  const changed = found.resumable !== features.resumable || found.context !== features.context;
  features = found;
  resumable = features.resumable;
  documents = activityDocuments(features);
  return changed;
}

/**
 * Loads the view (the first page, the summary, the options) while the
 * capabilities are asked, then goes live with the documents the server has
 * (`connect` opens or reopens the socket). Nothing waits for the probe, and
 * on the richest server, the usual case, nothing is read twice.
 */
async function begin(connect) {
  let answered;
  probed = new Promise((resolve) => { answered = resolve; });
  // The first page is asked first: its answer is what a person waits for.
  reload();
  loadOptions();
  try {
    if (await detectCapabilities()) reload();
  } catch (error) {
    // Only a refused token gets here; the page starts over once one is entered.
    failed(error, startOver);
    return;
  } finally {
    // After the reload: a refusal of the first page is then of an old generation.
    answered();
  }
  connect();
}

/** After a new token (or none): everything again, on a fresh connection. */
function startOver() {
  hideAlert();
  begin(() => live.restart());
}

setInterval(() => table.tick(), 15000);

// ---- start ----------------------------------------------------------------------------

updateTokenButtons();
adoptAddress(initial);
form.set(view.filter);
showBucket();
showTitle();
updateFooter();
begin(() => live.start());

// The GraphQL documents the dashboard sends (see schema.graphql).
//
// Every document is a constant of this module, fixed when it loads: none is
// built from what people type or from server answers (those go in
// variables). So the full list, DOCUMENTS, can be shipped as a
// trusted-documents manifest (issue 17); a browser test checks that the page
// sends nothing else.

const PERSON = 'uuid email firstName lastName';

const ACTIVITY_FIELDS = `
  uuid action module mode
  actorUuid actor { ${PERSON} }
  resourceType resourceUuid resource { __typename ... on User { ${PERSON} } }
  targetUuid target { ${PERSON} }
  metadata insertedAt actionTone modeTone`;

/** The filter option lists. */
export const OPTIONS = `query DashboardOptions {
  actionTypes
  modules
  modes
  resourceTypes
}`;

/**
 * What the server's activities offer beyond the core fields, asked with
 * ordinary queries (so it works with introspection turned off), richest
 * first; a server that lacks a field refuses the whole query:
 *   context    correlationId, clientIp, userAgent (and cursor)
 *   resumable  a `cursor` that activityAdded resumes `after`
 */
export const PROBES = Object.freeze([
  {
    features: { resumable: true, context: true },
    query: 'query DashboardCapabilities { activityFeed(first: 1) { edges { node { cursor correlationId clientIp userAgent } } } }',
  },
  {
    features: { resumable: true, context: false },
    query: 'query DashboardCapabilities { activityFeed(first: 1) { edges { node { cursor } } } }',
  },
]);

/** How many activities match: to size the gap to catch up on after a reconnect. */
export const COUNT = `query DashboardCount($filter: ActivityFilter) {
  activityCount(filter: $filter)
}`;

/** The total, the top actions and the counts over time for the chart's window. */
export const SUMMARY = `query DashboardSummary($filter: ActivityFilter, $window: ActivityFilter, $groupBy: ActivityGroupBy!) {
  total: activityCount(filter: $filter)
  topActions: activityCounts(filter: $window, groupBy: ACTION) { key count }
  timeline: activityCounts(filter: $window, groupBy: $groupBy) { key count }
}`;

/** People by name or email, for the actor filter. */
export const USERS = `query DashboardUsers($search: String!, $first: Int) {
  users(search: $search, first: $first) { nodes { ${PERSON} } }
}`;

/** The documents that select activities, for one set of server features. */
function activityDocumentSet(fields) {
  return Object.freeze({
    /** One page of the cursor connection, newest first (or the newest `last` before a cursor). */
    feed: `query DashboardFeed($filter: ActivityFilter, $first: Int, $after: String, $last: Int, $before: String) {
  activityFeed(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { ${fields} } }
    pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
  }
}`,
    /** New activities as they are committed. */
    live: `subscription DashboardLive($filter: ActivityFilter) {
  activityAdded(filter: $filter) { ${fields} }
}`,
    /** The same, first replaying what was committed after a cursor. */
    liveAfter: `subscription DashboardLiveAfter($filter: ActivityFilter, $after: String) {
  activityAdded(filter: $filter, after: $after) { ${fields} }
}`,
  });
}

/** The activity documents per server feature set (see PROBES). */
const ACTIVITY_DOCUMENTS = Object.freeze({
  full: activityDocumentSet(`${ACTIVITY_FIELDS} cursor correlationId clientIp userAgent`),
  resumable: activityDocumentSet(`${ACTIVITY_FIELDS} cursor`),
  core: activityDocumentSet(ACTIVITY_FIELDS),
});

/**
 * The documents that select activities, with the fields the server has
 * (see PROBES): its cursor when `resumable`, request context when `context`.
 */
export function activityDocuments({ resumable = false, context = false } = {}) {
  if (resumable && context) return ACTIVITY_DOCUMENTS.full;
  return resumable ? ACTIVITY_DOCUMENTS.resumable : ACTIVITY_DOCUMENTS.core;
}

/** Every document the dashboard may send: its trusted-documents manifest. */
export const DOCUMENTS = Object.freeze([
  OPTIONS,
  ...PROBES.map((p) => p.query),
  COUNT,
  SUMMARY,
  USERS,
  ...Object.values(ACTIVITY_DOCUMENTS).flatMap((set) => Object.values(set)),
]);

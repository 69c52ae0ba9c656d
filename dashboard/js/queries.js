// The GraphQL documents the dashboard sends (see schema.graphql).

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

/**
 * The documents that select activities, with the fields the server has
 * (see PROBES): its cursor when `resumable`, request context when `context`.
 */
export function activityDocuments({ resumable = false, context = false } = {}) {
  const fields = [ACTIVITY_FIELDS, resumable ? 'cursor' : '', context ? 'correlationId clientIp userAgent' : '']
    .filter(Boolean)
    .join(' ');
  return {
    /** One page of the cursor connection, newest first. */
    feed: `query DashboardFeed($filter: ActivityFilter, $first: Int, $after: String) {
  activityFeed(filter: $filter, first: $first, after: $after) {
    edges { node { ${fields} } }
    pageInfo { hasNextPage endCursor }
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
  };
}

// The GraphQL documents the dashboard sends (see schema.graphql).

const PERSON = 'uuid email firstName lastName';

export const ACTIVITY_FIELDS = `
  uuid action module mode
  actorUuid actor { ${PERSON} }
  resourceType resourceUuid resourceUser { ${PERSON} }
  targetUuid target { ${PERSON} }
  metadata insertedAt actionBadgeColor modeBadgeColor`;

/** The filter option lists. */
export const OPTIONS = `query DashboardOptions {
  actionTypes
  modules
  modes
  resourceTypes
}`;

/** Whether activityAdded can resume after a cursor (a later server version). */
export const CAPABILITIES = `query DashboardCapabilities {
  __schema { subscriptionType { fields { name args { name } } } }
}`;

/** One page of the cursor connection, newest first. */
export const FEED = `query DashboardFeed($filter: ActivityFilter, $first: Int, $after: String) {
  activityFeed(filter: $filter, first: $first, after: $after) {
    edges { cursor node { ${ACTIVITY_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** The total, the top actions and the counts over time for the chart's window. */
export const SUMMARY = `query DashboardSummary($filter: ActivityFilter, $window: ActivityFilter, $groupBy: ActivityGroupBy!) {
  total: activityCount(filter: $filter)
  topActions: activityCounts(filter: $window, groupBy: ACTION) { key count }
  timeline: activityCounts(filter: $window, groupBy: $groupBy) { key count }
}`;

/** New activities as they are committed. */
export const LIVE = `subscription DashboardLive($filter: ActivityFilter) {
  activityAdded(filter: $filter) { ${ACTIVITY_FIELDS} }
}`;

/** The same, resuming just after a cursor, for servers whose activityAdded takes `after`. */
export const LIVE_AFTER = `subscription DashboardLive($filter: ActivityFilter, $after: String) {
  activityAdded(filter: $filter, after: $after) { ${ACTIVITY_FIELDS} }
}`;

// The GraphQL documents the dashboard sends (see schema.graphql).

const PERSON = 'uuid email firstName lastName';

const ACTIVITY_FIELDS = `
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

/**
 * Whether activities carry a `cursor` that activityAdded resumes `after`
 * (servers from the scale-out issue on); asked with an ordinary query, so
 * it works with introspection turned off. Older servers refuse the field.
 */
export const CAPABILITIES = `query DashboardCapabilities {
  activityFeed(first: 1) { edges { node { cursor } } }
}`;

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

/** The documents that select activities; with `resumable`, each row carries its cursor. */
export function activityDocuments({ resumable }) {
  const fields = resumable ? `${ACTIVITY_FIELDS} cursor` : ACTIVITY_FIELDS;
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

// A component's data needs as Relay writes them: a fragment on Activity that
// Relay can refetch on its own, which needs Activity to implement Node and
// Query.node(id:) to read it back.
import { graphql } from 'react-relay';

export const activityRow = graphql`
  fragment ActivityRow_activity on Activity
  @refetchable(queryName: "ActivityRowRefetchQuery") {
    id
    uuid
    action
    insertedAt
    actionTone
    actor { id firstName }
  }
`;

export const feed = graphql`
  query ActivityRowFeedQuery($first: Int!) {
    activityFeed(first: $first) {
      totalCount
      edges { cursor node { ...ActivityRow_activity } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

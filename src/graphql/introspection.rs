//! Refuses introspection with a clear error when it is turned off, rather
//! than answering `__schema` and `__type` with a silent `null`.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use super::error::BAD_USER_INPUT;

/// Installed when introspection is off.
pub struct NoIntrospection;

impl ExtensionFactory for NoIntrospection {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NoIntrospection)
    }
}

/// Whether any selection, however nested or fragmented, asks for the schema.
fn introspects(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            matches!(field.node.name.node.as_str(), "__schema" | "__type")
                || introspects(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => introspects(&fragment.node.selection_set.node),
        // Named fragments are checked where they are defined.
        Selection::FragmentSpread(_) => false,
    })
}

#[async_trait::async_trait]
impl Extension for NoIntrospection {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let asks = document
            .operations
            .iter()
            .any(|(_, op)| introspects(&op.node.selection_set.node))
            || document
                .fragments
                .values()
                .any(|f| introspects(&f.node.selection_set.node));
        if asks {
            let mut error = ServerError::new("introspection is disabled on this server", None);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", BAD_USER_INPUT);
            return Err(error);
        }
        Ok(document)
    }
}

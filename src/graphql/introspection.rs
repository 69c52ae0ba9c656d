//! Refuses introspection with a clear error when it is turned off, rather
//! than answering `__schema` and `__type` with a silent `null`.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult};

use crate::service::ErrorCode;

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

/// Refuses `document` when it asks for the schema anywhere.
pub fn refuse(document: &ExecutableDocument) -> ServerResult<()> {
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
            .set("code", ErrorCode::BadUserInput.as_str());
        return Err(error);
    }
    Ok(())
}

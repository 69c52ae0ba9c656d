//! What one GraphQL document may ask for, checked before anything runs: its
//! size and token count before it is parsed, its root fields and aliases
//! once it is, and the cost of each field that reaches the database (which
//! async-graphql's complexity limit adds up). The depth and complexity
//! limits themselves are applied in [`super::build_schema`].

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult};

use crate::config::LimitsConfig;
use crate::service::ErrorCode;

/// The complexity of a field that reads every matching row: a count, a
/// grouped count, a grouping, a distinct list, or an offset page (which
/// reads and skips every row before it). With the default budget of 20,000,
/// one operation runs about twenty of them: 3,000 aliased counts took 90 s
/// of database time at 1,000,000 rows before they cost more than a field.
pub const SCAN: usize = 1000;

/// The complexity of a field that runs one statement on an index (one row
/// by id, a keyset page), before what it returns.
pub const STATEMENT: usize = 25;

/// Page sizes above this cost no more in the complexity check: larger ones
/// are refused by the range check with a message that says so, which a
/// "too complex" answer did not. It is the default page cap.
const COST_PAGE_CAP: i32 = 500;

/// The cost of a list field: its page size (50 when not given, capped at
/// [`COST_PAGE_CAP`]) times the cost of one entry, so that the complexity
/// limit bounds the rows a query can ask for.
pub fn list_cost(page_size: Option<i32>, child: usize) -> usize {
    (page_size.unwrap_or(50).clamp(1, COST_PAGE_CAP) as usize).saturating_mul(child)
}

/// The bounds on one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Most bytes of its text.
    pub max_bytes: usize,
    /// Most tokens of its text.
    pub max_tokens: usize,
    /// Most fields at the top of one operation, through fragments.
    pub max_root_fields: usize,
    /// Most aliased fields in the whole document.
    pub max_aliases: usize,
}

// Written here rather than in `config`, so that the settings need not know
// the GraphQL layer that reads them.
impl LimitsConfig {
    /// The bounds on one GraphQL document these settings ask for.
    pub fn documents(&self) -> DocumentLimits {
        DocumentLimits {
            max_bytes: self.max_query_bytes,
            max_tokens: self.max_query_tokens,
            max_root_fields: self.max_root_fields,
            max_aliases: self.max_aliases,
        }
    }
}

impl Default for DocumentLimits {
    fn default() -> Self {
        LimitsConfig::default().documents()
    }
}

/// A request error with code QUERY_TOO_LARGE.
fn too_large(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::QueryTooLarge.as_str());
    error
}

/// Refuses a document whose text is too long or has too many tokens, before
/// it is parsed: a parsed document takes about 200 bytes per token (1 MB of
/// `a a a …` parsed to 110 MB), so the token count bounds its memory.
pub fn check_text(query: &str, limits: &DocumentLimits) -> ServerResult<()> {
    if query.len() > limits.max_bytes {
        return Err(too_large(format!(
            "the document is {} bytes; at most {} are accepted",
            query.len(),
            limits.max_bytes
        )));
    }
    if count_tokens(query, limits.max_tokens) > limits.max_tokens {
        return Err(too_large(format!(
            "the document has more than {} tokens",
            limits.max_tokens
        )));
    }
    Ok(())
}

/// Refuses a parsed document with an operation of too many root fields, or
/// too many aliases, before it is validated or run.
pub fn check_document(doc: &ExecutableDocument, limits: &DocumentLimits) -> ServerResult<()> {
    for (_, operation) in doc.operations.iter() {
        let fields = root_fields(doc, &operation.node.selection_set.node, &mut HashSet::new());
        if fields > limits.max_root_fields {
            return Err(too_large(format!(
                "an operation may select at most {} root fields; this one selects {fields}",
                limits.max_root_fields
            )));
        }
    }
    let aliases: usize = doc
        .operations
        .iter()
        .map(|(_, op)| aliases(&op.node.selection_set.node))
        .chain(
            doc.fragments
                .values()
                .map(|f| aliases(&f.node.selection_set.node)),
        )
        .sum();
    if aliases > limits.max_aliases {
        return Err(too_large(format!(
            "a document may hold at most {} aliases; this one holds {aliases}",
            limits.max_aliases
        )));
    }
    Ok(())
}

/// The fields of `set` at its own level, through inline fragments and named
/// ones (each named fragment counted once, so a cycle ends).
fn root_fields<'d>(
    doc: &'d ExecutableDocument,
    set: &'d SelectionSet,
    seen: &mut HashSet<&'d str>,
) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                root_fields(doc, &fragment.node.selection_set.node, seen)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if seen.insert(name) => {
                        root_fields(doc, &fragment.node.selection_set.node, seen)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// The aliased fields of `set`, at any depth (named fragments are counted
/// where they are defined).
fn aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// The GraphQL tokens of `text` (names, numbers, strings, punctuators;
/// whitespace, commas and comments are not tokens), counted up to one past
/// `stop_after`. Cheaper than parsing, and never lower than the parser's
/// count for a document that parses: runs of name and number characters
/// are one token, and anything else is a token per byte.
pub fn count_tokens(text: &str, stop_after: usize) -> usize {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.');
    let mut i = 0;
    let mut tokens = 0;
    while i < bytes.len() && tokens <= stop_after {
        let rest = &bytes[i..];
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
                continue;
            }
            b'"' if rest.starts_with(br#"""""#) => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(br#"""""#) {
                    // An escaped delimiter does not end the block.
                    i += if bytes[i..].starts_with(br#"\""""#) {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'.' if rest.starts_with(b"...") => i += 3,
            b if word(b) && b != b'.' => {
                while i < bytes.len() && word(bytes[i]) && !bytes[i..].starts_with(b"...") {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        tokens += 1;
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_as_graphql_reads_them() {
        let count = |text: &str| count_tokens(text, usize::MAX);
        assert_eq!(count("{ a }"), 3);
        assert_eq!(count("query Q($x: Int = -1.5e+3) { a(x: $x) }"), 19);
        assert_eq!(count("{ ...F } fragment F on Q { b }"), 11);
        assert_eq!(count(r#"{ a(s: "x, y { } # z") }"#), 8);
        assert_eq!(count("{ a(s: \"\"\"many \\\"\"\" { words }\"\"\") }"), 8);
        assert_eq!(count("# only a comment\n,,,  \t"), 0);
        assert_eq!(count(&"a ".repeat(1000)), 1000);
        assert_eq!(count_tokens(&"a ".repeat(1000), 10), 11, "stops early");
    }

    #[test]
    fn root_fields_are_counted_through_fragments_and_aliases_everywhere() {
        let limits = DocumentLimits {
            max_root_fields: 3,
            max_aliases: 2,
            ..DocumentLimits::default()
        };
        let check = |text: &str| {
            let doc = async_graphql::parser::parse_query(text).unwrap();
            check_document(&doc, &limits).map_err(|e| e.message)
        };
        assert!(check("{ a b ...F } fragment F on Q { c }").is_ok());
        assert!(check("{ a b ...F } fragment F on Q { c d }").is_err());
        assert!(check("{ a ... on Q { b ... on Q { c d } } }").is_err());
        assert!(
            check("{ ...F } fragment F on Q { a ...F }").is_ok(),
            "a cycle ends"
        );
        assert!(check("{ x: a { y: b } }").is_ok());
        assert!(check("{ x: a { y: b } ...F } fragment F on Q { z: c }").is_err());
    }

    #[test]
    fn text_is_refused_by_size_and_by_tokens() {
        let limits = DocumentLimits {
            max_bytes: 100,
            max_tokens: 10,
            ..DocumentLimits::default()
        };
        assert!(check_text("{ a b c }", &limits).is_ok());
        assert!(check_text(&format!("{{ {} }}", "a ".repeat(9)), &limits).is_err());
        assert!(check_text(&format!("{{ a(s: \"{}\") }}", "x".repeat(100)), &limits).is_err());
    }
}

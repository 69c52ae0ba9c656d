//! What one GraphQL document may ask for, checked before anything runs: its
//! size and token count, before it is parsed. The depth and complexity
//! limits are applied in [`super::build_schema`].

use async_graphql::{ServerError, ServerResult};

use super::error::QUERY_TOO_LARGE;

/// The bounds on one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Most bytes of its text.
    pub max_bytes: usize,
    /// Most tokens of its text.
    pub max_tokens: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_tokens: 10_000,
        }
    }
}

/// A request error with code QUERY_TOO_LARGE.
fn too_large(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", QUERY_TOO_LARGE);
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
    fn text_is_refused_by_size_and_by_tokens() {
        let limits = DocumentLimits {
            max_bytes: 100,
            max_tokens: 10,
        };
        assert!(check_text("{ a b c }", &limits).is_ok());
        assert!(check_text(&format!("{{ {} }}", "a ".repeat(9)), &limits).is_err());
        assert!(check_text(&format!("{{ a(s: \"{}\") }}", "x".repeat(100)), &limits).is_err());
    }
}

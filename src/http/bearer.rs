//! The caller's credentials, read from the request the same way by every handler.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::service::ErrorCode;

/// The request's `Authorization` header as sent (`Bearer <token>`), or
/// `None` without one; [`crate::auth::Authenticator`] judges what it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization(pub Option<String>);

impl Authorization {
    /// The header's value, for [`crate::auth::Authenticator::authenticate`].
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// An `Authorization` header that is not text: no token could be in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadableAuthorization;

impl IntoResponse for UnreadableAuthorization {
    fn into_response(self) -> Response {
        // A bare header would otherwise read as "no token" and the request
        // run as an anonymous caller, hiding the client's mistake.
        let body = json!({ "errors": [{
            "message": "the Authorization header must be visible ASCII text: \"Bearer <token>\"",
            "extensions": { "code": ErrorCode::BadRequest.as_str() },
        }]});
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authorization {
    type Rejection = UnreadableAuthorization;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(header::AUTHORIZATION) {
            None => Ok(Self(None)),
            Some(value) => value
                .to_str()
                .map(|text| Self(Some(text.to_owned())))
                .map_err(|_| UnreadableAuthorization),
        }
    }
}

/// The `WWW-Authenticate` challenge for a refused request (RFC 6750, 3):
/// a bare `Bearer` when no token came, else `invalid_token` with the reason.
pub fn challenge(refused: &AuthError) -> HeaderValue {
    if *refused == AuthError::Missing {
        return HeaderValue::from_static("Bearer");
    }
    // A quoted-string holds visible ASCII only, and the reason may quote
    // the token's own claims.
    let reason: String = refused
        .to_string()
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect();
    HeaderValue::from_str(&format!(
        "Bearer error=\"invalid_token\", error_description=\"{reason}\""
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Request};

    async fn extract(value: Option<HeaderValue>) -> Result<Authorization, UnreadableAuthorization> {
        let mut request = Request::builder();
        if let Some(value) = value {
            request = request.header(header::AUTHORIZATION, value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        Authorization::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn reads_the_header_as_sent_and_refuses_one_that_is_not_text() {
        assert_eq!(extract(None).await, Ok(Authorization(None)));
        assert_eq!(
            extract(Some(HeaderValue::from_static("Bearer abc"))).await,
            Ok(Authorization(Some("Bearer abc".into())))
        );
        let binary = HeaderValue::from_bytes(b"Bearer \xff").unwrap();
        let refused = extract(Some(binary)).await.unwrap_err();
        assert_eq!(refused.into_response().status(), StatusCode::BAD_REQUEST);
    }
}

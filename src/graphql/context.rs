//! What a resolver needs from the request: the service and who is calling.

use async_graphql::{Context, Result};
use chrono::Utc;

use super::error::coded;
use crate::auth::{AuthError, Identity};
use crate::service::{ActivityFeed, Caller, ErrorCode};

/// The outcome of authenticating the request (or websocket), attached by the HTTP layer.
#[derive(Debug, Clone)]
pub struct Authentication(pub Result<Identity, AuthError>);

/// The service and the authenticated caller, or UNAUTHENTICATED.
pub fn service<'a>(ctx: &Context<'a>) -> Result<(&'a ActivityFeed, Caller)> {
    Ok((ctx.data::<ActivityFeed>()?, identity(ctx)?.caller))
}

/// The request's identity, or UNAUTHENTICATED; a token that expired while a
/// websocket stayed open counts as expired.
pub fn identity(ctx: &Context<'_>) -> Result<Identity> {
    let outcome = match ctx.data_opt::<Authentication>() {
        Some(Authentication(outcome)) => outcome.clone(),
        None => Err(AuthError::Missing),
    };
    let identity = outcome.map_err(|e| coded(ErrorCode::Unauthenticated, e.to_string()))?;
    if identity.expires_at.is_some_and(|exp| exp < Utc::now()) {
        return Err(coded(
            ErrorCode::Unauthenticated,
            AuthError::Expired.to_string(),
        ));
    }
    Ok(identity)
}

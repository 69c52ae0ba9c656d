//! The write side of the API.

use async_graphql::{Context, Object, Result};

use super::context::service;
use super::error::{service_error, IntoGraphql};
use super::types::{
    Activity, FieldError, LogInput, LogPayload, LogUserChangeInput, LogUserChangePayload,
    PruneResult, User, UserInput,
};
use crate::service::{self, RequestContext, ServiceError};

/// Where the request came from, as the HTTP layer attached it: only when the
/// deployment records request context.
fn request_context(ctx: &Context<'_>) -> RequestContext {
    ctx.data_opt::<RequestContext>()
        .cloned()
        .unwrap_or_default()
}

/// An input as the service takes it, with the request's context stamped on.
fn new_activity(input: LogInput, context: &RequestContext) -> service::NewActivity {
    let mut input = service::NewActivity::from(input);
    context.apply(&mut input);
    input
}

/// The code given to valid entries of a batch that was refused because of others.
pub const BATCH_REJECTED: &str = "BATCH_REJECTED";

/// Write operations on the activity feed.
#[derive(Default)]
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Logs one activity. Invalid input comes back in `errors`, and nothing is written.
    async fn log(&self, ctx: &Context<'_>, input: LogInput) -> Result<LogPayload> {
        let (feed, caller) = service(ctx)?;
        let input = new_activity(input, &request_context(ctx));
        match feed.log(&caller, input).await {
            Ok(row) => Ok(LogPayload {
                activity: Some(Activity::exact(row)),
                errors: Vec::new(),
            }),
            Err(ServiceError::Invalid(errors)) => Ok(LogPayload {
                activity: None,
                errors: errors.into_iter().map(Into::into).collect(),
            }),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Logs many activities in one transaction: all are written, or, when any
    /// is invalid, none is and each payload says why. A `correlationId` (1 to
    /// 100 characters) is stamped on every entry; an entry naming another is refused.
    async fn log_batch(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<LogInput>,
        correlation_id: Option<String>,
    ) -> Result<Vec<LogPayload>> {
        let (feed, caller) = service(ctx)?;
        let context = request_context(ctx);
        let inputs: Vec<service::NewActivity> = inputs
            .into_iter()
            .map(|input| new_activity(input, &context))
            .collect();
        match feed
            .log_correlated_batch(&caller, correlation_id.as_deref(), inputs)
            .await
        {
            Ok(rows) => Ok(rows
                .into_iter()
                .map(|row| LogPayload {
                    activity: Some(Activity::exact(row)),
                    errors: Vec::new(),
                })
                .collect()),
            Err(ServiceError::InvalidBatch(per_input)) => Ok(batch_refusal(per_input)),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Logs the fields of a person that really changed, as one activity whose
    /// metadata holds "<field>_from"/"<field>_to" pairs; logs nothing when none changed.
    async fn log_user_change(
        &self,
        ctx: &Context<'_>,
        input: LogUserChangeInput,
    ) -> Result<LogUserChangePayload> {
        let (feed, caller) = service(ctx)?;
        let mut change = service::UserChange::from(input);
        change.context = request_context(ctx);
        match feed.log_user_change(&caller, change).await {
            Ok(outcome) => Ok(LogUserChangePayload {
                changed: outcome.activity.is_some(),
                activity: outcome.activity.map(Activity::exact),
                errors: Vec::new(),
            }),
            Err(ServiceError::Invalid(errors)) => Ok(LogUserChangePayload {
                changed: false,
                activity: None,
                errors: errors.into_iter().map(Into::into).collect(),
            }),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Deletes activities stored more than `days` days ago (days > 0).
    async fn prune(&self, ctx: &Context<'_>, days: i64) -> Result<PruneResult> {
        let (feed, caller) = service(ctx)?;
        let result = feed.prune(&caller, days).await.graphql()?;
        Ok(PruneResult {
            deleted: result.deleted,
            cutoff: result.cutoff,
        })
    }

    /// Inserts or updates people by uuid; returns them as stored.
    async fn upsert_users(&self, ctx: &Context<'_>, inputs: Vec<UserInput>) -> Result<Vec<User>> {
        let (feed, caller) = service(ctx)?;
        let users = feed
            .upsert_users(&caller, inputs.into_iter().map(Into::into).collect())
            .await
            .graphql()?;
        Ok(users.into_iter().map(User).collect())
    }
}

/// One payload per input of a refused batch: its own errors, or a note that
/// it was not written because of another entry.
fn batch_refusal(per_input: Vec<Vec<service::FieldError>>) -> Vec<LogPayload> {
    let culprit = per_input.iter().position(|e| !e.is_empty()).unwrap_or(0);
    per_input
        .into_iter()
        .map(|errors| LogPayload {
            activity: None,
            errors: if errors.is_empty() {
                vec![FieldError {
                    field: "inputs".into(),
                    message: format!("not written: entry {culprit} of this batch is invalid"),
                    code: BATCH_REJECTED.into(),
                }]
            } else {
                errors.into_iter().map(Into::into).collect()
            },
        })
        .collect()
}

//! The write side of the API.

use async_graphql::{Context, Object, Result};

use super::chain::ForgetPersonPayload;
use super::context::service;
use super::error::{service_error, user_errors, IntoGraphql};
use super::input::{LogInput, LogUserChangeInput, UserInput};
use super::payload::{
    FieldError, LogActivitiesPayload, LogPayload, LogUserChangePayload, PruneActivitiesPayload,
    PruneResult, SaveUsersPayload,
};
use super::scalars::DateTime;
use super::types::{Activity, User};
use crate::service::{self, ErrorCode, RequestContext, ServiceError};

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

/// Write operations on the activity feed.
#[derive(Default)]
pub struct MutationRoot;

/// Write operations: log activities and changes of people, store people, prune.
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Logs one activity. Invalid input comes back in `userErrors`, and nothing is written.
    async fn log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The activity to log.")] input: LogInput,
    ) -> Result<LogPayload> {
        let (feed, caller) = service(ctx)?;
        let input = new_activity(input, &request_context(ctx));
        match feed.log(&caller, input).await {
            Ok(logged) => Ok(LogPayload {
                replayed: logged.replayed,
                activity: Some(Activity::exact(logged.activity)),
                user_errors: Vec::new(),
                errors: Vec::new(),
            }),
            Err(ServiceError::Invalid(errors)) => Ok(LogPayload {
                activity: None,
                replayed: false,
                user_errors: user_errors(&["input"], ServiceError::Invalid(errors.clone()))?,
                errors: errors.into_iter().map(Into::into).collect(),
            }),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Logs many activities in one transaction: all are written, or, when any
    /// is invalid, none is and each payload says why. A `correlationId` (1 to
    /// 100 characters) is stamped on every entry; an entry naming another is refused.
    #[graphql(deprecation = "Use `logActivities`, whose userErrors carry each entry's index.")]
    async fn log_batch(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The activities to log, in order.")] inputs: Vec<LogInput>,
        #[graphql(desc = "Stamped on every entry; 1 to 100 characters.")] correlation_id: Option<
            String,
        >,
    ) -> Result<Vec<LogPayload>> {
        let (feed, caller) = service(ctx)?;
        match log_all(ctx, feed, &caller, inputs, correlation_id).await {
            Ok(logged) => Ok(logged
                .into_iter()
                .map(|logged| LogPayload {
                    replayed: logged.replayed,
                    activity: Some(Activity::exact(logged.activity)),
                    user_errors: Vec::new(),
                    errors: Vec::new(),
                })
                .collect()),
            Err(ServiceError::InvalidBatch(per_input)) => Ok(batch_refusal(per_input)),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Logs many activities in one transaction: all are written, or, when any
    /// is invalid, none is and `userErrors` says which and why. A
    /// `correlationId` (1 to 100 characters) is stamped on every entry; an
    /// entry naming another is refused.
    async fn log_activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The activities to log, in order; at most the batch cap (1000 by default)."
        )]
        inputs: Vec<LogInput>,
        #[graphql(desc = "Stamped on every entry; 1 to 100 characters.")] correlation_id: Option<
            String,
        >,
    ) -> Result<LogActivitiesPayload> {
        let (feed, caller) = service(ctx)?;
        Ok(
            match log_all(ctx, feed, &caller, inputs, correlation_id).await {
                Ok(logged) => LogActivitiesPayload {
                    activities: logged
                        .into_iter()
                        .map(|l| Activity::exact(l.activity))
                        .collect(),
                    user_errors: Vec::new(),
                },
                Err(e) => LogActivitiesPayload {
                    activities: Vec::new(),
                    user_errors: user_errors(&[], e)?,
                },
            },
        )
    }

    /// Logs the fields of a person that really changed, as one activity whose
    /// metadata holds "<field>_from"/"<field>_to" pairs; logs nothing when
    /// none changed. The keys email, firstName/first_name and
    /// lastName/last_name compare against the stored person (when `before`
    /// is omitted) and are logged in snake_case; other keys compare against
    /// `before` only.
    async fn log_user_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The change to log.")] input: LogUserChangeInput,
    ) -> Result<LogUserChangePayload> {
        let (feed, caller) = service(ctx)?;
        let mut change = service::UserChange::from(input);
        change.context = request_context(ctx);
        match feed.log_user_change(&caller, change).await {
            Ok(outcome) => Ok(LogUserChangePayload {
                changed: outcome.activity.is_some(),
                activity: outcome.activity.map(Activity::exact),
                user_errors: Vec::new(),
                errors: Vec::new(),
            }),
            Err(ServiceError::Invalid(errors)) => Ok(LogUserChangePayload {
                changed: false,
                activity: None,
                user_errors: user_errors(&["input"], ServiceError::Invalid(errors.clone()))?,
                errors: errors.into_iter().map(Into::into).collect(),
            }),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Deletes activities stored more than `days` days ago (days > 0).
    #[graphql(deprecation = "Use `pruneActivities`, which answers bad input in userErrors.")]
    async fn prune(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Delete what is older than this many days; at least 1.")] days: i64,
    ) -> Result<PruneResult> {
        let (feed, caller) = service(ctx)?;
        let result = feed.prune(&caller, days).await.graphql()?;
        Ok(PruneResult {
            deleted: result.deleted,
            cutoff: DateTime(result.cutoff),
        })
    }

    /// Deletes activities stored more than `days` days ago.
    async fn prune_activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Delete what is older than this many days; at least 1.")] days: i64,
    ) -> Result<PruneActivitiesPayload> {
        let (feed, caller) = service(ctx)?;
        Ok(match feed.prune(&caller, days).await {
            Ok(result) => PruneActivitiesPayload {
                deleted: Some(result.deleted),
                cutoff: Some(DateTime(result.cutoff)),
                user_errors: Vec::new(),
            },
            Err(e) => PruneActivitiesPayload {
                deleted: None,
                cutoff: None,
                user_errors: user_errors(&[], e)?,
            },
        })
    }

    /// Erases a person (admin only): deletes their stored person, replaces
    /// their uuid with a new random pseudonym wherever it stands, clears the
    /// IP address and user agent of what they did, and replaces their known
    /// emails and names in metadata with "[ERASED]"; logs one
    /// `person.forgotten` entry. The log still verifies, with those fields
    /// reported as erased. Calling it again finds nothing and writes nothing.
    async fn forget_person(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person's uuid.")] uuid: uuid::Uuid,
        #[graphql(
            desc = "Why, stored in the `person.forgotten` entry: 1 to 1000 characters, and no personal data."
        )]
        reason: String,
    ) -> Result<ForgetPersonPayload> {
        let (feed, caller) = service(ctx)?;
        Ok(match feed.forget_person(&caller, uuid, &reason).await {
            Ok(forgotten) => forgotten.into(),
            Err(e) => ForgetPersonPayload {
                found: false,
                pseudonym: None,
                rewritten: 0,
                activity: None,
                user_errors: user_errors(&[], e)?,
            },
        })
    }

    /// Inserts or updates people by uuid; returns them as stored.
    #[graphql(deprecation = "Use `saveUsers`, which answers bad input in userErrors.")]
    async fn upsert_users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The people as the host platform knows them now.")] inputs: Vec<UserInput>,
    ) -> Result<Vec<User>> {
        let (feed, caller) = service(ctx)?;
        let users = feed
            .upsert_users(&caller, inputs.into_iter().map(Into::into).collect())
            .await
            .graphql()?;
        Ok(users.into_iter().map(User).collect())
    }

    /// Inserts or updates people by uuid, all or none; returns them as stored.
    async fn save_users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The people as the host platform knows them now; at most the batch cap.")]
        inputs: Vec<UserInput>,
    ) -> Result<SaveUsersPayload> {
        let (feed, caller) = service(ctx)?;
        let inputs = inputs.into_iter().map(Into::into).collect();
        Ok(match feed.upsert_users(&caller, inputs).await {
            Ok(users) => SaveUsersPayload {
                users: users.into_iter().map(User).collect(),
                user_errors: Vec::new(),
            },
            Err(e) => SaveUsersPayload {
                users: Vec::new(),
                user_errors: user_errors(&[], e)?,
            },
        })
    }
}

/// Logs a batch, with the request's context and the batch's correlation id.
async fn log_all(
    ctx: &Context<'_>,
    feed: &service::ActivityFeed,
    caller: &service::Caller,
    inputs: Vec<LogInput>,
    correlation_id: Option<String>,
) -> Result<Vec<service::Logged>, ServiceError> {
    let context = request_context(ctx);
    let inputs: Vec<service::NewActivity> = inputs
        .into_iter()
        .map(|input| new_activity(input, &context))
        .collect();
    feed.log_correlated_batch(caller, correlation_id.as_deref(), inputs)
        .await
}

/// One payload per input of a refused batch: its own errors, or a note that
/// it was not written because of another entry.
fn batch_refusal(per_input: Vec<Vec<service::FieldError>>) -> Vec<LogPayload> {
    let culprit = per_input.iter().position(|e| !e.is_empty()).unwrap_or(0);
    per_input
        .into_iter()
        .map(|errors| LogPayload {
            activity: None,
            replayed: false,
            user_errors: Vec::new(),
            errors: if errors.is_empty() {
                vec![FieldError {
                    field: "inputs".into(),
                    message: format!("not written: entry {culprit} of this batch is invalid"),
                    code: ErrorCode::BatchRejected.as_str().into(),
                }]
            } else {
                errors.into_iter().map(Into::into).collect()
            },
        })
        .collect()
}

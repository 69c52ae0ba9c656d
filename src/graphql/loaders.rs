//! Batching loaders, so a page of activities costs one users query however
//! many actors, targets and resource users it shows.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::user;
use sea_orm::DbErr;
use uuid::Uuid;

use crate::service::{ActivityFeed, ServiceError};

/// Loads people by uuid, one `IN` query per batch.
pub struct UserLoader(pub ActivityFeed);

impl Loader<Uuid> for UserLoader {
    type Value = user::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        match self.0.users(keys).await {
            Ok(users) => Ok(users.into_iter().map(|u| (u.uuid, u)).collect()),
            Err(ServiceError::Database(e)) => Err(Arc::new(e)),
            Err(other) => Err(Arc::new(DbErr::Custom(other.to_string()))),
        }
    }
}

use std::collections::HashMap;

use entity::user::{self, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::clock::now;
use super::validate::NUL_REFUSED;
use super::{ActivityFeed, Caller, FieldError, Operation, Result, ServiceError};

/// A person as the host platform knows them now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    /// The host platform's id.
    pub uuid: Uuid,
    /// Contact address; at most 320 characters.
    pub email: Option<String>,
    /// Given name; at most 100 characters.
    pub first_name: Option<String>,
    /// Family name; at most 100 characters.
    pub last_name: Option<String>,
}

impl NewUser {
    /// Every rule this input breaks.
    fn validate(&self) -> Vec<FieldError> {
        let fields = [
            ("email", &self.email, 320),
            ("firstName", &self.first_name, 100),
            ("lastName", &self.last_name, 100),
        ];
        fields
            .into_iter()
            .filter_map(|(f, v, max)| {
                let v = v.as_deref()?;
                if v.chars().count() > max {
                    Some(FieldError::invalid(
                        f,
                        format!("must be at most {max} characters"),
                    ))
                } else if v.contains('\0') {
                    Some(FieldError::invalid(f, NUL_REFUSED))
                } else {
                    None
                }
            })
            .collect()
    }
}

impl ActivityFeed {
    /// Inserts or updates people by uuid and returns them as stored.
    ///
    /// A uuid given twice takes its last entry. All or nothing.
    #[tracing::instrument(skip_all, fields(count = inputs.len()))]
    pub async fn upsert_users(
        &self,
        caller: &Caller,
        inputs: Vec<NewUser>,
    ) -> Result<Vec<user::Model>> {
        caller.require(Operation::UpsertUsers)?;
        if inputs.len() > self.limits.max_batch_size {
            return Err(ServiceError::invalid(
                "inputs",
                format!("at most {} entries per batch", self.limits.max_batch_size),
            ));
        }
        let errors: Vec<Vec<FieldError>> = inputs.iter().map(NewUser::validate).collect();
        if errors.iter().any(|e| !e.is_empty()) {
            return Err(ServiceError::InvalidBatch(errors));
        }
        // PostgreSQL refuses to update one row twice in one statement.
        let mut order = Vec::new();
        let mut latest: HashMap<Uuid, NewUser> = HashMap::new();
        for input in inputs {
            if latest.insert(input.uuid, input.clone()).is_none() {
                order.push(input.uuid);
            }
        }
        if order.is_empty() {
            return Ok(Vec::new());
        }
        let at = now();
        let models = order.iter().map(|id| {
            let u = &latest[id];
            user::ActiveModel {
                uuid: Set(u.uuid),
                email: Set(u.email.clone()),
                first_name: Set(u.first_name.clone()),
                last_name: Set(u.last_name.clone()),
                inserted_at: Set(at),
            }
        });
        Entity::insert_many(models)
            .on_conflict(
                OnConflict::column(Column::Uuid)
                    .update_columns([Column::Email, Column::FirstName, Column::LastName])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        let mut stored: HashMap<Uuid, user::Model> = self
            .users(&order)
            .await?
            .into_iter()
            .map(|u| (u.uuid, u))
            .collect();
        Ok(order.iter().filter_map(|id| stored.remove(id)).collect())
    }

    /// The people with these uuids, in no particular order; unknown ones are left out.
    /// For resolving the people of activities the caller may already see.
    pub async fn users(&self, uuids: &[Uuid]) -> Result<Vec<user::Model>> {
        Ok(Entity::find()
            .filter(Column::Uuid.is_in(uuids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// The people with these uuids that `caller` may see, in no particular
    /// order; unknown and hidden ones are left out.
    pub async fn users_for(&self, caller: &Caller, uuids: &[Uuid]) -> Result<Vec<user::Model>> {
        caller.require(Operation::Read)?;
        super::query::check_uuid_count(uuids)?;
        let visible: Vec<Uuid> = uuids
            .iter()
            .copied()
            .filter(|u| caller.sees_user(*u))
            .collect();
        if visible.is_empty() {
            return Ok(Vec::new());
        }
        self.users(&visible).await
    }

    /// One person by uuid; `None` when unknown or when the caller may not see them.
    pub async fn user(&self, caller: &Caller, uuid: Uuid) -> Result<Option<user::Model>> {
        caller.require(Operation::Read)?;
        if !caller.sees_user(uuid) {
            return Ok(None);
        }
        Ok(Entity::find_by_id(uuid).one(&self.db).await?)
    }
}

/// The longest `search` [`ActivityFeed::search_users`] takes, in characters.
pub const MAX_USER_SEARCH_CHARS: usize = 100;
/// How many words a `search` may hold.
pub const MAX_USER_SEARCH_WORDS: usize = 8;
/// How many people one search page holds at most.
pub const MAX_USER_SEARCH_PAGE: u64 = 50;

/// One page of [`ActivityFeed::search_users`]: people in uuid order.
#[derive(Debug, Clone, Default)]
pub struct UserSlice {
    /// The people found, by uuid ascending.
    pub users: Vec<user::Model>,
    /// Whether more people match after the last one.
    pub has_next_page: bool,
}

/// A `LIKE` pattern matching `word` anywhere, with its own `%`, `_` and `\` taken literally.
fn contains_pattern(word: &str) -> String {
    let mut pattern = String::with_capacity(word.len() + 2);
    pattern.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl ActivityFeed {
    /// The people `caller` may see whose name or email holds every word of
    /// `search` (case-insensitive, anywhere in first name, last name or
    /// email), or whose uuid it is; an empty search lists everyone the caller
    /// may see. Keyset-paged by uuid: `after` is the last uuid of the
    /// previous page. Users see at most themselves, as with [`Self::user`].
    pub async fn search_users(
        &self,
        caller: &Caller,
        search: &str,
        first: u64,
        after: Option<Uuid>,
    ) -> Result<UserSlice> {
        caller.require(Operation::Read)?;
        let search = search.trim();
        if search.chars().count() > MAX_USER_SEARCH_CHARS {
            return Err(ServiceError::invalid(
                "search",
                format!("must be at most {MAX_USER_SEARCH_CHARS} characters"),
            ));
        }
        if search.contains('\0') {
            return Err(ServiceError::invalid("search", NUL_REFUSED));
        }
        let words: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
        if words.len() > MAX_USER_SEARCH_WORDS {
            return Err(ServiceError::invalid(
                "search",
                format!("must hold at most {MAX_USER_SEARCH_WORDS} words"),
            ));
        }
        if first > MAX_USER_SEARCH_PAGE {
            return Err(ServiceError::invalid(
                "first",
                format!("must be between 0 and {MAX_USER_SEARCH_PAGE}"),
            ));
        }
        let mut condition = Condition::all();
        if let Some(me) = caller.confined_to() {
            condition = condition.add(Column::Uuid.eq(me));
        }
        if let Some(after) = after {
            condition = condition.add(Column::Uuid.gt(after));
        }
        let by_uuid = Uuid::parse_str(search).ok();
        let mut text = Condition::all();
        for word in &words {
            let pattern = contains_pattern(word);
            let mut any = Condition::any();
            for column in [Column::Email, Column::FirstName, Column::LastName] {
                any = any.add(
                    Expr::expr(Func::lower(Expr::col(column)))
                        .like(LikeExpr::new(pattern.clone()).escape('\\')),
                );
            }
            text = text.add(any);
        }
        condition = condition.add(match by_uuid {
            Some(uuid) => Condition::any().add(Column::Uuid.eq(uuid)).add(text),
            None => text,
        });
        if first == 0 {
            // Reads nothing, and still says whether anyone matches.
            let any = Entity::find().filter(condition).one(&self.db).await?;
            return Ok(UserSlice {
                users: Vec::new(),
                has_next_page: any.is_some(),
            });
        }
        let mut users = Entity::find()
            .filter(condition)
            .order_by_asc(Column::Uuid)
            .limit(first + 1)
            .all(&self.db)
            .await?;
        let has_next_page = users.len() as u64 > first;
        users.truncate(first as usize);
        Ok(UserSlice {
            users,
            has_next_page,
        })
    }
}

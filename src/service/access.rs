//! Who may do what. Every service call takes the [`Caller`], and this module
//! alone decides what the caller may write and which activities it may see,
//! so lists, single reads, counts, distinct lists and live streams cannot drift apart.

use entity::activity::{self, Column};
use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use super::{Result, ServiceError};

/// The roles a caller can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including pruning, verifying the log and erasing people.
    Admin,
    /// A trusted producer: writes activities and people, reads the whole log.
    Service,
    /// A person: reads only the activities they performed, writes nothing.
    User,
}

impl Role {
    /// The role's name in tokens and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Service => "service",
            Role::User => "user",
        }
    }

    /// Reads a role name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Role::Admin),
            "service" => Some(Role::Service),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// The kinds of operation the role table speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Reading activities (scoped for users) and the configuration.
    Read,
    /// `log`, `logBatch`, `logUserChange`.
    Log,
    /// `upsertUsers`.
    UpsertUsers,
    /// `prune`.
    Prune,
    /// `verifyLog`: recomputing the hash chain.
    Verify,
    /// `forgetPerson`: erasing a person.
    Forget,
    /// `GET /metrics`: the server's Prometheus metrics, which describe every
    /// caller's traffic and so are for operators alone.
    ReadMetrics,
}

/// Who is calling the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller {
    /// What the caller may do.
    pub role: Role,
    /// The caller's own uuid: required for users, optional for the others.
    pub subject: Option<Uuid>,
}

impl Caller {
    /// The process itself (CLI, background jobs, open development mode): an admin without identity.
    pub const SYSTEM: Caller = Caller {
        role: Role::Admin,
        subject: None,
    };

    /// A person with their uuid.
    pub fn user(uuid: Uuid) -> Self {
        Self {
            role: Role::User,
            subject: Some(uuid),
        }
    }

    /// Whether the role table allows `op`.
    pub fn allows(&self, op: Operation) -> bool {
        match (self.role, op) {
            (Role::Admin, _) => true,
            (
                Role::Service,
                Operation::Prune | Operation::Verify | Operation::Forget | Operation::ReadMetrics,
            ) => false,
            (Role::Service, _) => true,
            (Role::User, Operation::Read) => true,
            (Role::User, _) => false,
        }
    }

    /// Refuses `op` unless the role table allows it.
    pub fn require(&self, op: Operation) -> Result<()> {
        if self.allows(op) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "the {} role may not {}",
                self.role.as_str(),
                match op {
                    Operation::Read => "read",
                    Operation::Log => "log activities",
                    Operation::UpsertUsers => "change users",
                    Operation::Prune => "prune",
                    Operation::Verify => "verify the log",
                    Operation::Forget => "erase a person",
                    Operation::ReadMetrics => "read the metrics",
                }
            )))
        }
    }

    /// The activities this caller may see, as a SQL condition.
    pub fn visible(&self) -> Condition {
        match self.confined_to() {
            Some(me) => Condition::all().add(Column::ActorUuid.eq(me)),
            None => Condition::all(),
        }
    }

    /// Whether this caller may see `row`: the same rule as [`Self::visible`].
    pub fn sees(&self, row: &activity::Model) -> bool {
        self.confined_to()
            .is_none_or(|me| row.actor_uuid == Some(me))
    }

    /// Whether this caller may see the person `uuid`: users see only themselves.
    pub fn sees_user(&self, uuid: Uuid) -> bool {
        self.confined_to().is_none_or(|me| me == uuid)
    }

    /// The actor a user is confined to; `None` for roles that see everything.
    pub fn confined_to(&self) -> Option<Uuid> {
        match self.role {
            // A user without a uuid sees nothing: confine them to the nil uuid.
            Role::User => Some(self.subject.unwrap_or(Uuid::nil())),
            Role::Admin | Role::Service => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_admin_reads_the_metrics() {
        assert!(Caller::SYSTEM.allows(Operation::ReadMetrics));
        let service = Caller {
            role: Role::Service,
            subject: None,
        };
        assert!(!service.allows(Operation::ReadMetrics));
        assert!(!Caller::user(Uuid::now_v7()).allows(Operation::ReadMetrics));
        assert_eq!(
            service
                .require(Operation::ReadMetrics)
                .unwrap_err()
                .to_string(),
            "forbidden: the service role may not read the metrics"
        );
    }

    #[test]
    fn role_table() {
        use Operation::*;
        let admin = Caller {
            role: Role::Admin,
            subject: None,
        };
        let service = Caller {
            role: Role::Service,
            subject: None,
        };
        let user = Caller::user(Uuid::now_v7());
        for op in [Read, Log, UpsertUsers, Prune, Verify, Forget] {
            assert!(admin.allows(op));
        }
        assert!(service.allows(Read) && service.allows(Log) && service.allows(UpsertUsers));
        for op in [Prune, Verify, Forget] {
            assert!(!service.allows(op) && !user.allows(op), "{op:?}");
        }
        assert!(user.allows(Read));
        assert!(!user.allows(Log) && !user.allows(UpsertUsers));
    }
}

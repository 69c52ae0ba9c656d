//! A PostgreSQL cluster of the suite's own (`.ci/private-pg` starts it),
//! for the tests that restart PostgreSQL or hold a transaction open for
//! long: on a shared server they would break or stall every other test,
//! since an open transaction holds back live delivery server-wide. These
//! tests take turns, and without `TEST_PRIVATE_DATABASE_URL` and
//! `TEST_PRIVATE_PGDATA` they say `SKIPPED <name>` and return.

use tokio::process::Command;
use tokio::sync::{Mutex, MutexGuard};

use crate::helpers::TestDb;

/// One private-cluster test at a time.
static TURN: Mutex<()> = Mutex::const_new(());

/// A fresh schema on the private cluster, held for one test.
pub struct Private {
    /// The test's database.
    pub db: TestDb,
    pgdata: String,
    _turn: MutexGuard<'static, ()>,
}

impl Private {
    /// The private cluster, or `None` after a `SKIPPED` line.
    pub async fn take(test: &str) -> Option<Self> {
        let (Ok(url), Ok(pgdata)) = (
            std::env::var("TEST_PRIVATE_DATABASE_URL"),
            std::env::var("TEST_PRIVATE_PGDATA"),
        ) else {
            let postgres_run =
                std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"));
            // CI's PostgreSQL run must run these, not pass them by.
            assert!(
                !(postgres_run && std::env::var_os("CI").is_some()),
                "{test}: CI runs on PostgreSQL without the private cluster"
            );
            crate::helpers::skipped("needs a private PostgreSQL (source .ci/private-pg start)");
            return None;
        };
        let turn = TURN.lock().await;
        Some(Self {
            db: TestDb::postgres_at(url).await,
            pgdata,
            _turn: turn,
        })
    }

    /// Restarts the cluster ("fast": every connection is cut) and waits
    /// until it accepts connections again.
    pub async fn restart(&self) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin/pg_ctl"))
            .max()
            .expect("a pg_ctl");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        };
        let status = command
            .args(["-D", &self.pgdata, "-m", "fast", "-w", "restart"])
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .expect("run pg_ctl");
        assert!(status.success(), "pg_ctl restart failed");
    }
}

/// Whether this process runs as root, where PostgreSQL must be run by its own user.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

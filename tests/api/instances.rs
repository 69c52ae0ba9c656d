//! Real server processes, for tests of several instances on one database:
//! each is the built binary, started with its own port and stopped by signal.

use std::net::SocketAddr;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{Client, TestDb};

/// One `activity-feed serve` process.
pub struct Instance {
    child: Child,
    /// A client for it.
    pub client: Client,
}

impl std::ops::Deref for Instance {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Instance {
    /// Starts an instance on `db` (with `env` on top), on a free port, and
    /// returns once it listens.
    pub async fn start(db: &TestDb, env: &[(&str, &str)]) -> Instance {
        Self::start_on(db, "127.0.0.1:0", env).await
    }

    /// Starts an instance bound to `bind`.
    pub async fn start_on(db: &TestDb, bind: &str, env: &[(&str, &str)]) -> Instance {
        let mut command = Command::new(env!("CARGO_BIN_EXE_activity-feed"));
        command
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &db.config.url)
            .env("BIND", bind)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("RETENTION_INTERVAL", "0s")
            .env("DATABASE_POOL_SIZE", "4")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(schema) = &db.config.schema {
            command.env("DATABASE_SCHEMA", schema);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the server binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next_line()
                .await
                .expect("read the server's log")
                .expect("the server exited before it listened");
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "listening" {
                let addr: SocketAddr = entry["fields"]["addr"]
                    .as_str()
                    .expect("listening line has the address")
                    .parse()
                    .expect("an address");
                break addr;
            }
        };
        // Keep draining the log so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Instance {
            child,
            client: Client::new(addr),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Kills the process at once, as a crash would.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill the server");
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().await.expect("the server exits");
        assert!(exit.success(), "the server exited with {exit}");
    }
}

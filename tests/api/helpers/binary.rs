//! Running the real `tenantry` binary as a child process, as an operator would.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub fn tenantry() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    command.env_remove("RUST_LOG").kill_on_drop(true);
    command
}

/// Writes a config file into a fresh temporary directory.
pub fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A running `tenantry serve` whose log lines are collected.
pub struct Served {
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    pub log: Vec<String>,
}

impl Served {
    pub fn start(config: &Path, env: &[(String, String)]) -> Served {
        let mut command = tenantry();
        command
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("starting tenantry");
        let (tx, lines) = mpsc::unbounded_channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        Served {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` (the process prints it when the condition holds).
    pub async fn wait_for_line(&mut self, needle: &str) -> String {
        loop {
            let line = self.lines.recv().await.unwrap_or_else(|| {
                panic!(
                    "tenantry exited before logging {needle:?}; log so far:\n{}",
                    self.log.join("\n")
                )
            });
            self.log.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Sends SIGTERM, waits for the exit and returns every line logged.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = nix::unistd::Pid::from_raw(self.child.id().expect("still running") as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().await.unwrap();
        while let Some(line) = self.lines.recv().await {
            self.log.push(line);
        }
        (status, self.log)
    }
}

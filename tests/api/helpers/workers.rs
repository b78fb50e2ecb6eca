//! `tenantry serve --workers-only` as a child process that a test can SIGKILL, like a replica
//! whose node dies.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Child;

use super::binary;

pub struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    /// Starts the workers with `env` (no inherited `TENANTRY__…` from the test process).
    pub fn start(config: &Path, env: &[(String, String)]) -> WorkerProcess {
        let mut command = binary::tenantry();
        command
            .arg("--config")
            .arg(config)
            .args(["serve", "--workers-only"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        WorkerProcess {
            child: command.spawn().expect("starting tenantry --workers-only"),
        }
    }

    /// SIGKILL: no shutdown, no lease released; whatever it held must be taken over.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }
}

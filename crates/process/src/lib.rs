//! The one way Preflight runs a child process.
//!
//! A [`Group`] is a child started as the leader of a process group of its
//! own. Dropped before the child was seen to exit (a timeout, a
//! cancellation, Ctrl-C), it ends the whole group: SIGTERM, a grace of
//! [`KILL_GRACE`], then SIGKILL, off the async runtime. So a gate's test
//! runner, a script's workers or `pg_dump` never outlive the step that
//! started them. [`output`] runs a command to its end this way. Built on
//! `process-wrap` (the watchexec project's process-group wrapper).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let mut cmd = tokio::process::Command::new("pg_dump");
//! cmd.arg("--version");
//! let out = preflight_process::output(cmd).await?;
//! assert!(out.status.success());
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessGroup};
use tokio::io::AsyncReadExt as _;
use tokio::process::{ChildStderr, ChildStdout};

/// How long a process group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// SIGTERM's number, the same on every Unix Preflight runs on.
const SIGTERM: i32 = 15;

/// A child in a process group of its own; see the crate docs.
pub struct Group(Option<Box<dyn ChildWrapper>>);

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("pid", &self.0.as_ref().and_then(|c| c.id()))
            .finish()
    }
}

impl Group {
    /// Starts `cmd` as the leader of a new process group.
    pub fn spawn(cmd: tokio::process::Command) -> std::io::Result<Group> {
        // The program and how many arguments: arguments may carry values
        // a log should not (they never carry secrets, but keep logs lean).
        tracing::debug!(
            program = %cmd.as_std().get_program().to_string_lossy(),
            args = cmd.as_std().get_args().count(),
            "spawn"
        );
        let mut wrap = CommandWrap::from(cmd);
        wrap.wrap(ProcessGroup::leader());
        Ok(Group(Some(wrap.spawn()?)))
    }

    fn child(&mut self) -> &mut Box<dyn ChildWrapper> {
        self.0.as_mut().expect("the child is kept until it exits")
    }

    /// The child's stdout, once (when it was piped).
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child().stdout().take()
    }

    /// The child's stderr, once (when it was piped).
    pub fn stderr(&mut self) -> Option<ChildStderr> {
        self.child().stderr().take()
    }

    /// Waits for the leader to exit. Once it has, dropping the group leaves
    /// whatever it started alone: the command is done when it exits.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child().wait().await;
        if status.is_ok() {
            self.0 = None;
        }
        status
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let _ = child.signal(SIGTERM);
        let _ = std::thread::Builder::new()
            .name("preflight-kill-group".into())
            .spawn(move || {
                let until = std::time::Instant::now() + KILL_GRACE;
                while std::time::Instant::now() < until {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                // The leader may be gone while its group lives on: kill the group anyway.
                let _ = child.start_kill();
                let _ = child.try_wait();
            });
    }
}

/// How long the output pipes may stay open after the command exits: a
/// background child it left behind may hold them for ever, and the command
/// is done when it exits.
pub const DRAIN: Duration = Duration::from_millis(200);

/// Runs `cmd` in its own process group to its end and collects its output
/// (stdin is closed; stdout and stderr are captured until the command
/// exits, plus [`DRAIN`]). Dropping the future ends the group.
pub async fn output(mut cmd: tokio::process::Command) -> std::io::Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut group = Group::spawn(cmd)?;
    let out = collect(group.stdout());
    let err = collect(group.stderr());
    let status = group.wait().await?;
    Ok(Output {
        status,
        stdout: out.finish().await,
        stderr: err.finish().await,
    })
}

/// A pipe read to its end by a task of its own.
struct Collector {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

fn collect(stream: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) -> Collector {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = buf.clone();
    let task = tokio::spawn(async move {
        let Some(mut stream) = stream else { return };
        let mut chunk = [0u8; 8192];
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            if let Ok(mut b) = sink.lock() {
                b.extend_from_slice(&chunk[..n]);
            }
        }
    });
    Collector { buf, task }
}

impl Collector {
    /// What was read, waiting at most [`DRAIN`] for the rest.
    async fn finish(self) -> Vec<u8> {
        let abort = self.task.abort_handle();
        if tokio::time::timeout(DRAIN, self.task).await.is_err() {
            abort.abort();
        }
        self.buf.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    }

    #[tokio::test]
    async fn output_collects_both_streams() {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = output(cmd).await.unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[tokio::test]
    async fn a_background_child_holding_the_pipes_does_not_hold_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(format!(
            "echo done; sleep 1236 & echo $! > {}",
            pid_file.display()
        ));
        let out = tokio::time::timeout(Duration::from_secs(20), output(cmd))
            .await
            .expect("done when the command exits")
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"done\n");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }

    #[tokio::test]
    async fn a_dropped_run_ends_its_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(format!(
            "sleep 300 & echo $! > {}; wait",
            pid_file.display()
        ));
        let run = output(cmd);
        // Time out (drop the run) once the grandchild exists.
        let _ = tokio::time::timeout(Duration::from_millis(500), run).await;
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid.trim()) && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            !alive(pid.trim()),
            "the grandchild outlived its dropped run"
        );
    }
}

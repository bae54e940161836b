//! Command probes: a test suite, a linter, `python -m app.worker --check`.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessGroup};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::probe::{Check, Probe, ProbeContext};

/// How many of the last lines of stdout, and of stderr, are kept as evidence.
pub const OUTPUT_TAIL: usize = 20;

/// How long a command's process group gets between SIGTERM and SIGKILL
/// when its step times out or is cancelled.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// How long the output pipes may stay open after the command exits: a
/// background child it left behind may hold them for ever, and the command
/// is done when it exits.
const DRAIN: Duration = Duration::from_millis(200);

/// Runs a program and checks its exit code, in a process group of its own:
/// a timeout or cancellation ends the whole group (SIGTERM, a grace of
/// [`KILL_GRACE`], SIGKILL), and the output tail read so far is kept.
#[derive(Debug)]
pub struct CommandProbe {
    pub argv: Vec<String>,
    pub dir: Option<PathBuf>,
    /// Added to the inherited environment; values are treated as secrets.
    pub env: BTreeMap<String, String>,
    pub expect_exit: i32,
    /// The tail of the attempt that runs now, kept outside the attempt's
    /// future so that a timed-out attempt still has its evidence.
    tail: Arc<Mutex<Tail>>,
}

#[derive(Debug, Default)]
struct Tail {
    out: VecDeque<String>,
    err: VecDeque<String>,
}

impl Tail {
    fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.out.iter().cloned().collect();
        if !self.err.is_empty() {
            lines.push("--- stderr ---".to_string());
            lines.extend(self.err.iter().cloned());
        }
        lines
    }
}

// A copy runs on its own: it must not share the output tail of the original.
impl Clone for CommandProbe {
    fn clone(&self) -> CommandProbe {
        CommandProbe {
            argv: self.argv.clone(),
            dir: self.dir.clone(),
            env: self.env.clone(),
            expect_exit: self.expect_exit,
            tail: Arc::default(),
        }
    }
}

impl CommandProbe {
    pub fn new(argv: impl IntoIterator<Item = impl Into<String>>) -> CommandProbe {
        CommandProbe {
            argv: argv.into_iter().map(Into::into).collect(),
            dir: None,
            env: BTreeMap::new(),
            expect_exit: 0,
            tail: Arc::default(),
        }
    }
}

/// Ends a command's process group when dropped before the command was
/// seen to exit (a timeout or cancellation drops the attempt's future):
/// SIGTERM to the group, a grace period, then SIGKILL, off the async
/// runtime so a drop never blocks it.
struct GroupGuard(Option<Box<dyn ChildWrapper>>);

impl GroupGuard {
    fn child(&mut self) -> &mut Box<dyn ChildWrapper> {
        self.0
            .as_mut()
            .expect("the child is kept until the guard is disarmed")
    }

    /// The command exited by itself: leave what it started alone.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
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

/// SIGTERM's number, the same on every Unix Preflight runs on.
const SIGTERM: i32 = 15;

#[async_trait]
impl Probe for CommandProbe {
    fn kind(&self) -> &'static str {
        "command"
    }
    fn target(&self) -> String {
        let mut text = self.argv.join(" ");
        if let Some(dir) = &self.dir {
            text = format!("{text} (in {})", dir.display());
        }
        text
    }
    fn secrets(&self) -> Vec<String> {
        self.env.values().cloned().collect()
    }
    fn evidence_so_far(&self) -> Vec<String> {
        self.tail.lock().map(|t| t.lines()).unwrap_or_default()
    }
    async fn check(&self, _cx: &ProbeContext) -> Check {
        let Some((program, args)) = self.argv.split_first() else {
            return Check::error("the command is empty");
        };
        if let Ok(mut t) = self.tail.lock() {
            *t = Tail::default();
        }
        let mut wrap = CommandWrap::with_new(program, |cmd| {
            cmd.args(args)
                .envs(&self.env)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(dir) = &self.dir {
                cmd.current_dir(dir);
            }
        });
        wrap.wrap(ProcessGroup::leader());
        let child = match wrap.spawn() {
            Ok(c) => c,
            Err(e) => {
                let where_ = self
                    .dir
                    .as_ref()
                    .map(|d| format!(" in {}", d.display()))
                    .unwrap_or_default();
                return Check::error(format!("cannot start `{program}`{where_}: {e}"));
            }
        };
        let mut guard = GroupGuard(Some(child));
        let readers = [
            tokio::spawn(read_tail(
                guard.child().stdout().take(),
                self.tail.clone(),
                false,
            )),
            tokio::spawn(read_tail(
                guard.child().stderr().take(),
                self.tail.clone(),
                true,
            )),
        ];
        let status = guard.child().wait().await;
        guard.disarm();
        let status = match status {
            Ok(s) => s,
            Err(e) => return Check::error(format!("waiting for `{program}`: {e}")),
        };
        // Done when it exits: read what is left, but do not wait for a
        // pipe that a leftover background process keeps open.
        for reader in readers {
            let abort = reader.abort_handle();
            if tokio::time::timeout(DRAIN, reader).await.is_err() {
                abort.abort();
            }
        }
        let evidence = self.evidence_so_far();
        match status.code() {
            Some(code) if code == self.expect_exit => {
                Check::pass(format!("exit {code}")).with_evidence(evidence)
            }
            Some(code) => Check::fail(format!("exit {code}, expected {}", self.expect_exit))
                .with_evidence(evidence),
            None => Check::fail("killed by a signal").with_evidence(evidence),
        }
    }
}

/// Keeps the last [`OUTPUT_TAIL`] lines of one pipe in `tail`, as they come.
async fn read_tail(stream: Option<impl AsyncRead + Unpin>, tail: Arc<Mutex<Tail>>, stderr: bool) {
    let Some(stream) = stream else { return };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while matches!(reader.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        if let Ok(mut t) = tail.lock() {
            let lines = if stderr { &mut t.err } else { &mut t.out };
            if lines.len() == OUTPUT_TAIL {
                lines.pop_front();
            }
            lines.push_back(text);
        }
        line.clear();
    }
}

//! Command probes: a test suite, a linter, `python -m app.worker --check`.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use preflight_process::Group;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::probe::{Check, Probe, ProbeContext};

/// How many of the last lines of stdout, and of stderr, are kept as evidence.
pub const OUTPUT_TAIL: usize = 20;

/// Runs a program and checks its exit code, in a process group of its own
/// ([`preflight_process::Group`]): a timeout or cancellation ends the whole
/// group, and the output tail read so far is kept.
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
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        // A timed-out or cancelled attempt drops the group: it ends, children and all.
        let mut group = match Group::spawn(cmd) {
            Ok(g) => g,
            Err(e) => {
                let where_ = self
                    .dir
                    .as_ref()
                    .map(|d| format!(" in {}", d.display()))
                    .unwrap_or_default();
                return Check::error(format!("cannot start `{program}`{where_}: {e}"));
            }
        };
        let readers = [
            tokio::spawn(read_tail(group.stdout(), self.tail.clone(), false)),
            tokio::spawn(read_tail(group.stderr(), self.tail.clone(), true)),
        ];
        let status = group.wait().await;
        let status = match status {
            Ok(s) => s,
            Err(e) => return Check::error(format!("waiting for `{program}`: {e}")),
        };
        // Done when it exits: read what is left, but do not wait for a
        // pipe that a leftover background process keeps open.
        for reader in readers {
            let abort = reader.abort_handle();
            if tokio::time::timeout(preflight_process::DRAIN, reader)
                .await
                .is_err()
            {
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

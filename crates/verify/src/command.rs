//! Command probes: a test suite, a linter, `python -m app.worker --check`.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::probe::{Check, Probe, ProbeContext};

/// How many of the last output lines are kept as evidence.
pub const OUTPUT_TAIL: usize = 20;

/// Runs a program and checks its exit code. The runner's timeout kills it.
#[derive(Debug, Clone)]
pub struct CommandProbe {
    pub argv: Vec<String>,
    pub dir: Option<PathBuf>,
    /// Added to the inherited environment; values are treated as secrets.
    pub env: BTreeMap<String, String>,
    pub expect_exit: i32,
}

impl CommandProbe {
    pub fn new(argv: impl IntoIterator<Item = impl Into<String>>) -> CommandProbe {
        CommandProbe {
            argv: argv.into_iter().map(Into::into).collect(),
            dir: None,
            env: BTreeMap::new(),
            expect_exit: 0,
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
    async fn check(&self, _cx: &ProbeContext) -> Check {
        let Some((program, args)) = self.argv.split_first() else {
            return Check::error("the command is empty");
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A timed-out or cancelled probe drops this future; the child must go too.
            .kill_on_drop(true);
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        let mut child = match cmd.spawn() {
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
        let tail = tail_lines(child.stdout.take(), child.stderr.take()).await;
        let status = match child.wait().await {
            Ok(s) => s,
            Err(e) => return Check::error(format!("waiting for `{program}`: {e}")),
        };
        let evidence = tail.into_iter();
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

/// The last [`OUTPUT_TAIL`] lines of stdout and stderr, in the order they
/// arrived, without holding the whole output.
async fn tail_lines(
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
) -> VecDeque<String> {
    let mut tail = VecDeque::with_capacity(OUTPUT_TAIL);
    let mut push = |line: Vec<u8>| {
        if tail.len() == OUTPUT_TAIL {
            tail.pop_front();
        }
        let text = String::from_utf8_lossy(&line);
        tail.push_back(text.trim_end_matches(['\n', '\r']).to_string());
    };
    let mut out = stdout.map(BufReader::new);
    let mut err = stderr.map(BufReader::new);
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
    while out.is_some() || err.is_some() {
        tokio::select! {
            n = async { out.as_mut().expect("guarded").read_until(b'\n', &mut out_buf).await }, if out.is_some() => {
                if matches!(n, Ok(0) | Err(_)) { out = None; }
                if !out_buf.is_empty() { push(std::mem::take(&mut out_buf)); }
            }
            n = async { err.as_mut().expect("guarded").read_until(b'\n', &mut err_buf).await }, if err.is_some() => {
                if matches!(n, Ok(0) | Err(_)) { err = None; }
                if !err_buf.is_empty() { push(std::mem::take(&mut err_buf)); }
            }
        }
    }
    tail
}

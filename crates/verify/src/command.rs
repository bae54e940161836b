//! Command probes: a test suite, a linter, `python -m app.worker --check`.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::probe::{Check, Probe, ProbeContext};

/// How many of the last lines of stdout, and of stderr, are kept as evidence.
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

/// The last [`OUTPUT_TAIL`] lines of stdout, then those of stderr, without
/// holding the whole output. The two pipes are kept apart because their
/// relative order is lost in the pipes anyway, and stderr usually holds the
/// line that explains a failure.
async fn tail_lines(
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
) -> Vec<String> {
    let (out, err) = tokio::join!(tail_of(stdout), tail_of(stderr));
    let mut lines: Vec<String> = out.into();
    if !err.is_empty() {
        lines.push("--- stderr ---".to_string());
        lines.extend(err);
    }
    lines
}

async fn tail_of(stream: Option<impl AsyncRead + Unpin>) -> VecDeque<String> {
    let mut tail = VecDeque::with_capacity(OUTPUT_TAIL);
    let Some(stream) = stream else { return tail };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while matches!(reader.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
        if tail.len() == OUTPUT_TAIL {
            tail.pop_front();
        }
        let text = String::from_utf8_lossy(&line);
        tail.push_back(text.trim_end_matches(['\n', '\r']).to_string());
        line.clear();
    }
    tail
}

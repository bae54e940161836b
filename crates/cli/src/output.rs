//! Where output goes and how it looks: terminal colours, quiet and verbose, JSON.

use std::io::{self, IsTerminal, Write};

use crate::args::{Format, GlobalArgs};

/// The streams a command writes to, and the user's presentation choices.
///
/// With `--format json`, stdout carries exactly one envelope (written by
/// [`crate::run_with`] when the command ends): `out` then collects the
/// command's human text, [`Output::print_json`] records its result, and
/// [`Output::stream`] reaches stdout for JSON lines written as they happen.
pub struct Output<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub err: &'a mut (dyn Write + Send),
    pub format: Format,
    pub color: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// JSON mode: the real stdout, for lines streamed before the envelope.
    stream: Option<&'a mut (dyn Write + Send)>,
    /// JSON mode: what `print_json` recorded.
    pub(crate) results: Vec<serde_json::Value>,
    /// JSON mode: lines were streamed, so the envelope goes on one line.
    pub(crate) streamed: bool,
}

impl<'a> Output<'a> {
    pub fn new(
        global: &GlobalArgs,
        out: &'a mut (dyn Write + Send),
        err: &'a mut (dyn Write + Send),
        terminal: bool,
        stream: Option<&'a mut (dyn Write + Send)>,
    ) -> Self {
        Output {
            out,
            err,
            stream,
            results: Vec::new(),
            streamed: false,
            format: global.format,
            color: global.color.resolve(terminal) && global.format == Format::Human,
            quiet: global.quiet,
            verbose: global.verbose > 0,
        }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// The command's result: the envelope's `result` in JSON mode.
    pub fn print_json(&mut self, value: &impl serde::Serialize) -> io::Result<()> {
        let value = serde_json::to_value(value).map_err(io::Error::other)?;
        self.results.push(value);
        Ok(())
    }

    /// Where lines written as they happen go: stdout before the envelope in
    /// JSON mode (JSON lines), `out` otherwise.
    pub fn live(&mut self) -> &mut (dyn Write + Send) {
        match self.stream.as_deref_mut() {
            Some(stream) => {
                self.streamed = true;
                stream
            }
            None => &mut *self.out,
        }
    }

    /// Writes one JSON line to stdout now (progress events), before the
    /// envelope; outside JSON mode, to `out`.
    pub fn stream_json_line(&mut self, value: &impl serde::Serialize) -> io::Result<()> {
        let line = serde_json::to_string(value).map_err(io::Error::other)?;
        self.streamed = true;
        match self.stream.as_deref_mut() {
            Some(stream) => writeln!(stream, "{line}"),
            None => writeln!(self.out, "{line}"),
        }
    }

    /// Colours `error`/`warning` headers and `help` lines of rendered diagnostics.
    pub fn paint_diagnostics(&self, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        text.lines()
            .map(|line| {
                if let Some(rest) = line.strip_prefix("error") {
                    format!("\x1b[1;31merror\x1b[0m\x1b[1m{rest}\x1b[0m")
                } else if let Some(rest) = line.strip_prefix("warning") {
                    format!("\x1b[1;33mwarning\x1b[0m\x1b[1m{rest}\x1b[0m")
                } else if line.trim_start().starts_with('|')
                    || line.contains(" | ")
                    || line.trim_start().starts_with("-->")
                {
                    line.replace('^', "\x1b[1;31m^\x1b[0m")
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + if text.ends_with('\n') { "\n" } else { "" }
    }

    /// `ok` in green on a terminal.
    pub fn ok(&self) -> &'static str {
        if self.color {
            "\x1b[32mok\x1b[0m"
        } else {
            "ok"
        }
    }
}

impl std::fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("format", &self.format)
            .field("color", &self.color)
            .field("quiet", &self.quiet)
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

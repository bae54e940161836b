//! State beside the document: an append-only, hash-chained log of every
//! change, from which the current state is computed.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use preflight_redact::Redactor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// One piece of evidence attached to an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Evidence {
    Text(String),
    Link(String),
    /// The last lines of a command's output.
    Output(String),
    /// A stored artifact, e.g. `gs://bucket/releases/x/pg_dump.dump`.
    Artifact(String),
}

impl Evidence {
    /// Text that is a URL becomes a link, `gs://`/`file://` an artifact.
    pub fn from_text(text: &str) -> Evidence {
        let t = text.trim();
        if t.starts_with("https://") || t.starts_with("http://") {
            Evidence::Link(t.to_string())
        } else if t.starts_with("gs://") || t.starts_with("file://") || t.starts_with("artifact:") {
            Evidence::Artifact(t.to_string())
        } else {
            Evidence::Text(t.to_string())
        }
    }

    /// The last `lines` lines of some output.
    pub fn output_tail(output: &str, lines: usize) -> Evidence {
        let all: Vec<&str> = output.lines().collect();
        Evidence::Output(all[all.len().saturating_sub(lines)..].join("\n"))
    }

    /// One line, for a table cell or a list item.
    pub fn summary(&self) -> String {
        match self {
            Evidence::Text(t) | Evidence::Link(t) | Evidence::Artifact(t) => t.replace('\n', " "),
            Evidence::Output(o) => {
                let last = o.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                format!("output: {}", last.trim())
            }
        }
    }
}

/// What one log entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Check {
        item: String,
        evidence: Vec<Evidence>,
    },
    Uncheck {
        item: String,
        reason: String,
    },
    /// Evidence added without changing the box (a bound step that failed).
    Evidence {
        item: String,
        evidence: Vec<Evidence>,
    },
    Sign {
        section: String,
    },
    Approve,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: Timestamp,
    pub by: String,
    #[serde(flatten)]
    pub event: Event,
    /// SHA-256 of the previous line, so an edited history is detected.
    pub prev: String,
    /// HMAC-SHA256 of the entry without this field, under the team's
    /// signing key (when one is set): a rewritten chain with recomputed
    /// hashes cannot be signed without the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// The key that signs and checks a state log (`PREFLIGHT_CHECKLIST_KEY`).
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// A key from its bytes (at least 16).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<SigningKey> {
        let bytes = bytes.into();
        (bytes.len() >= 16).then_some(SigningKey(bytes))
    }

    /// Adds the key to `redactor`, so a run that holds it never shows it.
    pub fn add_to(&self, redactor: &mut Redactor) {
        if let Ok(text) = std::str::from_utf8(&self.0) {
            redactor.add(text);
        }
    }

    fn mac(&self, text: &str) -> String {
        use hmac::Mac as _;
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature of `entry`: over its line without `mac`.
fn signature(key: &SigningKey, entry: &Entry) -> String {
    let unsigned = Entry {
        mac: None,
        ..entry.clone()
    };
    key.mac(&serde_json::to_string(&unsigned).expect("entries serialize"))
}

/// The log file and its entries.
#[derive(Debug, Clone)]
pub struct StateLog {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    last_hash: String,
    /// Removes secrets from evidence before it is written: credential
    /// patterns always, and the values of [`StateLog::redact_with`].
    redactor: Redactor,
    /// Signs appended entries and checks every entry when set.
    key: Option<SigningKey>,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hash(line: &str) -> String {
    let digest = Sha256::digest(line.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a log stood at a moment: its number of events and the SHA-256 of
/// its last line. Kept apart from the log (in the release log, in the
/// archived document), it shows a log that lost its last lines or was
/// rewritten with recomputed hashes since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub events: usize,
    pub head: String,
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} event(s), head {}", self.events, self.head)
    }
}

/// The entries of a log's text and the hash of its last line, the chain checked.
fn parse(path: &Path, text: &str, key: Option<&SigningKey>) -> Result<(Vec<Entry>, String), Error> {
    let mut entries = Vec::new();
    let mut last_hash = GENESIS.to_string();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(line).map_err(|source| Error::CorruptState {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        if entry.prev != last_hash || entry.seq != entries.len() as u64 + 1 {
            return Err(Error::TamperedState {
                path: path.to_path_buf(),
                line: i + 1,
            });
        }
        if let Some(key) = key
            && entry.mac.as_deref() != Some(signature(key, &entry).as_str())
        {
            return Err(Error::UnsignedState {
                path: path.to_path_buf(),
                line: i + 1,
            });
        }
        last_hash = hash(line);
        entries.push(entry);
    }
    Ok((entries, last_hash))
}

/// Names, reasons and sections are one line: a newline in them would let a
/// value write its own headings and rows into the rendered document.
fn single_line(what: &'static str, text: &str) -> Result<(), Error> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(Error::NotOneLine {
            what,
            found: c.escape_debug().to_string(),
        }),
        None => Ok(()),
    }
}

impl StateLog {
    /// `production_build_checklist.md` → `production_build_checklist.state.jsonl` beside it.
    pub fn default_path(document: &Path) -> PathBuf {
        let stem = document
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        document.with_file_name(format!("{stem}.state.jsonl"))
    }

    /// Reads the log, checking the hash chain; a missing file is an empty log.
    pub fn load(path: &Path) -> Result<StateLog, Error> {
        StateLog::load_keyed(path, None)
    }

    /// [`StateLog::load`], and with `key` every entry must carry its
    /// signature; entries appended from now on are signed.
    pub fn load_keyed(path: &Path, key: Option<SigningKey>) -> Result<StateLog, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(Error::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let (entries, last_hash) = parse(path, &text, key.as_ref())?;
        Ok(StateLog {
            path: path.to_path_buf(),
            entries,
            last_hash,
            redactor: Redactor::new(),
            key,
        })
    }

    /// Where the log stands now.
    pub fn anchor(&self) -> Anchor {
        Anchor {
            events: self.entries.len(),
            head: self.last_hash.clone(),
        }
    }

    /// Whether this log continues the log `anchor` was taken from: it has at
    /// least that many events, and its line at that position hashes to the
    /// anchor's head. Appending keeps a log valid; cutting or rewriting does not.
    pub fn verify(&self, anchor: &Anchor) -> Result<(), Error> {
        let mismatch = |found: String| Error::AnchorMismatch {
            path: self.path.clone(),
            anchor: anchor.to_string(),
            found,
        };
        if self.entries.len() < anchor.events {
            return Err(mismatch(format!(
                "only {} event(s): the last {} were removed",
                self.entries.len(),
                anchor.events - self.entries.len()
            )));
        }
        let head = match anchor.events {
            0 => GENESIS.to_string(),
            n if n == self.entries.len() => self.last_hash.clone(),
            n => self.entries[n].prev.clone(),
        };
        if head != anchor.head {
            return Err(mismatch(format!(
                "event {} hashes to {head}: the history was rewritten",
                anchor.events
            )));
        }
        Ok(())
    }

    /// Also removes `redactor`'s known secret values from evidence (a
    /// release passes its run's redaction set).
    pub fn redact_with(&mut self, redactor: &Redactor) {
        self.redactor.extend(redactor);
    }

    /// Appends one entry to the file (opened in append mode; earlier bytes are never rewritten).
    pub fn append(&mut self, by: &str, at: Timestamp, event: Event) -> Result<&Entry, Error> {
        let by = by.trim();
        if by.is_empty() {
            return Err(Error::NoSigner);
        }
        single_line("`--by`", by)?;
        match &event {
            Event::Uncheck { reason: text, .. } => single_line("the reason", text)?,
            Event::Sign { section: text } => single_line("the section", text)?,
            // Evidence may hold several lines (command output); it is made
            // one line where it is rendered.
            Event::Check { .. } | Event::Evidence { .. } | Event::Approve => {}
        }
        // The log is append-only: a secret written to it can never be taken back.
        let mut event = event;
        if let Event::Check { evidence, .. } | Event::Evidence { evidence, .. } = &mut event {
            for e in evidence {
                let (Evidence::Text(t)
                | Evidence::Link(t)
                | Evidence::Output(t)
                | Evidence::Artifact(t)) = e;
                *t = self.redactor.redact(t);
            }
        }
        let write_err = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(write_err)?;
        // One writer at a time, and each writer chains onto what is on disk
        // now (another process may have appended since this log was read).
        file.lock().map_err(write_err)?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|source| Error::Read {
                path: self.path.clone(),
                source,
            })?;
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(Error::UnterminatedState {
                path: self.path.clone(),
                line: text.lines().count(),
            });
        }
        let (entries, last_hash) = parse(&self.path, &text, self.key.as_ref())?;
        self.entries = entries;
        self.last_hash = last_hash;
        let mut entry = Entry {
            seq: self.entries.len() as u64 + 1,
            at,
            by: by.to_string(),
            event,
            prev: self.last_hash.clone(),
            mac: None,
        };
        if let Some(key) = &self.key {
            entry.mac = Some(signature(key, &entry));
        }
        let line = serde_json::to_string(&entry).expect("entries serialize");
        file.write_all(format!("{line}\n").as_bytes())
            .map_err(write_err)?;
        file.sync_data().map_err(write_err)?;
        drop(file); // releases the lock
        self.last_hash = hash(&line);
        self.entries.push(entry);
        Ok(self.entries.last().expect("just pushed"))
    }

    /// The state now: the log replayed from the start.
    pub fn state(&self) -> State {
        let mut state = State::default();
        for e in &self.entries {
            match &e.event {
                Event::Check { item, evidence } => {
                    let s = state.items.entry(item.clone()).or_default();
                    s.checked = Some(true);
                    s.by = Some(e.by.clone());
                    s.at = Some(e.at);
                    s.evidence.extend(evidence.iter().cloned());
                }
                Event::Uncheck { item, reason } => {
                    let s = state.items.entry(item.clone()).or_default();
                    s.checked = Some(false);
                    s.by = Some(e.by.clone());
                    s.at = Some(e.at);
                    s.reason = Some(reason.clone());
                }
                Event::Evidence { item, evidence } => {
                    state
                        .items
                        .entry(item.clone())
                        .or_default()
                        .evidence
                        .extend(evidence.iter().cloned());
                }
                Event::Sign { section } => {
                    state.signoffs.insert(
                        section.clone(),
                        SignOff {
                            by: e.by.clone(),
                            at: e.at,
                        },
                    );
                }
                Event::Approve => {
                    state.approval = Some(SignOff {
                        by: e.by.clone(),
                        at: e.at,
                    })
                }
            }
        }
        state
    }
}

/// One item's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ItemState {
    /// `None`: never changed, so the document's own box counts.
    pub checked: Option<bool>,
    pub by: Option<String>,
    pub at: Option<Timestamp>,
    pub evidence: Vec<Evidence>,
    pub reason: Option<String>,
}

/// Who signed and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignOff {
    pub by: String,
    pub at: Timestamp,
}

/// The current state of a checklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct State {
    pub items: BTreeMap<String, ItemState>,
    /// Section id → sign-off.
    pub signoffs: BTreeMap<String, SignOff>,
    pub approval: Option<SignOff>,
}

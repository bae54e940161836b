use std::io;
use std::path::PathBuf;

/// A problem at a line of a checklist document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

/// Everything that can go wrong with checklists.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} has no checklist: no table with a check column and no task list (`- [ ]`)", path.display())]
    NoChecklist { path: PathBuf },
    #[error("{}: {}", path.display(), problems.iter().map(|p| format!("line {}: {}", p.line, p.message)).collect::<Vec<_>>().join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("{}: line {line} is not a valid state entry", path.display())]
    CorruptState {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: line {line} does not follow the line before it (the log was edited; history is append-only)", path.display())]
    TamperedState { path: PathBuf, line: usize },
    #[error("{}: line {line} is not signed with the checklist key (PREFLIGHT_CHECKLIST_KEY): it was written without the key, or forged", path.display())]
    UnsignedState { path: PathBuf, line: usize },
    #[error("no item `{id}` in the checklist")]
    UnknownItem { id: String },
    #[error("no section `{id}` in the checklist")]
    UnknownSection { id: String },
    #[error("section `{section}` cannot be signed off: {} item(s) open ({})", open.len(), open.join(", "))]
    SectionOpen { section: String, open: Vec<String> },
    #[error("cannot approve: {}", reasons.join("; "))]
    NotReady { reasons: Vec<String> },
    #[error("`{text}` is not a section range (expected `all`, `N`, `N-M` or a comma list)")]
    BadRequirement { text: String },
    #[error("the checklist has no section {}", missing.join(", "))]
    MissingSections { missing: Vec<String> },
    #[error("{} already exists; archives are never overwritten", path.display())]
    ArchiveExists { path: PathBuf },
    #[error("`{release}` does not start with a YYYY-MM-DD date")]
    BadRelease { release: String },
    #[error("a name is required for `--by`")]
    NoSigner,
    #[error("{} does not continue the log it was anchored at ({anchor}): {found}", path.display())]
    AnchorMismatch {
        path: PathBuf,
        anchor: String,
        found: String,
    },
    #[error("{what} must be one line of text; found the control character `{found}`")]
    NotOneLine { what: &'static str, found: String },
    #[error("{}: line {line} has no final newline, so it may be a partial write; nothing was appended (check the last entry, then end the file with a newline or remove the partial line)", path.display())]
    UnterminatedState { path: PathBuf, line: usize },
}

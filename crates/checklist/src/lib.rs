//! Runbook checklists as data: parse a Markdown runbook into sections and
//! items, keep state, evidence, sign-offs and an append-only audit log
//! beside the document, evaluate gates, and render the filled document
//! changing only the bytes of the boxes and notes.
//!
//! Main types:
//! - [`Checklist`]: the parsed document; items are GFM table rows with a
//!   check column (`| [ ] | Owner | Action | Notes |`) and task-list items
//!   (`- [ ] …`), with ids such as `3.2` that survive edits elsewhere.
//! - [`StateLog`] and [`State`]: the hash-chained JSONL log beside the
//!   document and the state replayed from it.
//! - [`Run`]: a checklist with its log; `check`, `uncheck`, `sign`, `approve`.
//! - [`GateResult`] from [`gate`], and [`render`]/[`archive`].
//!
//! This crate needs no async runtime, database or cloud SDK.
//!
//! ```
//! use preflight_checklist::{Checklist, Requirement, State, gate, render};
//!
//! let doc = "## 1. Freeze\n\n| Check | Owner | Action | Notes |\n| --- | --- | --- | --- |\n| [ ] | Lead | Merge all PRs | |\n";
//! let checklist = Checklist::parse("c.md".as_ref(), doc).unwrap();
//! assert_eq!(checklist.items[0].id, "1.1");
//! let result = gate(&checklist, &State::default(), &Requirement::All).unwrap();
//! assert!(!result.passed);
//! assert_eq!(result.open[0].owner.as_deref(), Some("Lead"));
//! assert_eq!(render(&checklist, &State::default()), doc);
//! ```

mod binding;
mod error;
mod gate;
mod model;
mod ops;
mod render;
mod state;

pub use binding::{Applied, Binding, StepOutcome, StepRef, apply_step, check_bindings};
pub use error::{Error, Problem};
pub use gate::{
    GateResult, ItemProgress, OpenItem, Progress, Requirement, SectionProgress, gate, is_checked,
    progress, ticked_by_hand,
};
pub use model::{Checklist, Item, ItemKind, Section};
pub use ops::Run;
pub use render::{archive, archived_anchor, render};
pub use state::{Anchor, Entry, Event, Evidence, ItemState, SignOff, SigningKey, State, StateLog};

//! Gates and progress: which items are still open, and who owns them.

use jiff::Timestamp;
use serde::Serialize;

use crate::error::Error;
use crate::model::{Checklist, Item};
use crate::state::{Evidence, State};

/// Which sections must be complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    All,
    /// Section numbers whose first component is listed, e.g. 1–5.
    Sections(Vec<u32>),
}

impl Requirement {
    /// `all`, `3`, `1-5`, `1,2,5`.
    pub fn parse(text: &str) -> Result<Requirement, Error> {
        let bad = || Error::BadRequirement {
            text: text.to_string(),
        };
        if text.trim().eq_ignore_ascii_case("all") {
            return Ok(Requirement::All);
        }
        let mut numbers = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (u32, u32) = (
                        a.trim().parse().map_err(|_| bad())?,
                        b.trim().parse().map_err(|_| bad())?,
                    );
                    if a > b {
                        return Err(bad());
                    }
                    numbers.extend(a..=b);
                }
                None => numbers.push(part.parse().map_err(|_| bad())?),
            }
        }
        Ok(Requirement::Sections(numbers))
    }
}

/// An item that keeps a gate closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenItem {
    pub id: String,
    pub section: String,
    pub line: usize,
    pub owner: Option<String>,
    pub action: String,
    /// Ticked in the document, but never checked through Preflight.
    pub ticked_by_hand: bool,
}

/// The result of a gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateResult {
    pub passed: bool,
    pub checked: usize,
    pub total: usize,
    pub open: Vec<OpenItem>,
}

/// Whether an item is checked: only a recorded check counts. A box ticked
/// by hand in the document has no who, when or evidence behind it.
pub fn is_checked(item: &Item, state: &State) -> bool {
    recorded(item, state).unwrap_or(false)
}

/// A box ticked in the document that no recorded check backs: reported, and
/// open for every gate.
pub fn ticked_by_hand(item: &Item, state: &State) -> bool {
    item.checked_in_source && recorded(item, state).is_none()
}

fn recorded(item: &Item, state: &State) -> Option<bool> {
    state.items.get(&item.id).and_then(|s| s.checked)
}

/// Evaluates a gate. Requiring a section the document does not have is an
/// error, not a pass: an unknown state never opens a gate.
pub fn gate(
    checklist: &Checklist,
    state: &State,
    requirement: &Requirement,
) -> Result<GateResult, Error> {
    let in_scope: Vec<&Item> = match requirement {
        Requirement::All => checklist.items.iter().collect(),
        Requirement::Sections(numbers) => {
            let top = |id: &str| id.split('.').next().and_then(|n| n.parse::<u32>().ok());
            let missing: Vec<String> = numbers
                .iter()
                .filter(|n| {
                    !checklist
                        .sections
                        .iter()
                        .any(|s| s.number.as_deref().and_then(top) == Some(**n))
                })
                .map(ToString::to_string)
                .collect();
            if !missing.is_empty() {
                return Err(Error::MissingSections { missing });
            }
            checklist
                .items
                .iter()
                .filter(|i| top(&i.section).is_some_and(|n| numbers.contains(&n)))
                .collect()
        }
    };
    let open: Vec<OpenItem> = in_scope
        .iter()
        .filter(|i| !is_checked(i, state))
        .map(|i| OpenItem {
            id: i.id.clone(),
            section: i.section.clone(),
            line: i.line,
            owner: i.owner.clone(),
            action: i.action.clone(),
            ticked_by_hand: ticked_by_hand(i, state),
        })
        .collect();
    Ok(GateResult {
        passed: open.is_empty(),
        checked: in_scope.len() - open.len(),
        total: in_scope.len(),
        open,
    })
}

/// Progress of one section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionProgress {
    pub id: String,
    pub title: String,
    pub checked: usize,
    pub total: usize,
    pub signed_by: Option<String>,
    pub items: Vec<ItemProgress>,
}

/// One item as a script needs it: its id to check it, who owns it, and
/// what the state log says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemProgress {
    pub id: String,
    pub line: usize,
    pub owner: Option<String>,
    pub action: String,
    /// Checked by a recorded entry (a box ticked by hand alone is not).
    pub checked: bool,
    /// Ticked in the document with no recorded check behind it.
    pub ticked_by_hand: bool,
    pub by: Option<String>,
    pub at: Option<Timestamp>,
    pub evidence: Vec<Evidence>,
    /// Why it was last unchecked.
    pub reason: Option<String>,
}

/// Progress of the whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub title: Option<String>,
    pub sections: Vec<SectionProgress>,
    pub checked: usize,
    pub total: usize,
    pub approved_by: Option<String>,
}

pub fn progress(checklist: &Checklist, state: &State) -> Progress {
    let mut sections = Vec::new();
    let mut ids: Vec<String> = checklist.sections.iter().map(|s| s.id.clone()).collect();
    if checklist.items.iter().any(|i| i.section == "doc") {
        ids.insert(0, "doc".into());
    }
    for id in ids {
        let items: Vec<&Item> = checklist.items_in(&id).collect();
        if items.is_empty() {
            continue;
        }
        let title = checklist.section(&id).map_or_else(
            || "(before the first section)".to_string(),
            |s| s.title.clone(),
        );
        let item_progress = items
            .iter()
            .map(|item| {
                let recorded = state.items.get(&item.id).cloned().unwrap_or_default();
                ItemProgress {
                    id: item.id.clone(),
                    line: item.line,
                    owner: item.owner.clone(),
                    action: item.action.clone(),
                    checked: is_checked(item, state),
                    ticked_by_hand: ticked_by_hand(item, state),
                    by: recorded.by,
                    at: recorded.at,
                    evidence: recorded.evidence,
                    reason: recorded.reason,
                }
            })
            .collect();
        sections.push(SectionProgress {
            items: item_progress,
            checked: items.iter().filter(|i| is_checked(i, state)).count(),
            total: items.len(),
            signed_by: state.signoffs.get(&id).map(|s| s.by.clone()),
            id,
            title,
        });
    }
    Progress {
        title: checklist.title.clone(),
        checked: sections.iter().map(|s| s.checked).sum(),
        total: sections.iter().map(|s| s.total).sum(),
        sections,
        approved_by: state.approval.as_ref().map(|a| a.by.clone()),
    }
}
